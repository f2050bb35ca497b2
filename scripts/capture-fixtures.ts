/**
 * Captures REAL Debezium messages into test/fixtures/debezium/<case>.json, for the decoder's
 * unit tests. Runs real SQL against the running stack and saves what Debezium really produced:
 *
 *   npx tsx scripts/capture-fixtures.ts                    (all cases)
 *   npx tsx scripts/capture-fixtures.ts types schemaless   (some groups: main, types, decimals, schemaless)
 *
 * Needs PostgreSQL (POSTGRES_URL, default postgres://postgres:postgres@127.0.0.1:5432/ecommerce),
 * Kafka (KAFKA_BROKERS, default 127.0.0.1:9092) and Kafka Connect (KAFKA_CONNECT_URL, default
 * http://127.0.0.1:8083) with the connector `ecommerce-postgres-connector` RUNNING; exits 2 with a
 * message naming what is missing otherwise.
 *
 * Two sources of messages:
 * - the project's connector, on the shop tables (snapshot read, create, update, delete,
 *   tombstone, primary-key update, NUMERIC in its decimal.handling.mode, timestamptz, NULLs);
 * - temporary connectors (debezium/connector-config.json with only name, slot, publication,
 *   topic prefix, table list and the setting under test changed; hosts on 127.0.0.1) on scratch
 *   tables, for types the shop schema lacks, the other decimal modes, schemaless JSON, truncate
 *   and the unchanged-TOAST placeholder. Each is deleted afterwards with its replication slot,
 *   publication, tables and topics, so nothing pins WAL.
 *
 * Each fixture: { description, topic, partition, offset, key, value, keyRaw, valueRaw } where
 * key/value are the parsed JSON written losslessly (big integers keep their digits) and the raw
 * strings are the exact bytes of the Kafka message.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { registerLz4Codec } from '../consumers/core/kafka-lz4-codec.js';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import pg from 'pg';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce';
const KAFKA_BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const CONNECT_URL = (process.env.KAFKA_CONNECT_URL ?? 'http://127.0.0.1:8083').replace(/\/$/, '');
const MAIN_CONNECTOR = 'ecommerce-postgres-connector';
const MAIN_PREFIX = 'ecommerce';
const ROOT = resolve(import.meta.dirname, '..');
const OUT_DIR = resolve(ROOT, 'test/fixtures/debezium');
const CONFIG_FILE = resolve(ROOT, 'debezium/connector-config.json');
/** Unique per run: scratch tables, slots, publications, topic prefixes and groups carry it. */
const RUN = `fx${Date.now().toString(36)}`;
const WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (message: string) => console.log(`[capture] ${message}`);

// --- the stack -------------------------------------------------------------------------------

const db = new pg.Client({ connectionString: POSTGRES_URL });
registerLz4Codec(); // in case the topics are LZ4-compressed (a producer or topic setting)
const kafka = new Kafka({ clientId: `capture-fixtures-${RUN}`, brokers: KAFKA_BROKERS, logLevel: logLevel.ERROR });
const admin = kafka.admin();

