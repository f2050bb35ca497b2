import { describe, expect, it } from 'vitest';
import { rowVersion, type ChangeEvent, type Row, type TruncateEvent } from '../../consumers/core/change-event.js';
import { resolveCatalog } from '../../consumers/elasticsearch/index-catalog.js';
import { planWrites, type DocumentWrite, type Step } from '../../consumers/elasticsearch/write-plan.js';
import { changeEvent, create, remove, tombstone, update } from '../helpers/events.js';

const indexes = resolveCatalog('t-');

function writesOf(step: Step | undefined): DocumentWrite[] {
  if (step?.kind !== 'writes') throw new Error(`expected writes, got ${JSON.stringify(step)}`);
  return step.writes;
}

const product = (id: number, extra: Row = {}): Row => ({ id, sku: `SKU-${id}`, name: `Mouse ${id}`, description: 'long text', price: '19.99', ...extra });

describe('planWrites', () => {
  it('indexes creates, snapshot reads and updates at their version (streamed 2^62 + LSN, snapshot LSN) in the prefixed versioned index', () => {
    const steps = planWrites(
      [
        create('products', { id: 1 }, product(1), 100),
        changeEvent({ table: 'orders', op: 'read', key: { id: 2 }, after: { id: 2, total_amount: '25000.00' }, lsn: '9007199254740993' }),
        update('customers', { id: 3 }, { id: 3, email: 'a@x.io' }, { id: 3, email: 'b@x.io' }, 300),
      ],
      indexes,
    );
    expect(steps.map(writesOf).map(([w]) => [w!.index, w!.id, w!.version, w!.document])).toEqual([
      ['t-products_v1', '1', '4611686018427388004', product(1)],
      ['t-orders_v1', '2', '9007199254740993', { id: 2, total_amount: '25000.00' }],
      ['t-customers_v1', '3', '4611686018427388204', { id: 3, email: 'b@x.io' }],
    ]);
  });

  it('a delete becomes a soft-delete marker at the delete LSN; a tombstone is ok with no write', () => {
    const steps = planWrites([remove('orders', { id: 10 }, { id: 10 }, 700), tombstone('orders', { id: 10 })], indexes);
    const [marker] = writesOf(steps[0]);
    expect(marker).toMatchObject({ index: 't-orders_v1', id: '10', version: '4611686018427388604', missing: [] });
    expect(marker!.document).toMatchObject({ _cdc: { deleted: true, lsn: '700' } });
    expect(steps[1]).toEqual({ kind: 'result', owner: 1, result: { status: 'ok' } });
  });

  it('a primary-key change reported as one update marks the old id deleted and indexes the new one', () => {
    const steps = planWrites([update('orders', { id: 21 }, { id: 20, status: 'paid' }, { id: 21, status: 'paid' }, 500)], indexes);
    const writes = writesOf(steps[0]);
    expect(writes.map((w) => [w.id, w.version, '_cdc' in w.document])).toEqual([
      ['20', '4611686018427388404', true],
      ['21', '4611686018427388404', false],
    ]);
  });

  it('an update with the same key marks nothing deleted', () => {
    const steps = planWrites([update('orders', { id: 5 }, { id: 5, status: 'paid' }, { id: 5, status: 'shipped' }, 500)], indexes);
    expect(writesOf(steps[0]).map((w) => w.id)).toEqual(['5']);
  });

  describe('unchanged-TOAST columns', () => {
    const { description: _d, ...withoutDescription } = product(8);

    it('come from `before` when the event has them', () => {
      const event = update('products', { id: 8 }, product(8, { description: 'old but unchanged' }), { ...withoutDescription, price: '15.00' }, 1010, ['description']);
      const [write] = writesOf(planWrites([event], indexes)[0]);
      expect(write!.document).toEqual({ ...withoutDescription, price: '15.00', description: 'old but unchanged' });
      expect(write!.missing).toEqual([]);
    });

    it('come from the newest earlier write of the same row in the batch', () => {
      const steps = planWrites(
        [
          create('products', { id: 8 }, product(8, { description: 'v1' }), 1000),
          update('products', { id: 8 }, product(8, { description: 'v1' }), product(8, { description: 'v2' }), 1005),
          update('products', { id: 8 }, withoutDescription, { ...withoutDescription, price: '15.00' }, 1010, ['description']),
        ],
        indexes,
      );
      const [write] = writesOf(steps[2]);
      expect(write!.document).toMatchObject({ price: '15.00', description: 'v2' });
      expect(write!.missing).toEqual([]);
    });

    it('ignore an earlier write of the batch that is older than what the batch already saw', () => {
      const steps = planWrites(
        [
          update('products', { id: 8 }, product(8), product(8, { description: 'newest' }), 1005),
          update('products', { id: 8 }, product(8), product(8, { description: 'stale' }), 1001),
          update('products', { id: 8 }, withoutDescription, withoutDescription, 1010, ['description']),
        ],
        indexes,
      );
      expect(writesOf(steps[2])[0]!.document).toMatchObject({ description: 'newest' });
    });

    it('are listed as missing (to be read from the index) when neither the event nor the batch has them', () => {
      const steps = planWrites(
        [
          update('products', { id: 9 }, product(9), product(9, { price: '1.00' }), 1000),
          update('products', { id: 8 }, withoutDescription, withoutDescription, 1010, ['description']),
          update('products', { id: 8 }, withoutDescription, { ...withoutDescription, price: '2.00' }, 1020, ['description']),
        ],
        indexes,
      );
      expect(writesOf(steps[1])[0]!.missing).toEqual(['description']);
      expect(writesOf(steps[2])[0]!.missing).toEqual(['description']);
      expect(writesOf(steps[2])[0]!.document).not.toHaveProperty('description');
    });

    it('a column unavailable only in `before` but present in `after` is simply written', () => {
      const event = update('products', { id: 8 }, withoutDescription, product(8, { description: 'new' }), 1010, ['description']);
      expect(writesOf(planWrites([event], indexes)[0])[0]).toMatchObject({ missing: [], document: { description: 'new' } });
    });
  });

  it('fails, alone, what can never be indexed', () => {
    const steps = planWrites(
      [
        create('products', { id: 1 }, product(1), 100),
        create('audit_log', { id: 1 }, { id: 1 }, 101),
        create('products', {}, product(2), 102),
        create('products', { id: 3 }, product(3), '9223372036854775808'),
        changeEvent({ table: 'products', op: 'update', key: { id: 4 }, after: null, lsn: 104 }),
        create('products', { id: 5 }, product(5), 105),
      ],
      indexes,
    );
    expect(steps.map((step) => (step.kind === 'result' ? step.result.status : step.kind))).toEqual(['writes', 'failed', 'failed', 'failed', 'failed', 'writes']);
    const unknown = steps[1]!;
    expect(unknown.kind === 'result' && unknown.result.status === 'failed' && unknown.result.error.message).toMatch(/audit_log.*no search index/);
  });

  it('a truncate becomes its own step with its LSN', () => {
    const truncate: TruncateEvent = {
      op: 'truncate',
      table: 'orders',
      schema: 'public',
      key: {},
      source: { lsn: '900', version: rowVersion('900', false), txId: 5, commitTimeMs: 0, snapshot: false },
      kafka: { topic: 'ecommerce.public.orders', partition: 0, offset: '1' },
    };
    const events: ChangeEvent[] = [create('orders', { id: 1 }, { id: 1 }, 800), truncate];
    const [, step] = planWrites(events, indexes);
    expect(step).toMatchObject({ kind: 'truncate', owner: 1, version: '4611686018427388804', index: { indexName: 't-orders_v1' } });
  });
});
