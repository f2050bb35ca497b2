/**
 * The shared sink contract: what every sink must do with change events, run against its REAL
 * engine (never a mock). A sink's integration test calls `describeSinkContract(harness)` once.
 *
 * The contract (see consumers/core/sink.ts and the design notes):
 * - one result per event, in order; `ok` means the engine holds the event's effect;
 * - writes are idempotent and guarded by the event's row version `source.version` (compared
 *   exactly, as integers beyond 64 bits): replays change nothing, an older LSN never overwrites a
 *   newer one, even inside one batch;
 * - every streamed change sorts above every snapshot row of the same row: a transaction open
 *   across the snapshot streams changes with LSNs BELOW the snapshot's, and they still win; a
 *   snapshot row never overwrites a streamed change;
 * - an event refused because the sink already holds that version or a newer one answers `stale`
 *   (`ok` with `stale: true`), an applied one a plain `ok`, so refusals can be counted;
 * - a delete removes the row, and a late older create/update cannot bring it back;
 * - tombstones are accepted and change nothing;
 * - unchanged-TOAST columns (listed in `unavailableColumns`, absent from `after`) take the value
 *   in `before` when it has one (REPLICA IDENTITY FULL), else keep the value the sink holds;
 * - a bad event fails alone (`failed`, with a reason) and the good events around it are written;
 * - `close()` may be called twice.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChangeEvent, Row } from '../../consumers/core/change-event.js';
import type { Sink, WriteResult } from '../../consumers/core/sink.js';
import { changeEvent, create, remove, tombstone, update } from './events.js';

export interface SinkContractHarness {
  /** e.g. 'redis' */
  name: string;
  /** A fresh, started sink writing into its own namespace (unique key prefix / index prefix). */
  makeSink(): Promise<Sink>;
  /** What the sink holds for table+key: the stored row with converted values, or null. */
  readRow(sink: Sink, table: string, key: Row): Promise<Row | null>;
  /** Events this sink must reject permanently (status 'failed'), e.g. a value its engine cannot store. */
  poisonEvent(table: string, key: Row, lsn: number): ChangeEvent;
}

/** A realistic `products` row; NUMERIC as exact strings, timestamps with microseconds. */
export function productRow(id: number, overrides: Row = {}): Row {
  return {
    id,
    sku: `SKU-${String(id).padStart(5, '0')}`,
    name: `Wireless Mouse ${id}`,
    description: `Ergonomic wireless mouse #${id} with a long, TOAST-able description. `.repeat(3),
    category: 'electronics',
    price: '19.99',
    stock_quantity: 120,
    low_stock_threshold: 10,
    attributes: { color: 'black', dpi: [800, 1600], wireless: true },
    created_at: '2026-03-01T10:15:30.123456Z',
    updated_at: '2026-03-01T10:15:30.123456Z',
    ...overrides,
  };
}

/** A realistic `orders` row (the seed's ORD-TEST-001 shape). */
export function orderRow(id: number, overrides: Row = {}): Row {
  return {
    id,
    customer_id: 1,
    order_number: `ORD-TEST-${String(id).padStart(3, '0')}`,
    total_amount: '25000.00',
    currency: 'USD',
    status: 'pending',
    payment_method: 'credit_card',
    shipping_address: { street: '1 Main St', city: 'Springfield', zip: '12345', country: 'US' },
    notes: null,
    created_at: '2026-03-02T08:00:00.000001Z',
    updated_at: '2026-03-02T08:00:00.000001Z',
    ...overrides,
  };
}

function statuses(results: readonly WriteResult[]): string[] {
  return results.map((result) => result.status);
}

/** 'applied', 'stale' (ok, refused as not newer), or the status ('retry', 'failed'). */
function answers(results: readonly WriteResult[]): string[] {
  return results.map((result) => (result.status === 'ok' ? (result.stale ? 'stale' : 'applied') : result.status));
}

const snapshotRead = (table: string, key: Row, after: Row, lsn: number | string) => changeEvent({ table, op: 'read', key, after, lsn });