async function connectApi(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
  const response = await fetch(`${CONNECT_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // keep the text
  }
  return { status: response.status, json, text };
}

/** Exits 2 naming the engine when the stack is not up. */
async function preflight(): Promise<void> {
  const fail = (what: string, error: unknown) => {
    console.error(`[capture] ${what} is not reachable: ${error instanceof Error ? error.message : String(error)}`);
    console.error('[capture] start the stack first (./setup.sh) and wait until the connector is RUNNING.');
    process.exit(2);
  };
  await db.connect().catch((error) => fail(`PostgreSQL (${POSTGRES_URL})`, error));
  await admin.connect().catch((error) => fail(`Kafka (${KAFKA_BROKERS.join(',')})`, error));
  const status = await connectApi('GET', `/connectors/${MAIN_CONNECTOR}/status`).catch((error) => fail(`Kafka Connect (${CONNECT_URL})`, error));
  const state = status?.json?.connector?.state;
  const tasks: { state: string }[] = status?.json?.tasks ?? [];
  if (state !== 'RUNNING' || tasks.length === 0 || tasks.some((t) => t.state !== 'RUNNING')) {
    fail(`connector ${MAIN_CONNECTOR} (state ${state ?? 'not registered'}, tasks ${tasks.map((t) => t.state).join(',') || 'none'})`, 'not RUNNING');
  }
  log(`stack is up: PostgreSQL, Kafka, connector ${MAIN_CONNECTOR} RUNNING; run id ${RUN}`);
}

// --- reading what Debezium produced ----------------------------------------------------------

interface Captured {
  topic: string;
  partition: number;
  offset: string;
  keyRaw: string | null;
  valueRaw: string | null;
  /** Payloads parsed with JSON.parse for matching only (schema wrapper removed); never saved. */
  key: any;
  value: any;
}

const payloadOf = (json: any): any => (json && typeof json === 'object' && 'schema' in json && 'payload' in json ? json.payload : json);

/** Reads topics from the beginning into memory; `waitFor` finds the message a predicate describes. */
async function tap(topics: string[]) {
  // Debezium creates a table's topic with its first event; the broker does not auto-create topics.
  const deadline = Date.now() + WAIT_MS;
  for (let existing = await admin.listTopics(); !topics.every((t) => existing.includes(t)); existing = await admin.listTopics()) {
    if (Date.now() > deadline) throw new Error(`topics ${topics.filter((t) => !existing.includes(t)).join(', ')} do not exist after ${WAIT_MS / 1000}s`);
    await sleep(500);
  }
  const messages: Captured[] = [];
  const consumer: Consumer = kafka.consumer({ groupId: `capture-fixtures-${RUN}-${Math.random().toString(36).slice(2, 8)}` });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const keyRaw = message.key === null ? null : message.key.toString('utf8');
      const valueRaw = message.value === null ? null : message.value.toString('utf8');
      messages.push({
        topic,
        partition,
        offset: message.offset,
        keyRaw,
        valueRaw,
        key: keyRaw === null ? null : payloadOf(JSON.parse(keyRaw)),
        value: valueRaw === null ? null : payloadOf(JSON.parse(valueRaw)),
      });
    },
  });
  return {
    async waitFor(what: string, predicate: (m: Captured) => boolean, after?: Captured): Promise<Captured> {
      const deadline = Date.now() + WAIT_MS;
      while (Date.now() < deadline) {
        const found = messages.find((m) => predicate(m) && (!after || (m.topic === after.topic && m.partition === after.partition && BigInt(m.offset) > BigInt(after.offset))));
        if (found) return found;
        await sleep(200);
      }
      throw new Error(`no message for "${what}" within ${WAIT_MS / 1000}s on ${topics.join(', ')}`);
    },
    stop: () => consumer.disconnect(),
  };
}
type Tap = Awaited<ReturnType<typeof tap>>;

const isOp = (op: string) => (m: Captured) => m.value?.op === op;
const keyIs = (column: string, value: unknown) => (m: Captured) => m.key !== null && String(m.key[column]) === String(value);

function save(name: string, description: string, message: Captured): void {
  const fixture = {
    description,
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    // lossless: big integers in the payload keep every digit in the saved file
    key: message.keyRaw === null ? null : parseLossless(message.keyRaw),
    value: message.valueRaw === null ? null : parseLossless(message.valueRaw),
    keyRaw: message.keyRaw,
    valueRaw: message.valueRaw,
  };
  writeFileSync(resolve(OUT_DIR, `${name}.json`), `${stringifyLossless(fixture, undefined, 2)}\n`);
  log(`saved ${name}.json (${message.topic} partition ${message.partition} offset ${message.offset})`);
}

// --- temporary connectors ----------------------------------------------------------------------

interface TemporaryConnector {
  name: string;
  prefix: string;
  topic: (table: string) => string;
}

/**
 * Registers a connector from the project's config file with only the listed keys changed, runs
 * `body`, then deletes the connector, its slot, publication and topics (always, even on failure).
 * The publication is created here, FOR the scratch tables only.
 */
async function withTemporaryConnector(label: string, tables: string[], overrides: Record<string, string>, body: (c: TemporaryConnector) => Promise<void>): Promise<void> {
  const file = JSON.parse(readFileSync(CONFIG_FILE, 'utf8')) as { name: string; config: Record<string, string> };
  const name = `fixture-capture-${RUN}-${label}`;
  const slot = `${RUN}_${label}`.toLowerCase();
  const publication = `${RUN}_${label}_pub`.toLowerCase();
  const prefix = `${RUN}_${label}`;
  const config: Record<string, string> = {
    ...file.config,
    'database.hostname': '127.0.0.1',
    'slot.name': slot,
    'publication.name': publication,
    'topic.prefix': prefix,
    'table.include.list': tables.map((t) => `public.${t}`).join(','),
    ...overrides,
  };
  const changed = ['slot.name', 'publication.name', 'topic.prefix', 'table.include.list', ...Object.keys(overrides)];
  log(`temporary connector ${name}: base config with ${changed.map((k) => `${k}=${config[k]}`).join(', ')}`);
  // The connector's role reads the scratch tables in its snapshot; the publication is created by
  // their owner here because the config has publication.autocreate.mode=disabled.
  await db.query(`GRANT SELECT ON ${tables.join(', ')} TO ${config['database.user']}`);
  await db.query(`CREATE PUBLICATION ${publication} FOR TABLE ${tables.map((t) => `public.${t}`).join(', ')}`);
  try {
    const put = await connectApi('PUT', `/connectors/${name}/config`, config);
    if (put.status !== 200 && put.status !== 201) throw new Error(`registering ${name}: HTTP ${put.status} ${put.text}`);
    await waitUntilRunning(name);
    await body({ name, prefix, topic: (table) => `${prefix}.public.${table}` });
  } finally {
    await dropTemporaryConnector(name, slot, publication, prefix);
  }
}

async function waitUntilRunning(name: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const { json } = await connectApi('GET', `/connectors/${name}/status`);
    const failed = [json?.connector, ...(json?.tasks ?? [])].find((s) => s?.state === 'FAILED');
    if (failed) throw new Error(`connector ${name} FAILED: ${failed.trace ?? '(no trace)'}`);
    if (json?.connector?.state === 'RUNNING' && json.tasks?.length > 0 && json.tasks.every((t: { state: string }) => t.state === 'RUNNING')) return;
    await sleep(1000);
  }
  throw new Error(`connector ${name} not RUNNING after 120s`);
}

async function dropTemporaryConnector(name: string, slot: string, publication: string, prefix: string): Promise<void> {
  log(`removing ${name}, slot ${slot}, publication ${publication}, topics ${prefix}.*`);
  const deleted = await connectApi('DELETE', `/connectors/${name}`).catch((error) => ({ status: 0, text: String(error) }));
  if (deleted.status !== 204 && deleted.status !== 404) console.error(`[capture] WARNING: deleting ${name}: HTTP ${deleted.status} ${deleted.text}`);
  // The task releases the slot asynchronously after the DELETE; an active slot cannot be dropped.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await db.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (rows.length === 0) break;
    if (!rows[0]!.active) {
      await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
      break;
    }
    if (Date.now() > deadline) {
      console.error(`[capture] WARNING: slot ${slot} still active after 60s; drop it by hand: SELECT pg_drop_replication_slot('${slot}')`);
      break;
    }
    await sleep(1000);
  }
  await db.query(`DROP PUBLICATION IF EXISTS ${publication}`);
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`) || t.endsWith(`.${prefix}`));
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch((error) => console.error(`[capture] WARNING: deleting topics ${topics.join(',')}: ${error}`));
}

