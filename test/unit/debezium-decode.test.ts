/**
 * The decoder on REAL Debezium 3.2 messages, captured from the running stack by
 * scripts/capture-fixtures.ts into test/fixtures/debezium/ (see each file's "description").
 * Table-driven: one row per fixture with the ChangeEvent it must become. Values that the capture
 * run generated (serial ids, now() timestamps, scratch-table suffixes) are matched by shape; every
 * value the capture wrote on purpose is matched exactly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChangeEvent, RowChangeEvent, Value } from '../../consumers/core/change-event.js';
import { DecodeError, decodeMessage, type RawMessage } from '../../consumers/core/debezium/decode.js';

interface Fixture {
  description: string;
  topic: string;
  partition: number;
  offset: string;
  keyRaw: string | null;
  valueRaw: string | null;
}

const FIXTURES = resolve(import.meta.dirname, '../fixtures/debezium');
const load = (name: string): Fixture => JSON.parse(readFileSync(resolve(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
const messageOf = (f: Fixture, changes: Partial<RawMessage> = {}): RawMessage => ({
  topic: f.topic,
  partition: f.partition,
  offset: f.offset,
  key: f.keyRaw === null ? null : Buffer.from(f.keyRaw, 'utf8'),
  value: f.valueRaw === null ? null : Buffer.from(f.valueRaw, 'utf8'),
  ...changes,
});
const decode = (name: string): ChangeEvent => decodeMessage(messageOf(load(name)));
const row = (name: string): RowChangeEvent => decode(name) as RowChangeEvent;
/** Edits the exact raw text of a real message (to build broken ones). */
const withValue = (f: Fixture, edit: (raw: string) => string): RawMessage => {
  const edited = edit(f.valueRaw!);
  expect(edited).not.toBe(f.valueRaw); // the edit must really change something
  return messageOf(f, { value: Buffer.from(edited, 'utf8') });
};

const ISO_MICROS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const anyId = expect.any(Number);
const PLACEHOLDER = '__debezium_unavailable_value';