export function describeSinkContract(harness: SinkContractHarness): void {
  describe(`sink contract: ${harness.name}`, () => {
    let sink: Sink;
    const read = (table: string, key: Row) => harness.readRow(sink, table, key);

    beforeEach(async () => {
      sink = await harness.makeSink();
    });
    afterEach(async () => {
      await sink.close();
    });

    it('stores a created row and reads it back with exact values', async () => {
      const product = productRow(1);
      const order = orderRow(7);
      const results = await sink.write([
        create('products', { id: 1 }, product, 100),
        create('orders', { id: 7 }, order, 101),
      ]);
      expect(statuses(results)).toEqual(['ok', 'ok']);
      expect(await read('products', { id: 1 })).toEqual(product);
      expect(await read('orders', { id: 7 })).toEqual(order);
    });

    it('stores a snapshot read like a create', async () => {
      const product = productRow(2);
      const results = await sink.write([changeEvent({ table: 'products', op: 'read', key: { id: 2 }, after: product, lsn: 50 })]);
      expect(statuses(results)).toEqual(['ok']);
      expect(await read('products', { id: 2 })).toEqual(product);
    });

    it('replaying the same batch leaves the same state and reports ok', async () => {
      const v1 = productRow(3);
      const v2 = productRow(3, { price: '24.50', stock_quantity: 80, updated_at: '2026-03-01T11:00:00.000002Z' });
      const order = orderRow(8, { status: 'paid' });
      const batch = [
        create('products', { id: 3 }, v1, 200),
        update('products', { id: 3 }, v1, v2, 210),
        create('orders', { id: 8 }, order, 220),
      ];
      expect(statuses(await sink.write(batch))).toEqual(['ok', 'ok', 'ok']);
      const productAfterFirst = await read('products', { id: 3 });
      const orderAfterFirst = await read('orders', { id: 8 });
      expect(productAfterFirst).toEqual(v2);
      expect(orderAfterFirst).toEqual(order);

      expect(statuses(await sink.write(batch))).toEqual(['ok', 'ok', 'ok']);
      expect(await read('products', { id: 3 })).toEqual(productAfterFirst);
      expect(await read('orders', { id: 8 })).toEqual(orderAfterFirst);
    });

    it('never lets an older LSN overwrite a newer one (separate batches)', async () => {
      const base = orderRow(9);
      const newer = orderRow(9, { status: 'shipped', updated_at: '2026-03-02T09:00:00.000000Z' });
      const older = orderRow(9, { status: 'paid', updated_at: '2026-03-02T08:30:00.000000Z' });
      expect(statuses(await sink.write([update('orders', { id: 9 }, base, newer, 500)]))).toEqual(['ok']);
      expect(statuses(await sink.write([update('orders', { id: 9 }, base, older, 450)]))).toEqual(['ok']);
      expect(await read('orders', { id: 9 })).toEqual(newer);
    });

    it('never lets an older LSN overwrite a newer one within one batch', async () => {
      const base = productRow(4);
      const newer = productRow(4, { price: '17.25', stock_quantity: 5 });
      const older = productRow(4, { price: '18.75', stock_quantity: 7 });
      const results = await sink.write([
        create('products', { id: 4 }, base, 300),
        update('products', { id: 4 }, base, newer, 320),
        update('products', { id: 4 }, base, older, 310),
      ]);
      expect(statuses(results)).toEqual(['ok', 'ok', 'ok']);
      expect(await read('products', { id: 4 })).toEqual(newer);
    });

    it('compares LSNs exactly beyond 2^53 and across digit lengths', async () => {
      // 999... vs 9007... sort wrongly as plain strings; 2^53 and 2^53 + 1 are the same double.
      const base = productRow(5);
      const atLong = productRow(5, { price: '30.00' });
      const atShort = productRow(5, { price: '31.00' });
      const at2p53plus1 = productRow(5, { price: '32.00' });
      const at2p53 = productRow(5, { price: '33.00' });
      expect(statuses(await sink.write([
        create('products', { id: 5 }, base, '999999999999998'),
        update('products', { id: 5 }, base, atLong, '9007199254740992'),
        update('products', { id: 5 }, base, atShort, '999999999999999'),
      ]))).toEqual(['ok', 'ok', 'ok']);
      expect(await read('products', { id: 5 })).toEqual(atLong);

      // One more than the stored LSN is newer, even where a double cannot tell them apart.
      expect(statuses(await sink.write([update('products', { id: 5 }, atLong, at2p53plus1, '9007199254740993')]))).toEqual(['ok']);
      expect(await read('products', { id: 5 })).toEqual(at2p53plus1);
      expect(statuses(await sink.write([update('products', { id: 5 }, base, at2p53, '9007199254740992')]))).toEqual(['ok']);
      expect(await read('products', { id: 5 })).toEqual(at2p53plus1);
    });

    it('a delete removes the row and a late older create or update does not resurrect it', async () => {
      const row = orderRow(10);
      const updated = orderRow(10, { status: 'cancelled' });
      expect(statuses(await sink.write([create('orders', { id: 10 }, row, 600)]))).toEqual(['ok']);
      expect(await read('orders', { id: 10 })).toEqual(row);

      expect(statuses(await sink.write([remove('orders', { id: 10 }, row, 700)]))).toEqual(['ok']);
      expect(await read('orders', { id: 10 })).toBeNull();

      expect(statuses(await sink.write([
        create('orders', { id: 10 }, row, 600),
        update('orders', { id: 10 }, row, updated, 650),
      ]))).toEqual(['ok', 'ok']);
      expect(await read('orders', { id: 10 })).toBeNull();
    });

    it('a create newer than the delete brings the key back (primary key reused)', async () => {
      const first = productRow(6);
      const second = productRow(6, { sku: 'SKU-REUSED', name: 'Reused key' });
      expect(statuses(await sink.write([
        create('products', { id: 6 }, first, 800),
        remove('products', { id: 6 }, first, 810),
        tombstone('products', { id: 6 }),
        create('products', { id: 6 }, second, 820),
      ]))).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(await read('products', { id: 6 })).toEqual(second);
    });

    it('a tombstone is accepted and changes nothing', async () => {
      const row = productRow(7);
      expect(statuses(await sink.write([create('products', { id: 7 }, row, 900)]))).toEqual(['ok']);
      expect(statuses(await sink.write([tombstone('products', { id: 7 }), tombstone('products', { id: 70 })]))).toEqual(['ok', 'ok']);
      expect(await read('products', { id: 7 })).toEqual(row);
      expect(await read('products', { id: 70 })).toBeNull();
    });

    it('an unchanged-TOAST column keeps the stored value while the rest is updated', async () => {
      const row = productRow(8, { description: 'A very long description that PostgreSQL stored out of line. '.repeat(50) });
      expect(statuses(await sink.write([create('products', { id: 8 }, row, 1000)]))).toEqual(['ok']);

      // What the decoder emits for an UPDATE that did not touch the TOASTed column: it is absent
      // from `after` and listed as unavailable. `before` omits it too, so only the stored value can fill it.
      const { description: _omitted, ...withoutDescription } = row;
      const after: Row = { ...withoutDescription, price: '15.00', stock_quantity: 3, updated_at: '2026-03-03T12:00:00.000000Z' };
      const event = update('products', { id: 8 }, withoutDescription, after, 1010, ['description']);
      expect(statuses(await sink.write([event]))).toEqual(['ok']);

      const expected = { ...after, description: row.description };
      expect(await read('products', { id: 8 })).toEqual(expected);
      // Replaying the TOAST update is harmless too.
      expect(statuses(await sink.write([event]))).toEqual(['ok']);
      expect(await read('products', { id: 8 })).toEqual(expected);
    });

    it('an unchanged-TOAST column takes the value in `before` (REPLICA IDENTITY FULL) over the one the sink holds', async () => {
      // The sink holds an outdated description (an update of it that it has not seen yet, e.g.
      // still queued behind a retry); `before` carries the row as PostgreSQL had it.
      const cached = productRow(27, { description: 'The description the sink still holds. '.repeat(20) });
      const current = 'The description PostgreSQL has now. '.repeat(20);
      expect(statuses(await sink.write([create('products', { id: 27 }, cached, 1500)]))).toEqual(['ok']);
      const { description: _omitted, ...rest } = cached;
      const after: Row = { ...rest, stock_quantity: 1 };
      expect(statuses(await sink.write([update('products', { id: 27 }, { ...rest, description: current }, after, 1520, ['description'])]))).toEqual(['ok']);
      expect(await read('products', { id: 27 })).toEqual({ ...after, description: current });
    });

    it('a partially failing batch fails only the bad event and writes the good ones', async () => {
      const first = productRow(11);
      const second = productRow(13);
      const results = await sink.write([
        create('products', { id: 11 }, first, 1100),
        harness.poisonEvent('products', { id: 12 }, 1101),
        create('products', { id: 13 }, second, 1102),
      ]);
      expect(statuses(results)).toEqual(['ok', 'failed', 'ok']);
      const failure = results[1]!;
      expect(failure.status === 'failed' && failure.error instanceof Error && failure.error.message.length > 0).toBe(true);
      expect(await read('products', { id: 11 })).toEqual(first);
      expect(await read('products', { id: 13 })).toEqual(second);
      expect(await read('products', { id: 12 })).toBeNull();
    });

    it('a streamed change with an LSN below the snapshot row\'s still wins (a transaction open across the snapshot)', async () => {
      // The snapshot read the row at its consistent point (LSN 5000); a transaction that had
      // updated it before that point committed afterwards and streams its change at LSN 4000.
      const snapshotted = orderRow(20);
      const committed = orderRow(20, { status: 'shipped', updated_at: '2026-03-02T09:30:00.000000Z' });
      expect(answers(await sink.write([snapshotRead('orders', { id: 20 }, snapshotted, 5000)]))).toEqual(['applied']);
      expect(answers(await sink.write([update('orders', { id: 20 }, snapshotted, committed, 4000)]))).toEqual(['applied']);
      expect(await read('orders', { id: 20 })).toEqual(committed);

      // The same for a delete, and within one batch.
      const gone = productRow(21);
      expect(answers(await sink.write([
        snapshotRead('products', { id: 21 }, gone, 5000),
        remove('products', { id: 21 }, gone, 4100),
      ]))).toEqual(['applied', 'applied']);
      expect(await read('products', { id: 21 })).toBeNull();
    });

    it('a snapshot row never overwrites a streamed change, whatever its LSN', async () => {
      const streamed = productRow(22, { price: '44.00' });
      const snapshotted = productRow(22, { price: '40.00' });
      expect(answers(await sink.write([create('products', { id: 22 }, streamed, 100)]))).toEqual(['applied']);
      expect(answers(await sink.write([snapshotRead('products', { id: 22 }, snapshotted, 9000)]))).toEqual(['stale']);
      expect(await read('products', { id: 22 })).toEqual(streamed);

      // Nor brings back a row a streamed delete removed.
      const deleted = orderRow(23);
      expect(answers(await sink.write([create('orders', { id: 23 }, deleted, 100), remove('orders', { id: 23 }, deleted, 110)]))).toEqual(['applied', 'applied']);
      expect(answers(await sink.write([snapshotRead('orders', { id: 23 }, deleted, 9000)]))).toEqual(['stale']);
      expect(await read('orders', { id: 23 })).toBeNull();

      // Among snapshot rows (a later re-snapshot of a row never streamed), the later one wins.
      const first = productRow(24, { stock_quantity: 1 });
      const second = productRow(24, { stock_quantity: 2 });
      expect(answers(await sink.write([snapshotRead('products', { id: 24 }, first, 300), snapshotRead('products', { id: 24 }, second, 400)]))).toEqual(['applied', 'applied']);
      expect(answers(await sink.write([snapshotRead('products', { id: 24 }, first, 300)]))).toEqual(['stale']);
      expect(await read('products', { id: 24 })).toEqual(second);
    });

    it('answers stale for an event refused as not newer (replay, older change, late create after a delete), plain ok otherwise', async () => {
      const v1 = orderRow(25);
      const v2 = orderRow(25, { status: 'paid', updated_at: '2026-03-02T08:10:00.000000Z' });
      const older = orderRow(25, { status: 'pending', notes: 'older' });
      const batch = [create('orders', { id: 25 }, v1, 1200), update('orders', { id: 25 }, v1, v2, 1210)];
      expect(answers(await sink.write(batch))).toEqual(['applied', 'applied']);
      // A replay of the batch: the sink holds both versions already.
      expect(answers(await sink.write(batch))).toEqual(['stale', 'stale']);
      expect(answers(await sink.write([update('orders', { id: 25 }, v1, older, 1205)]))).toEqual(['stale']);
      expect(await read('orders', { id: 25 })).toEqual(v2);

      // Within one batch, the older one after the newer one.
      const p = productRow(26);
      const p2 = productRow(26, { price: '1.00' });
      expect(answers(await sink.write([create('products', { id: 26 }, p, 1300), update('products', { id: 26 }, p, p2, 1320), update('products', { id: 26 }, p, p, 1310)]))).toEqual(['applied', 'applied', 'stale']);

      // A late older create after the delete; a tombstone is a plain ok.
      expect(answers(await sink.write([remove('orders', { id: 25 }, v2, 1400), tombstone('orders', { id: 25 }), create('orders', { id: 25 }, v1, 1200)]))).toEqual(['applied', 'applied', 'stale']);
      expect(await read('orders', { id: 25 })).toBeNull();
    });

    it('close() can be called twice', async () => {
      const extra = await harness.makeSink();
      await extra.close();
      await expect(extra.close()).resolves.toBeUndefined();
    });
  });
}