// --- the cases ---------------------------------------------------------------------------------

/** Random, incompressible text well over the 8 kB page: forces out-of-line TOAST storage. */
const BIG_TEXT_SQL = `(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 600) AS g)`;

const mainTopic = (table: string) => `${MAIN_PREFIX}.public.${table}`;

/** Shop-table cases through the project's own connector. Rows created here are unique to the run and deleted at the end. */
async function captureMainConnector(): Promise<void> {
  const t = await tap([mainTopic('customers'), mainTopic('products'), mainTopic('orders'), mainTopic('order_items')]);
  const on = (table: string) => (m: Captured) => m.topic === mainTopic(table);
  const created: { table: string; id: number }[] = [];
  try {
    save('customers-snapshot-read', 'Initial snapshot read (op r) of sample customer 1 by the project\'s connector',
      await t.waitFor('customers snapshot read', (m) => on('customers')(m) && isOp('r')(m) && keyIs('id', 1)(m)));
    save('products-snapshot-read', 'Initial snapshot read (op r) of sample product 1: numeric(12,2) in decimal.handling.mode=string, jsonb attributes',
      await t.waitFor('products snapshot read', (m) => on('products')(m) && isOp('r')(m) && keyIs('id', 1)(m)));

    // create / update / delete / tombstone
    const email = `fixture.${RUN}@example.com`;
    const { rows: [customer] } = await db.query<{ id: number }>(
      `INSERT INTO customers (email, first_name, last_name, phone, push_token, created_at)
       VALUES ($1, 'Fixture', 'Capture', NULL, 'fcm:fixture-${RUN}', '2026-11-24 09:15:38.123456+00') RETURNING id`, [email]);
    const customerId = customer!.id;
    created.push({ table: 'customers', id: customerId });
    save('customers-create', 'INSERT into customers: timestamptz with microseconds (2026-11-24 09:15:38.123456+00), phone NULL',
      await t.waitFor('customers create', (m) => on('customers')(m) && isOp('c')(m) && keyIs('id', customerId)(m)));

    // products: NUMERIC, jsonb, and an unchanged TOAST value under REPLICA IDENTITY FULL
    const { rows: [product] } = await db.query<{ id: number }>(
      `INSERT INTO products (sku, name, description, category, price, stock_quantity, attributes)
       VALUES ('FIXTURE-${RUN}', 'Fixture Product', ${BIG_TEXT_SQL}, 'Fixtures', 25000.00, 5,
               '{"brand": "Fixture", "sizes": [40, 41], "nested": {"weight_kg": 1.25, "fragile": true}}') RETURNING id`);
    const productId = product!.id;
    created.push({ table: 'products', id: productId });
    save('products-create', 'INSERT into products: numeric(12,2) 25000.00 (decimal.handling.mode=string), jsonb with nested values, a 19 kB out-of-line description',
      await t.waitFor('products create', (m) => on('products')(m) && isOp('c')(m) && keyIs('id', productId)(m)));
    await db.query(`UPDATE products SET stock_quantity = 4 WHERE id = $1`, [productId]);
    save('products-update-unchanged-toast', 'UPDATE of products not touching the out-of-line description, REPLICA IDENTITY FULL (the shop tables\' setting)',
      await t.waitFor('products update', (m) => on('products')(m) && isOp('u')(m) && keyIs('id', productId)(m)));

    // orders and order_items: NUMERIC, jsonb, char(3), NULL notes
    const { rows: [order] } = await db.query<{ id: number }>(
      `INSERT INTO orders (customer_id, order_number, total_amount, currency, status, payment_method, shipping_address, notes)
       VALUES ($1, 'FIXTURE-${RUN}', 25000.00, 'USD', 'pending', 'credit_card',
               '{"street": "1 Fixture Way", "city": "Seattle", "postal_code": "98101", "country": "US"}', NULL) RETURNING id`, [customerId]);
    const orderId = order!.id;
    created.push({ table: 'orders', id: orderId });
    save('orders-create', 'INSERT into orders: total_amount 25000.00, shipping_address jsonb, currency char(3), notes NULL',
      await t.waitFor('orders create', (m) => on('orders')(m) && isOp('c')(m) && keyIs('id', orderId)(m)));
    await db.query(`UPDATE orders SET status = 'paid' WHERE id = $1`, [orderId]);
    save('orders-update', 'UPDATE of an order status pending -> paid (REPLICA IDENTITY FULL: full before)',
      await t.waitFor('orders update', (m) => on('orders')(m) && isOp('u')(m) && keyIs('id', orderId)(m)));
    const { rows: [item] } = await db.query<{ id: number }>(
      `INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES ($1, $2, 1, 25000.00) RETURNING id`, [orderId, productId]);
    created.push({ table: 'order_items', id: item!.id });
    save('order-items-create', 'INSERT into order_items: unit_price numeric(12,2)',
      await t.waitFor('order_items create', (m) => on('order_items')(m) && isOp('c')(m) && keyIs('id', item!.id)(m)));

    await db.query(`UPDATE customers SET first_name = 'Fixed' WHERE id = $1`, [customerId]);
    save('customers-update', 'UPDATE of first_name (REPLICA IDENTITY FULL: full before; the trigger moves updated_at)',
      await t.waitFor('customers update', (m) => on('customers')(m) && isOp('u')(m) && keyIs('id', customerId)(m)));

    // The order goes first (no ON DELETE CASCADE, and the key of its customer is about to change).
    await db.query(`DELETE FROM order_items WHERE id = $1`, [item!.id]);
    await db.query(`DELETE FROM orders WHERE id = $1`, [orderId]);

    // primary-key update: Debezium emits delete (old key), tombstone (old key), create (new key)
    const { rows: [moved] } = await db.query<{ id: number }>(
      `UPDATE customers SET id = nextval(pg_get_serial_sequence('customers', 'id')) WHERE id = $1 RETURNING id`, [customerId]);
    const movedId = moved!.id;
    created.find((c) => c.table === 'customers')!.id = movedId;
    const pkDelete = await t.waitFor('pk update delete', (m) => on('customers')(m) && isOp('d')(m) && keyIs('id', customerId)(m));
    save('customers-pk-update-delete', `UPDATE of the primary key ${customerId} -> ${movedId}, part 1: delete of the old key`, pkDelete);
    save('customers-pk-update-tombstone', `UPDATE of the primary key, part 2: tombstone of the old key`,
      await t.waitFor('pk update tombstone', (m) => m.valueRaw === null && keyIs('id', customerId)(m), pkDelete));
    save('customers-pk-update-create', `UPDATE of the primary key, part 3: create of the new key ${movedId}`,
      await t.waitFor('pk update create', (m) => on('customers')(m) && isOp('c')(m) && keyIs('id', movedId)(m)));

    // delete + tombstone
    await db.query(`DELETE FROM customers WHERE id = $1`, [movedId]);
    const customerDelete = await t.waitFor('customers delete', (m) => on('customers')(m) && isOp('d')(m) && keyIs('id', movedId)(m));
    save('customers-delete', 'DELETE of a customer (REPLICA IDENTITY FULL: full before)', customerDelete);
    save('customers-tombstone', 'The tombstone (null value) Debezium sends after the DELETE, same key',
      await t.waitFor('customers tombstone', (m) => m.valueRaw === null && keyIs('id', movedId)(m), customerDelete));
  } finally {
    await t.stop();
    // Children first; ignore rows already gone.
    for (const table of ['order_items', 'orders', 'products', 'customers']) {
      for (const row of created.filter((c) => c.table === table)) await db.query(`DELETE FROM ${table} WHERE id = $1`, [row.id]);
    }
  }
}

