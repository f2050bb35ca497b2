/**
 * First end-to-end proof: real SQL on the shop's `customers` table, the events the project's
 * Debezium connector really publishes on `ecommerce.public.customers`, decoded by the core
 * decoder. No mocks: PostgreSQL, Debezium (Kafka Connect) and Kafka are the running stack.
 *
 * The consumer starts at the topic's end offsets taken BEFORE the SQL runs, so it sees exactly
 * the changes made after that point (plus whatever else writes to customers meanwhile, which the
 * assertions ignore by matching this test's own keys).
 */
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { registerLz4Codec } from '../../consumers/core/kafka-lz4-codec.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent, RowChangeEvent } from '../../consumers/core/change-event.js';
import { compareLsn } from '../../consumers/core/change-event.js';
import { decodeMessage } from '../../consumers/core/debezium/decode.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';

const TOPIC = 'ecommerce.public.customers';
const CONNECTOR = 'ecommerce-postgres-connector';
const WAIT_MS = 30_000;

describe.runIf(requireEngines('postgres', 'kafka', 'connect'))('Debezium end to end on customers', () => {
  let db: pg.Client;
  let consumer: Consumer;
  const events: ChangeEvent[] = [];
  const decodeErrors: Error[] = [];
  const createdIds = new Set<number>();
  const run = uniqueName('e2e');

  beforeAll(async () => {
    const urls = engines();
    db = new pg.Client({ connectionString: urls.postgres });
    await db.connect();
    await waitForConnectorRunning(urls.connect);

    registerLz4Codec(); // in case the topics are LZ4-compressed (a producer or topic setting)
    const kafka = new Kafka({ clientId: run, brokers: urls.kafka.split(','), logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    await admin.connect();
    const start = await admin.fetchTopicOffsets(TOPIC);
    await admin.disconnect();

    consumer = kafka.consumer({ groupId: run });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC });
    let assigned!: () => void;
    const joined = new Promise<void>((resolve) => (assigned = resolve));
    consumer.on(consumer.events.GROUP_JOIN, () => assigned());
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        try {
          events.push(decodeMessage({ topic, partition, offset: message.offset, key: message.key, value: message.value }));
        } catch (error) {
          decodeErrors.push(error as Error);
        }
      },
    });
    // Start every partition at its end as of before the SQL below, not wherever the new group lands.
    for (const { partition, offset } of start) consumer.seek({ topic: TOPIC, partition, offset });
    await joined;
  });

  afterAll(async () => {
    await consumer?.disconnect();
    if (db) {
      if (createdIds.size > 0) await db.query('DELETE FROM customers WHERE id = ANY($1)', [[...createdIds]]);
      await db.end();
    }
  });

  async function insertCustomer(label: string): Promise<{ id: number; email: string }> {
    const email = `${run}.${label}@example.com`;
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO customers (email, first_name, last_name, phone) VALUES ($1, 'E2e', $2, NULL) RETURNING id`,
      [email, label],
    );
    createdIds.add(rows[0]!.id);
    return { id: rows[0]!.id, email };
  }

  /** Waits until `count` decoded events match, failing after WAIT_MS with what did arrive. */
  async function eventsFor(id: number, count: number): Promise<ChangeEvent[]> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const mine = events.filter((e) => e.key.id === id);
      if (mine.length >= count) return mine;
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} events for customer ${id} within ${WAIT_MS / 1000}s, got ${JSON.stringify(mine.map((e) => e.op))}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('publishes create, update (full before), delete and tombstone as Debezium produced them', async () => {
    const { id, email } = await insertCustomer('crud');
    await db.query(`UPDATE customers SET first_name = 'Changed', phone = '+15550000001' WHERE id = $1`, [id]);
    await db.query('DELETE FROM customers WHERE id = $1', [id]);
    createdIds.delete(id);

    const [created, updated, deleted, tombstone] = (await eventsFor(id, 4)) as [RowChangeEvent, RowChangeEvent, RowChangeEvent, ChangeEvent];
    expect(decodeErrors).toEqual([]);

    expect(created.op).toBe('create');
    expect(created).toMatchObject({ table: 'customers', schema: 'public', key: { id }, before: null });
    expect(created.after).toMatchObject({ id, email, first_name: 'E2e', last_name: 'crud', phone: null });
    // timestamptz as an ISO string keeping microseconds
    expect(created.after!.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(created.source.snapshot).toBe(false);
    expect(created.unavailableColumns).toEqual([]);

    expect(updated.op).toBe('update');
    // REPLICA IDENTITY FULL: the whole old row, not just the key
    expect(updated.before).toMatchObject({ id, email, first_name: 'E2e', last_name: 'crud', phone: null });
    expect(updated.after).toMatchObject({ id, email, first_name: 'Changed', phone: '+15550000001' });

    expect(deleted.op).toBe('delete');
    expect(deleted.after).toBeNull();
    expect(deleted.before).toMatchObject({ id, email, first_name: 'Changed', phone: '+15550000001' });

    expect(tombstone).toMatchObject({ op: 'tombstone', table: 'customers', schema: 'public', key: { id } });

    // One key, one partition: Kafka order is the commit order, and LSNs grow along it.
    const rows = [created, updated, deleted];
    expect(new Set([...rows, tombstone].map((e) => e.kafka.partition)).size).toBe(1);
    for (let i = 1; i < rows.length; i++) {
      expect(BigInt(rows[i]!.kafka.offset)).toBeGreaterThan(BigInt(rows[i - 1]!.kafka.offset));
      expect(compareLsn(rows[i]!.source.lsn, rows[i - 1]!.source.lsn)).toBeGreaterThan(0);
    }
    expect(BigInt(tombstone.kafka.offset)).toBe(BigInt(deleted.kafka.offset) + 1n);
  });

  it('publishes a primary-key update as delete + tombstone of the old key and create of the new key', async () => {
    const { id: oldId, email } = await insertCustomer('pk');
    const { rows } = await db.query<{ id: number }>(
      `UPDATE customers SET id = nextval(pg_get_serial_sequence('customers', 'id')) WHERE id = $1 RETURNING id`,
      [oldId],
    );
    const newId = rows[0]!.id;
    createdIds.delete(oldId);
    createdIds.add(newId);

    const [created, deleted, tombstone] = (await eventsFor(oldId, 3)) as [RowChangeEvent, RowChangeEvent, ChangeEvent];
    const [moved] = (await eventsFor(newId, 1)) as [RowChangeEvent];
    expect(decodeErrors).toEqual([]);

    expect(created).toMatchObject({ op: 'create', key: { id: oldId } });
    expect(deleted).toMatchObject({ op: 'delete', key: { id: oldId }, after: null });
    expect(deleted.before).toMatchObject({ id: oldId, email });
    expect(tombstone).toMatchObject({ op: 'tombstone', key: { id: oldId } });
    expect(BigInt(tombstone.kafka.offset)).toBe(BigInt(deleted.kafka.offset) + 1n);

    expect(moved).toMatchObject({ op: 'create', key: { id: newId }, before: null });
    expect(moved.after).toMatchObject({ id: newId, email, last_name: 'pk' });
    // Both halves come from the same UPDATE, so the same transaction.
    expect(moved.source.txId).toBe(deleted.source.txId);
  });
});

async function waitForConnectorRunning(connectUrl: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const response = await fetch(`${connectUrl}/connectors/${CONNECTOR}/status`).catch(() => null);
    if (response?.ok) {
      const status = (await response.json()) as { connector?: { state?: string }; tasks?: { state: string }[] };
      last = `${status.connector?.state}, tasks ${status.tasks?.map((t) => t.state).join(',')}`;
      if (status.connector?.state === 'RUNNING' && status.tasks?.length && status.tasks.every((t) => t.state === 'RUNNING')) return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`connector ${CONNECTOR} is not RUNNING (${last}); register it with scripts/register-connector.mjs`);
}
