/**
 * Real captured Debezium messages (test/fixtures/debezium/) through the core decoder and the
 * Elasticsearch write plan: what each kind of change becomes in the search index.
 */
import { describe, expect, it } from 'vitest';
import type { ChangeEvent, RowChangeEvent } from '../../consumers/core/change-event.js';
import { externalVersion } from '../../consumers/elasticsearch/document.js';
import { externalIndexOperation } from '../../consumers/elasticsearch/bulk-body.js';
import { resolveCatalog } from '../../consumers/elasticsearch/index-catalog.js';
import { planWrites, type Step } from '../../consumers/elasticsearch/write-plan.js';
import { fixtureEvent } from '../helpers/fixtures.js';

const indexes = resolveCatalog('');

const lsnOf = (event: ChangeEvent) => (event.op === 'tombstone' ? null : event.source.lsn);
const describeStep = (step: Step) =>
  step.kind === 'result' ? step.result.status : step.kind === 'truncate' ? `truncate ${step.index.indexName}` : step.writes.map((w) => `${w.index}/${w.id}${'_cdc' in w.document ? ' (deleted)' : ''}`).join(', ');

describe('captured Debezium messages -> index writes', () => {
  it.each([
    ['orders-create', 'orders_v1/303'],
    ['orders-update', 'orders_v1/303'],
    ['order-items-create', 'order_items_v1/753'],
    ['products-create', 'products_v1/33'],
    ['products-snapshot-read', 'products_v1/1'],
    ['products-update-unchanged-toast', 'products_v1/33'],
    ['customers-create', 'customers_v1/45'],
    ['customers-update', 'customers_v1/45'],
    ['customers-snapshot-read', 'customers_v1/1'],
    ['customers-delete', 'customers_v1/47 (deleted)'],
    ['customers-tombstone', 'ok'],
    ['customers-pk-update-delete', 'customers_v1/45 (deleted)'],
    ['customers-pk-update-tombstone', 'ok'],
    ['customers-pk-update-create', 'customers_v1/47'],
  ])('%s -> %s', (name, expected) => {
    const event = fixtureEvent(name);
    const [step] = planWrites([event], indexes);
    expect(describeStep(step!)).toBe(expected);
    if (step!.kind === 'writes') {
      // Snapshot rows at their LSN, streamed changes at 2^62 + LSN (above every snapshot row).
      const source = (event as RowChangeEvent).source;
      for (const write of step!.writes) expect(write.version).toBe(externalVersion(source.version));
      for (const write of step!.writes) expect(BigInt(write.version)).toBe(BigInt(lsnOf(event)!) + (source.snapshot ? 0n : 1n << 62n));
    }
  });

  it('an order is indexed exactly as PostgreSQL has it: exact money, microsecond timestamps, parsed JSON', () => {
    const event = fixtureEvent('orders-create') as RowChangeEvent;
    const [step] = planWrites([event], indexes);
    const write = step!.kind === 'writes' ? step!.writes[0]! : null;
    expect(write!.document).toEqual(event.after);
    expect(write!.document).toMatchObject({ total_amount: '25000.00', status: 'pending', created_at: '2026-11-24T09:39:34.778222Z' });
    expect(typeof (write!.document as Record<string, unknown>).shipping_address).toBe('object');
    const operation = externalIndexOperation(0, write!.index, write!.id, write!.version, write!.document);
    expect(operation.ndjson).toContain(`"version":${(1n << 62n) + BigInt(event.source.lsn)},"version_type":"external"`);
    expect(operation.ndjson).toContain('"total_amount":"25000.00"');
  });

  it('a PK change captured as delete + tombstone + create gives marker(old id), nothing, document(new id) at increasing LSNs', () => {
    const events = ['customers-pk-update-delete', 'customers-pk-update-tombstone', 'customers-pk-update-create'].map(fixtureEvent);
    expect(planWrites(events, indexes).map(describeStep)).toEqual(['customers_v1/45 (deleted)', 'ok', 'customers_v1/47']);
    expect(BigInt(lsnOf(events[2]!)!)).toBeGreaterThanOrEqual(BigInt(lsnOf(events[0]!)!));
  });

  it('a captured TRUNCATE becomes a truncate step; a table without an index is dead-lettered, not dropped', () => {
    const truncate = fixtureEvent('truncate');
    const [step] = planWrites([truncate], indexes);
    if (truncate.table in { products: 1, orders: 1, customers: 1, order_items: 1 }) expect(step!.kind).toBe('truncate');
    else expect(step!.kind === 'result' && step!.result.status).toBe('failed');
    const [other] = planWrites([{ ...(fixtureEvent('orders-create') as RowChangeEvent), table: 'audit_log' }], indexes);
    expect(other!.kind === 'result' && other!.result.status).toBe('failed');
  });

  it('unchanged-TOAST columns from a real message are listed as missing, never written as the placeholder', () => {
    const event = fixtureEvent('toast-unchanged-update') as RowChangeEvent;
    expect(event.unavailableColumns.length).toBeGreaterThan(0);
    const [step] = planWrites([{ ...event, table: 'products' }], indexes);
    const write = step!.kind === 'writes' ? step!.writes.at(-1)! : null;
    expect(JSON.stringify(write!.document)).not.toContain('__debezium_unavailable_value');
    for (const column of event.unavailableColumns) {
      const filledFromBefore = event.before !== null && Object.hasOwn(event.before, column);
      expect(write!.missing.includes(column)).toBe(!filledFromBefore);
    }
  });
});