/** Out-of-line, uncompressed storage for the large columns, so unchanged values are really TOASTed. */
const TOAST_COLUMNS_SQL = `counter int NOT NULL, body text, blob bytea, doc jsonb, tags text[]`;
const externalStorage = (table: string) =>
  `ALTER TABLE ${table} ALTER COLUMN body SET STORAGE EXTERNAL, ALTER COLUMN blob SET STORAGE EXTERNAL, ` +
  `ALTER COLUMN doc SET STORAGE EXTERNAL, ALTER COLUMN tags SET STORAGE EXTERNAL`;
const insertToastRow = (table: string, id: number) =>
  `INSERT INTO ${table} (id, counter, body, blob, doc, tags) VALUES (${id}, 1, ${BIG_TEXT_SQL}, ` +
  `decode((SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 150) AS g), 'hex'), ` +
  `jsonb_build_object('text', ${BIG_TEXT_SQL}), ` +
  `(SELECT array_agg(md5(random()::text || g::text)) FROM generate_series(1, 100) AS g))`;

/** The shop schema lacks some types; a scratch table under a temporary connector with the project's own settings covers them, and the TOAST cases. */
async function captureTypesAndToast(): Promise<void> {
  const types = `fixture_types_${RUN}`;
  const toast = `fixture_toast_${RUN}`;
  const toastFull = `fixture_toastfull_${RUN}`;
  const mood = `fixture_mood_${RUN}`;
  await db.query(`CREATE TYPE ${mood} AS ENUM ('happy', 'sad')`);
  await db.query(`CREATE TABLE ${types} (
      id bigint PRIMARY KEY, amount numeric(12,2), ratio numeric, ts timestamp(6), tstz timestamptz, day date, tod time,
      doc jsonb, big int8, tags text[], flag boolean, f8 float8, uid uuid, mood ${mood}, note text, bin bytea)`);
  await db.query(`ALTER TABLE ${types} REPLICA IDENTITY FULL`);
  // Default replica identity (primary key only): the case where Debezium cannot see unchanged TOAST values.
  await db.query(`CREATE TABLE ${toast} (id int PRIMARY KEY, ${TOAST_COLUMNS_SQL})`);
  await db.query(externalStorage(toast));
  // The same with REPLICA IDENTITY FULL, as the shop tables have, to record what Debezium does then.
  await db.query(`CREATE TABLE ${toastFull} (id int PRIMARY KEY, ${TOAST_COLUMNS_SQL})`);
  await db.query(externalStorage(toastFull));
  await db.query(`ALTER TABLE ${toastFull} REPLICA IDENTITY FULL`);
  // Rows that exist before the connector starts come out of its initial snapshot as op "r".
  await db.query(`INSERT INTO ${types} (id, amount, ratio, ts, tstz, day, tod, doc, big, tags, flag, f8, uid, mood, note, bin)
      VALUES (1, 19.99, 0.5, '2025-01-02 03:04:05.000006', '2025-01-02 03:04:05.000006+00', '2025-01-02', '03:04:05.000006',
              '{"snapshot": true}', 42, '{a}', false, 0.25, '00000000-0000-0000-0000-000000000001', 'sad', 'snapshot row', '\\x00ff')`);
  await db.query(insertToastRow(toast, 1));
  await db.query(insertToastRow(toastFull, 1));
  try {
    await withTemporaryConnector('types', [types, toast, toastFull], {}, async (connector) => {
      const t = await tap([connector.topic(types), connector.topic(toast), connector.topic(toastFull)]);
      try {
        const onTypes = (m: Captured) => m.topic === connector.topic(types);
        save('types-snapshot-read', `Snapshot read (op r) of a row of every column type, decimal.handling.mode of the project's connector config`,
          await t.waitFor('types snapshot read', (m) => onTypes(m) && isOp('r')(m) && keyIs('id', 1)(m)));

        await db.query(`INSERT INTO ${types} (id, amount, ratio, ts, tstz, day, tod, doc, big, tags, flag, f8, uid, mood, note, bin)
            VALUES (2, 25000.00, 3.14159265358979323846264338327950288, '2026-11-24 09:15:38.123456',
                    '2026-11-24 09:15:38.123456+00', '2026-11-24', '09:15:38.123456',
                    '{"tags": ["a", "b"], "nested": {"n": 1.5}, "big": 12345678901234567890}', 9007199254740993,
                    '{red,green}', true, 1.5, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', NULL, '\\xdeadbeef')`);
        save('types-create', 'INSERT of every column type: numeric(12,2) 25000.00, unconstrained numeric, timestamp(6), timestamptz, date, time, jsonb, int8 9007199254740993 (2^53+1), text[], boolean, float8, uuid, enum, NULL text, bytea',
          await t.waitFor('types create', (m) => onTypes(m) && isOp('c')(m) && keyIs('id', 2)(m)));

        await db.query(`INSERT INTO ${types} (id) VALUES (3)`);
        save('types-nulls', 'INSERT with every column but the key NULL',
          await t.waitFor('types nulls', (m) => onTypes(m) && isOp('c')(m) && keyIs('id', 3)(m)));

        await db.query(`UPDATE ${types} SET amount = -0.01, tstz = '1969-12-31 23:59:59.999999+00', note = 'changed' WHERE id = 2`);
        save('types-update', 'UPDATE of the every-type row (REPLICA IDENTITY FULL: full before): a negative NUMERIC and a timestamptz before 1970',
          await t.waitFor('types update', (m) => onTypes(m) && isOp('u')(m) && keyIs('id', 2)(m)));

        await db.query(`UPDATE ${toast} SET counter = counter + 1 WHERE id = 1`);
        save('toast-unchanged-update', 'UPDATE not touching large out-of-line (TOAST) text, bytea, jsonb and text[] columns, default replica identity: Debezium sends the unavailable-value placeholder',
          await t.waitFor('toast update', (m) => m.topic === connector.topic(toast) && isOp('u')(m)));

        await db.query(`DELETE FROM ${toast} WHERE id = 1`);
        save('toast-delete-default-identity', 'DELETE with default replica identity: before holds only the key',
          await t.waitFor('toast delete', (m) => m.topic === connector.topic(toast) && isOp('d')(m)));

        await db.query(`UPDATE ${toastFull} SET counter = counter + 1 WHERE id = 1`);
        save('toast-replica-identity-full-update', 'The same UPDATE on a table with REPLICA IDENTITY FULL (as the shop tables have): what Debezium sends for unchanged TOAST columns then',
          await t.waitFor('toast full update', (m) => m.topic === connector.topic(toastFull) && isOp('u')(m)));
      } finally {
        await t.stop();
      }
      await captureLogicalMessage(connector);
    });
  } finally {
    await db.query(`DROP TABLE IF EXISTS ${types}, ${toast}, ${toastFull}`);
    await db.query(`DROP TYPE IF EXISTS ${mood}`);
  }
}