/** Each fixture file, and what it must decode to (passed to toMatchObject; exact where it matters). */
const CASES: Record<string, object> = {
  'customers-snapshot-read': {
    op: 'read', table: 'customers', schema: 'public', key: { id: 1 }, before: null, unavailableColumns: [],
    after: {
      id: 1, email: 'emma.johnson1@example.com', first_name: 'Emma', last_name: 'Johnson', phone: '+15551007919',
      push_token: null, created_at: '2024-01-04T13:00:00.000000Z', updated_at: '2024-01-04T13:00:00.000000Z',
    },
    source: { snapshot: true },
  },
  'customers-create': {
    op: 'create', table: 'customers', key: { id: anyId }, before: null, unavailableColumns: [],
    after: {
      id: anyId, email: expect.stringMatching(/^fixture\..+@example\.com$/), first_name: 'Fixture', last_name: 'Capture',
      phone: null, push_token: expect.stringMatching(/^fcm:fixture-/),
      created_at: '2026-11-24T09:15:38.123456Z', // timestamptz keeps its microseconds
      updated_at: expect.stringMatching(ISO_MICROS),
    },
    source: { snapshot: false },
  },
  'customers-update': {
    op: 'update', table: 'customers',
    // REPLICA IDENTITY FULL: the whole old row, not only the key
    before: { first_name: 'Fixture', last_name: 'Capture', phone: null, created_at: '2026-11-24T09:15:38.123456Z' },
    after: { first_name: 'Fixed', last_name: 'Capture', phone: null, created_at: '2026-11-24T09:15:38.123456Z' },
  },
  'customers-delete': { op: 'delete', table: 'customers', after: null, before: { first_name: 'Fixed', last_name: 'Capture', email: expect.any(String) } },
  'customers-tombstone': { op: 'tombstone', table: 'customers', schema: 'public', key: { id: anyId } },
  'customers-pk-update-delete': { op: 'delete', table: 'customers', after: null, before: { first_name: 'Fixed' } },
  'customers-pk-update-tombstone': { op: 'tombstone', table: 'customers', key: { id: anyId } },
  'customers-pk-update-create': { op: 'create', table: 'customers', before: null, after: { first_name: 'Fixed' } },
  'products-snapshot-read': {
    op: 'read', table: 'products', key: { id: 1 }, source: { snapshot: true },
    after: { sku: 'ELEC-0001', price: '1299.00', stock_quantity: 42, attributes: { brand: 'Aurora', ram_gb: 16, storage_gb: 512, color: 'silver' } },
  },
  'products-create': {
    op: 'create', table: 'products',
    after: {
      price: '25000.00', // decimal.handling.mode=string: exact
      stock_quantity: 5,
      attributes: { brand: 'Fixture', sizes: [40, 41], nested: { weight_kg: 1.25, fragile: true } },
      description: expect.stringMatching(/^[0-9a-f]{19200}$/),
    },
  },
  'products-update-unchanged-toast': {
    // With REPLICA IDENTITY FULL Debezium 3.2 fills the unchanged TOAST column from the old row: no placeholder.
    op: 'update', table: 'products', unavailableColumns: [],
    before: { stock_quantity: 5, description: expect.stringMatching(/^[0-9a-f]{19200}$/) },
    after: { stock_quantity: 4, description: expect.stringMatching(/^[0-9a-f]{19200}$/) },
  },
  'orders-create': {
    op: 'create', table: 'orders',
    after: {
      total_amount: '25000.00', currency: 'USD', status: 'pending', notes: null,
      shipping_address: { street: '1 Fixture Way', city: 'Seattle', postal_code: '98101', country: 'US' },
    },
  },
  'orders-update': { op: 'update', table: 'orders', before: { status: 'pending', total_amount: '25000.00' }, after: { status: 'paid', total_amount: '25000.00' } },
  'order-items-create': { op: 'create', table: 'order_items', after: { quantity: 1, unit_price: '25000.00' } },
  'types-snapshot-read': {
    op: 'read', table: expect.stringMatching(/^fixture_types_/), key: { id: 1 }, source: { snapshot: true },
    after: {
      id: 1, amount: '19.99', ratio: '0.5', ts: '2025-01-02T03:04:05.000006Z', tstz: '2025-01-02T03:04:05.000006Z',
      day: '2025-01-02', tod: '03:04:05.000006', doc: { snapshot: true }, big: 42, tags: ['a'], flag: false, f8: 0.25,
      uid: '00000000-0000-0000-0000-000000000001', mood: 'sad', note: 'snapshot row', bin: 'AP8=',
    },
  },
  'types-create': {
    op: 'create', key: { id: 2 }, unavailableColumns: [],
    after: {
      id: 2,
      amount: '25000.00',
      ratio: '3.14159265358979323846264338327950288', // unconstrained numeric, every digit
      ts: '2026-11-24T09:15:38.123456Z', // timestamp without time zone, read as UTC
      tstz: '2026-11-24T09:15:38.123456Z',
      day: '2026-11-24',
      tod: '09:15:38.123456',
      doc: { tags: ['a', 'b'], nested: { n: 1.5 }, big: '12345678901234567890' }, // jsonb parsed, big number kept exact
      big: '9007199254740993', // int8 2^53+1: a string, not 9007199254740992
      tags: ['red', 'green'],
      flag: true,
      f8: 1.5,
      uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      mood: 'happy',
      note: null,
      bin: '3q2+7w==', // bytea \xdeadbeef, base64
    },
  },
  'types-nulls': {
    op: 'create', key: { id: 3 },
    after: { id: 3, amount: null, ratio: null, ts: null, tstz: null, day: null, tod: null, doc: null, big: null, tags: null, flag: null, f8: null, uid: null, mood: null, note: null, bin: null },
  },
  'types-update': {
    op: 'update', key: { id: 2 },
    before: { amount: '25000.00', tstz: '2026-11-24T09:15:38.123456Z', note: null, big: '9007199254740993' },
    after: { amount: '-0.01', tstz: '1969-12-31T23:59:59.999999Z', note: 'changed', big: '9007199254740993' },
  },
  'toast-unchanged-update': {
    // Default replica identity: the placeholder in text, bytea (base64 of it), jsonb and text[] -> absent + listed.
    op: 'update', table: expect.stringMatching(/^fixture_toast_/), before: null, after: { id: 1, counter: 2 },
    unavailableColumns: ['body', 'blob', 'doc', 'tags'],
  },
  'toast-delete-default-identity': {
    // Default replica identity: Debezium knows only the key; it sends NULL for nullable columns and the
    // type's default (0) for the NOT NULL counter. Not the old row: the shop tables use FULL for that reason.
    op: 'delete', after: null, before: { id: 1, counter: 0, body: null, blob: null, doc: null, tags: null }, unavailableColumns: [],
  },
  'toast-replica-identity-full-update': {
    op: 'update', table: expect.stringMatching(/^fixture_toastfull_/), unavailableColumns: [],
    before: { counter: 1, body: expect.stringMatching(/^[0-9a-f]{19200}$/) },
    after: { counter: 2, body: expect.stringMatching(/^[0-9a-f]{19200}$/), doc: { text: expect.stringMatching(/^[0-9a-f]{19200}$/) } },
  },
  'decimal-precise-create': {
    op: 'create',
    after: {
      amount: '25000.00', // org.apache.kafka.connect.data.Decimal, scale 2
      ratio: '3.14159265358979323846264338327950288', // io.debezium.data.VariableScaleDecimal, scale 35
      negative: '-12.345',
      huge: '12345678901234567890123456789012345678.91',
    },
  },
  'decimal-double-create': {
    // decimal.handling.mode=double without source types: indistinguishable from float8, so numbers (lossy at the source).
    op: 'create', after: { amount: 25000, ratio: 3.141592653589793, negative: -12.345, huge: 1.2345678901234568e37 },
  },
  'decimal-double-source-type-create': {
    // ... with column.propagate.source.type the decoder knows they are NUMERIC: decimal strings of the doubles.
    op: 'create', after: { id: 1, amount: '25000.0', ratio: '3.141592653589793', negative: '-12.345', huge: '12345678901234568000000000000000000000' },
  },
  truncate: { op: 'truncate', table: expect.stringMatching(/^fixture_precise_/), schema: 'public', key: {}, source: { snapshot: false } },
  'schemaless-create': {
    // schemas.enable=false: only what JSON says. Strings and numbers as Debezium wrote them, big ints exact.
    op: 'create', key: { id: 1 }, before: null, unavailableColumns: [],
    after: {
      id: 1, amount: '25000.00', tstz: '2026-11-24T09:15:38.123456Z', ts: 1795511738123456, meta: '{"k": [1, 2]}',
      big: '9007199254740993', note: null, counter: 1, body: null, blob: null, doc: null, tags: null,
    },
  },
  'schemaless-update': { op: 'update', key: { id: 1 }, before: null, after: { note: 'changed', big: '9007199254740993' } },
  'schemaless-toast-update': { op: 'update', key: { id: 2 }, after: { id: 2, counter: 2 }, unavailableColumns: ['body', 'blob', 'doc', 'tags'] },
  'schemaless-delete': { op: 'delete', key: { id: 1 }, after: null },
  'schemaless-tombstone': { op: 'tombstone', key: { id: 1 }, table: expect.stringMatching(/^fixture_schemaless_/), schema: 'public' },
};
/** Captured on purpose to be refused (see below). */
const REFUSED = ['logical-message'];