/** pg_logical_emit_message goes to <prefix>.message, never a table topic; kept to test that the decoder refuses it clearly. */
async function captureLogicalMessage(connector: TemporaryConnector): Promise<void> {
  await db.query(`SELECT pg_logical_emit_message(true, 'fixture-capture', 'hello from ${RUN}')`);
  const topic = `${connector.prefix}.message`;
  const deadline = Date.now() + 30_000;
  while (!(await admin.listTopics()).includes(topic)) {
    if (Date.now() > deadline) {
      console.error(`[capture] WARNING: no ${topic} topic after 30s: this Debezium does not emit logical messages; logical-message.json not captured`);
      return;
    }
    await sleep(500);
  }
  const t = await tap([topic]);
  try {
    save('logical-message', 'A logical decoding message (pg_logical_emit_message, op m) from the connector\'s <prefix>.message topic',
      await t.waitFor('logical message', isOp('m')));
  } finally {
    await t.stop();
  }
}

const DECIMAL_COLUMNS_SQL = `id int PRIMARY KEY, amount numeric(12,2), ratio numeric, negative numeric(10,3), huge numeric(40,2)`;
const DECIMAL_VALUES_SQL = `(1, 25000.00, 3.14159265358979323846264338327950288, -12.345, 12345678901234567890123456789012345678.91)`;

/** NUMERIC in the decimal modes the project's connector does not use, and a TRUNCATE (on a scratch table, never a shop table). */
async function captureDecimalModes(): Promise<void> {
  const variants: { label: string; overrides: Record<string, string> }[] = [
    { label: 'precise', overrides: { 'decimal.handling.mode': 'precise' } },
    { label: 'double', overrides: { 'decimal.handling.mode': 'double' } },
    // Only with the source column type propagated can a consumer tell a double-mode NUMERIC from a float8.
    { label: 'double-source-type', overrides: { 'decimal.handling.mode': 'double', 'column.propagate.source.type': '.*' } },
  ];
  for (const { label, overrides } of variants) {
    const table = `fixture_${label.replaceAll('-', '_')}_${RUN}`;
    await db.query(`CREATE TABLE ${table} (${DECIMAL_COLUMNS_SQL})`);
    try {
      await withTemporaryConnector(label.replaceAll('-', '_'), [table], overrides, async (connector) => {
        await db.query(`INSERT INTO ${table} VALUES ${DECIMAL_VALUES_SQL}`);
        const t = await tap([connector.topic(table)]);
        try {
          save(`decimal-${label}-create`, `INSERT of numeric(12,2) 25000.00, unconstrained numeric 3.14159265358979323846264338327950288, numeric(10,3) -12.345, numeric(40,2) with 40 digits; ${Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join(', ')}`,
            await t.waitFor(`${label} create`, isOp('c')));
          if (label === 'precise') {
            await db.query(`TRUNCATE ${table}`);
            save('truncate', 'TRUNCATE of a scratch table (op t): the project\'s config sets skipped.operations=none, so truncates are emitted',
              await t.waitFor('truncate', isOp('t')));
          }
        } finally {
          await t.stop();
        }
      });
    } finally {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}

/** The JSON converter with schemas.enable=false: plain payloads, no type information. */
async function captureSchemaless(): Promise<void> {
  const table = `fixture_schemaless_${RUN}`;
  await db.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, amount numeric(12,2), tstz timestamptz, ts timestamp(6), meta jsonb, big int8, note text, ${TOAST_COLUMNS_SQL})`);
  await db.query(externalStorage(table));
  const json = 'org.apache.kafka.connect.json.JsonConverter';
  const overrides = { 'key.converter': json, 'key.converter.schemas.enable': 'false', 'value.converter': json, 'value.converter.schemas.enable': 'false' };
  try {
    await withTemporaryConnector('schemaless', [table], overrides, async (connector) => {
      await db.query(`INSERT INTO ${table} (id, amount, tstz, ts, meta, big, note, counter) VALUES
          (1, 25000.00, '2026-11-24 09:15:38.123456+00', '2026-11-24 09:15:38.123456', '{"k": [1, 2]}', 9007199254740993, NULL, 1)`);
      const t = await tap([connector.topic(table)]);
      try {
        const created = await t.waitFor('schemaless create', (m) => isOp('c')(m) && keyIs('id', 1)(m));
        save('schemaless-create', 'INSERT with schemas.enable=false (key and value): numeric(12,2) 25000.00, timestamptz, timestamp(6), jsonb, int8 2^53+1, NULL text', created);
        await db.query(`UPDATE ${table} SET note = 'changed' WHERE id = 1`);
        save('schemaless-update', 'UPDATE with schemas.enable=false, default replica identity (no before)',
          await t.waitFor('schemaless update', (m) => isOp('u')(m) && keyIs('id', 1)(m)));
        await db.query(insertToastRow(table, 2));
        await db.query(`UPDATE ${table} SET counter = counter + 1 WHERE id = 2`);
        save('schemaless-toast-update', 'UPDATE not touching TOASTed columns with schemas.enable=false: placeholders without a schema (bytea as base64 of the placeholder)',
          await t.waitFor('schemaless toast update', (m) => isOp('u')(m) && keyIs('id', 2)(m)));
        await db.query(`DELETE FROM ${table} WHERE id = 1`);
        const deleted = await t.waitFor('schemaless delete', (m) => isOp('d')(m) && keyIs('id', 1)(m));
        save('schemaless-delete', 'DELETE with schemas.enable=false', deleted);
        save('schemaless-tombstone', 'The tombstone after a DELETE with schemas.enable=false (key without schema, null value)',
          await t.waitFor('schemaless tombstone', (m) => m.valueRaw === null && keyIs('id', 1)(m), deleted));
      } finally {
        await t.stop();
      }
    });
  } finally {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
  }
}

const GROUPS = ['main', 'types', 'decimals', 'schemaless'];
/** Command-line arguments pick case groups; none means all. */
const wanted = (group: string) => process.argv.length <= 2 || process.argv.slice(2).includes(group);

async function main(): Promise<void> {
  const unknown = process.argv.slice(2).filter((arg) => !GROUPS.includes(arg));
  if (unknown.length > 0) {
    console.error(`[capture] unknown case group(s) ${unknown.join(', ')}; choose from ${GROUPS.join(', ')}`);
    process.exit(2);
  }
  mkdirSync(OUT_DIR, { recursive: true });
  await preflight();
  try {
    if (wanted('main')) await captureMainConnector();
    if (wanted('types')) await captureTypesAndToast();
    if (wanted('decimals')) await captureDecimalModes();
    if (wanted('schemaless')) await captureSchemaless();
  } finally {
    await admin.disconnect();
    await db.end();
  }
  log('done');
}

main().catch((error) => {
  console.error(`[capture] FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