function containsPlaceholder(value: Value | undefined): boolean {
  if (value === PLACEHOLDER) return true;
  if (Array.isArray(value)) return value.some(containsPlaceholder);
  if (value !== null && typeof value === 'object') return Object.values(value).some(containsPlaceholder);
  return false;
}

describe('decodeMessage on captured Debezium messages', () => {
  it('has an expectation for every captured fixture', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));
    expect(files.sort()).toEqual([...Object.keys(CASES), ...REFUSED].sort());
  });

  it.each(Object.entries(CASES))('%s', (name, expected) => {
    const fixture = load(name);
    const event = decodeMessage(messageOf(fixture));
    expect(event).toMatchObject(expected);
    expect(event.kafka).toEqual({ topic: fixture.topic, partition: fixture.partition, offset: fixture.offset });
    if (event.op === 'tombstone') {
      expect(fixture.valueRaw).toBeNull();
      return;
    }
    // The position is Debezium's own digits, never rounded through a double.
    expect(event.source.lsn).toBe(/"lsn":(\d+)/.exec(fixture.valueRaw!)![1]);
    expect(event.source.txId).toBe(Number(/"txId":(\d+)/.exec(fixture.valueRaw!)![1]));
    expect(event.source.commitTimeMs).toBe(Number(/"source":\{[^{}]*?"ts_ms":(\d+)/.exec(fixture.valueRaw!)![1]));
    if (event.op === 'truncate') return;
    expect(containsPlaceholder(event.before ?? null) || containsPlaceholder(event.after ?? null)).toBe(false);
    for (const column of event.unavailableColumns) {
      expect(event.after ?? {}).not.toHaveProperty(column);
      expect(event.before ?? {}).not.toHaveProperty(column);
    }
    if (event.after) expect(event.key.id).toBe(event.after.id);
  });

  it('keeps the key the same across a delete and its tombstone, one offset apart', () => {
    for (const [deleted, tombstone] of [['customers-delete', 'customers-tombstone'], ['customers-pk-update-delete', 'customers-pk-update-tombstone'], ['schemaless-delete', 'schemaless-tombstone']] as const) {
      const d = decode(deleted);
      const t = decode(tombstone);
      expect(t.key).toEqual(d.key);
      expect({ topic: t.kafka.topic, partition: t.kafka.partition }).toEqual({ topic: d.kafka.topic, partition: d.kafka.partition });
      expect(BigInt(t.kafka.offset)).toBe(BigInt(d.kafka.offset) + 1n);
    }
  });

  it('decodes a primary-key update as delete of the old key and create of the new one, in one transaction', () => {
    const deleted = row('customers-pk-update-delete');
    const created = row('customers-pk-update-create');
    expect(created.key.id).not.toBe(deleted.key.id);
    expect(created.source.txId).toBe(deleted.source.txId);
    expect(created.source.lsn).toBe(deleted.source.lsn);
    const { id: _oldId, updated_at: _u1, ...oldRest } = deleted.before!;
    const { id: _newId, updated_at: _u2, ...newRest } = created.after!;
    expect(newRest).toEqual(oldRest);
  });

  it('orders a row\'s changes by LSN', () => {
    expect(BigInt(row('customers-update').source.lsn)).toBeGreaterThan(BigInt(row('customers-create').source.lsn));
    expect(BigInt(row('customers-delete').source.lsn)).toBeGreaterThan(BigInt(row('customers-pk-update-create').source.lsn));
  });
});

describe('decodeMessage keeps 64-bit integers exact', () => {
  it('keeps an LSN beyond 2^53 digit for digit', () => {
    const f = load('customers-update');
    const event = decodeMessage(withValue(f, (raw) => raw.replace(/"lsn":\d+/, '"lsn":18446744073709551615')));
    expect(event.op !== 'tombstone' && event.source.lsn).toBe('18446744073709551615');
  });

  it('keeps an int8 key beyond 2^53 exact', () => {
    const f = load('types-create');
    const key = f.keyRaw!.replace('"payload":{"id":2}', '"payload":{"id":9223372036854775807}');
    expect(key).not.toBe(f.keyRaw);
    expect(decodeMessage(messageOf(f, { key: Buffer.from(key) })).key).toEqual({ id: '9223372036854775807' });
  });
});

describe('decodeMessage refuses what it cannot decode, with a DecodeError saying where and why', () => {
  const base = load('customers-create');
  const where = new RegExp(`topic ${base.topic} partition ${base.partition} offset ${base.offset}: `);

  it.each<[string, () => RawMessage, RegExp]>([
    ['bytes that are not UTF-8', () => messageOf(base, { value: Buffer.from([0xff, 0xfe, 0x00, 0x7b]) }), /not UTF-8/],
    ['text that is not JSON', () => messageOf(base, { value: Buffer.from('{"schema": {') }), /not valid JSON/],
    ['an empty value (not a null tombstone)', () => messageOf(base, { value: Buffer.alloc(0) }), /empty/],
    ['a payload without op (schema wrapper lost)', () => withValue(base, (raw) => raw.replace(/,"payload":.*\}$/, '}')), /no "op"/],
    ['a null payload with a schema', () => withValue(base, (raw) => raw.replace(/"payload":\{.*\}\}$/, '"payload":"oops"}')), /payload is not an object/],
    ['an unknown op', () => withValue(base, (raw) => raw.replace('"op":"c"', '"op":"x"')), /unknown op "x"/],
    ['a source without lsn', () => withValue(base, (raw) => raw.replace(/"lsn":\d+/, '"lsn":null')), /source\.lsn/],
    ['a value of the wrong type for its schema', () => withValue(base, (raw) => raw.replace('"first_name":"Fixture"', '"first_name":42')), /after\.first_name: expected a string/],
    ['a ZonedTimestamp that is not ISO-8601', () => withValue(base, (raw) => raw.replace('"created_at":"2026-11-24T09:15:38.123456Z"', '"created_at":"yesterday"')), /ZonedTimestamp/],
    ['a key that is not JSON', () => messageOf(base, { key: Buffer.from('id=1') }), /key is not valid JSON/],
  ])('%s', (_case, message, reason) => {
    let thrown: unknown;
    try {
      decodeMessage(message());
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DecodeError);
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toMatch(where);
    expect((thrown as Error).message).toMatch(reason);
    expect((thrown as Error).cause).toBeDefined();
  });

  it('refuses a Decimal whose schema lost its scale', () => {
    const f = load('decimal-precise-create');
    const message = withValue(f, (raw) => raw.replaceAll('"parameters":{"scale":"2","connect.decimal.precision":"12"}', '"parameters":{}'));
    expect(() => decodeMessage(message)).toThrow(/after\.amount: Decimal schema has no integer "scale"/);
  });

  it('refuses a logical decoding message (op m) clearly instead of dropping it', () => {
    expect(() => decode('logical-message')).toThrow(DecodeError);
    expect(() => decode('logical-message')).toThrow(/op "m" is a logical decoding message/);
  });

  it('refuses a tombstone whose topic does not name schema and table', () => {
    const f = load('customers-tombstone');
    expect(() => decodeMessage(messageOf(f, { topic: 'customers' }))).toThrow(/not <prefix>\.<schema>\.<table>/);
  });
});

describe('source commit time in microseconds and capture time', () => {
  it('keeps source.ts_us exactly and the envelope ts_ms', async () => {
    const { fixtureEvent } = await import('../helpers/fixtures.js');
    const event = fixtureEvent('orders-update');
    expect(event.op).toBe('update');
    if (event.op !== 'update') return;
    expect(event.source.commitTimeUs).toBe('1795513175790049');
    expect(event.source.commitTimeMs).toBe(1795513175790);
    expect(event.source.captureTimeMs).toBe(1795513176164);
  });
});
