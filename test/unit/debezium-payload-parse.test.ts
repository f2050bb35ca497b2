/**
 * The native `JSON.parse` fast path (consumers/core/debezium/payload-parse.ts and
 * `parsePlainJson` in consumers/core/json.ts) must never change a decoded event. Checked three ways:
 * - on every captured fixture: the event from the fast path equals the event from the lossless
 *   parse, and the fixtures that should take the native parse do;
 * - on real messages edited to hold the hard cases: integers beyond 2^53 in a row, a column
 *   named ts_ns, long digit runs and `,"payload":` inside strings, multi-byte UTF-8;
 * - on the predicates themselves, case by case.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, stringify } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import type { ChangeEvent, RowChangeEvent } from '../../consumers/core/change-event.js';
import type { ConnectSchema } from '../../consumers/core/debezium/connect-schema.js';
import { DecodeError, decodeMessage, type RawMessage } from '../../consumers/core/debezium/decode.js';
import { eventFromEnvelope } from '../../consumers/core/debezium/envelope.js';
import { nativeParseIsExact, nativeParseMode, payloadParser } from '../../consumers/core/debezium/payload-parse.js';
import { cachedSchema, knownSchemaAt, splitEnvelope } from '../../consumers/core/debezium/schema-cache.js';
import { parseLossless, parsePlainJson, toPlainJson } from '../../consumers/core/json.js';

interface Fixture { topic: string; partition: number; offset: string; keyRaw: string | null; valueRaw: string | null }
const FIXTURES = resolve(import.meta.dirname, '../fixtures/debezium');
const load = (name: string): Fixture => JSON.parse(readFileSync(resolve(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
const withSchemas = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json') && f !== 'logical-message.json')
  .map((f) => [f.replace(/\.json$/, ''), load(f.replace(/\.json$/, ''))] as const)
  .filter(([, f]) => f.valueRaw?.startsWith('{"schema":'));

const message = (f: Fixture, key: string | null, value: string | Buffer | null): RawMessage => ({
  topic: f.topic, partition: f.partition, offset: f.offset,
  key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value),
});
/** The same JSON, losslessly re-written with indentation: the decoder then parses the whole message losslessly. */
const reindented = (text: string) => stringify(parse(text), undefined, 1)!;
const decodeLossless = (m: RawMessage): ChangeEvent =>
  decodeMessage({ ...m, key: m.key && Buffer.from(reindented(m.key.toString())), value: m.value && Buffer.from(reindented(m.value.toString())) });
/** The parser the value's payload takes (the schema is cached as a side effect, as in decoding). */
const valueParser = (valueRaw: string) => {
  const split = splitEnvelope(valueRaw)!;
  return payloadParser(split.payloadText, cachedSchema(split.schemaText, 'value').nativeParse);
};

describe('on every captured fixture', () => {
  it.each(withSchemas)('%s: the fast path decodes to exactly the lossless event', (_name, f) => {
    const m = message(f, f.keyRaw, f.valueRaw);
    expect(decodeMessage(m)).toStrictEqual(decodeLossless(m));
    // The same, one level down: the envelope converted from each parse of the payload, where the native one is taken.
    if (valueParser(f.valueRaw!) === 'lossless') return;
    const split = splitEnvelope(f.valueRaw!)!;
    const { schema } = cachedSchema(split.schemaText, 'value');
    const kafka = { topic: f.topic, partition: f.partition, offset: f.offset };
    const native = eventFromEnvelope(JSON.parse(split.payloadText), schema, {}, kafka);
    expect(native).toStrictEqual(eventFromEnvelope(parseLossless(split.payloadText), schema, {}, kafka));
  });

  it('the shop tables take the native parse; a row integer beyond 2^53 or a NUMERIC needing its text does not', () => {
    const parsers = Object.fromEntries(withSchemas.map(([name, f]) => [name, valueParser(f.valueRaw!)]));
    for (const name of ['customers-create', 'customers-update', 'orders-create', 'orders-update', 'order-items-create', 'products-create', 'types-snapshot-read', 'decimal-precise-create']) {
      expect(parsers[name], name).toBe('native');
    }
    expect(parsers['types-create']).toBe('lossless'); // big: 9007199254740993
    expect(parsers['types-update']).toBe('lossless');
    expect(parsers['decimal-double-source-type-create']).toBe('lossless'); // '25000.0' needs the text
  });

  it('a key always takes the native parse when its integers allow', () => {
    const f = load('orders-update');
    const split = splitEnvelope(f.keyRaw!)!;
    expect(payloadParser(split.payloadText, cachedSchema(split.schemaText, 'key').nativeParse)).toBe('native');
  });
});

/** A real customers-create message whose row schema and `after` are replaced: one new table per call. */
const base = load('customers-create');
const baseSplit = splitEnvelope(base.valueRaw!)!;
let tables = 0;
function customMessage(columns: object[], afterJson: string): RawMessage {
  const schema = JSON.parse(baseSplit.schemaText) as { fields: { field: string; fields?: object[]; name?: string }[] };
  const table = `custom_${++tables}`;
  for (const field of schema.fields) {
    if (field.field === 'before' || field.field === 'after') {
      field.fields = [{ type: 'int32', optional: false, field: 'id' }, ...columns];
      field.name = `ecommerce.public.${table}.Value`; // a new schema text per table, as Debezium names them
    }
  }
  const payload = baseSplit.payloadText.replace(/"after":\{[^{}]*\}/, `"after":${afterJson}`);
  expect(payload).not.toBe(baseSplit.payloadText);
  return message(base, base.keyRaw, `{"schema":${JSON.stringify(schema)},"payload":${payload}}`);
}
const after = (m: RawMessage) => (decodeMessage(m) as RowChangeEvent).after!;
const int64 = (field: string) => ({ type: 'int64', optional: true, field });
const text = (field: string) => ({ type: 'string', optional: true, field });

describe('hard cases on edited real messages (fast path vs lossless parse)', () => {
  it.each([
    ['9007199254740993', '9007199254740993', 'lossless'], // 2^53 + 1
    ['-9007199254740993', '-9007199254740993', 'lossless'],
    ['9007199254740992', '9007199254740992', 'lossless'], // a double holds 2^53, but it is beyond the safe range
    ['12345678901234567890', '12345678901234567890', 'lossless'],
    ['9007199254740991', 9007199254740991, 'native'], // the largest safe integer: 16 digits, still native
    ['-1234567890123456', -1234567890123456, 'native'],
    ['42', 42, 'native'],
  ] as const)('an int8 column holding %s becomes %j (%s parse)', (raw, expected, parser) => {
    const m = customMessage([int64('big')], `{"id":1,"big":${raw}}`);
    expect(valueParser(m.value!.toString())).toBe(parser);
    expect(after(m)).toStrictEqual({ id: 1, big: expected });
    expect(decodeMessage(m)).toStrictEqual(decodeLossless(m));
  });

  it.each(['ts_ns', 'ts_us', 'event_ts_ns', 'a"ts_ns'])('a column named %s turns off ignoring Debezium\'s ts_us/ts_ns', (column) => {
    const m = customMessage([int64(column)], `{"id":1,${JSON.stringify(column)}:1795513176164559903}`);
    const split = splitEnvelope(m.value!.toString())!;
    expect(cachedSchema(split.schemaText, 'value').nativeParse).toBe('native');
    expect(valueParser(m.value!.toString())).toBe('lossless'); // the envelope's own ts_ns now counts
    expect(after(m)).toStrictEqual({ id: 1, [column]: '1795513176164559903' }); // not 1795513176164559900
    expect(decodeMessage(m)).toStrictEqual(decodeLossless(m));
  });

  it('without such a column, the envelope\'s 19-digit ts_ns does not stop the native parse', () => {
    const m = customMessage([int64('counter')], '{"id":1,"counter":7}');
    expect(m.value!.toString()).toMatch(/"ts_ns":\d{19}/);
    expect(valueParser(m.value!.toString())).toBe('native');
    expect(after(m)).toStrictEqual({ id: 1, counter: 7 });
  });

  it.each([
    ['#12345678901234567890', 'native'], // after '#': inside a string
    ['12345678901234567890', 'native'], // after the opening quote
    ['abe12345678901234567890', 'native'], // an e after a letter is no exponent
    ['card 12345678901234567890', 'lossless'], // after a space it could be a number: the safe choice
    ['1e12345678901234567890', 'lossless'], // looks like an exponent
    ['x:12345678901234567890', 'lossless'],
    ['ts_ns":12345678901234567890', 'lossless'], // an escaped quote is no key
  ] as const)('a string %j keeps every digit (%s parse)', (note, parser) => {
    const m = customMessage([text('note')], `{"id":1,"note":${JSON.stringify(note)}}`);
    expect(valueParser(m.value!.toString())).toBe(parser);
    expect(after(m)).toStrictEqual({ id: 1, note });
    expect(decodeMessage(m)).toStrictEqual(decodeLossless(m));
  });

  it('a string holding ,"payload": in the payload', () => {
    const note = 'x,"payload":{"before":null},"payload":1}';
    const m = customMessage([text('note')], `{"id":1,"note":${JSON.stringify(note)}}`);
    expect(after(m)).toStrictEqual({ id: 1, note });
    expect(decodeMessage(m)).toStrictEqual(decodeLossless(m));
  });

  it('a schema holding ,"payload": (a parameter of that name) decodes right, the first time and when cached', () => {
    const column = { type: 'string', optional: true, parameters: { a: '1', payload: '{"x":2}' }, field: 'note' };
    const m = customMessage([column], '{"id":1,"note":"n"}');
    expect(m.value!.indexOf(',"payload":')).toBeLessThan(m.value!.toString().indexOf(baseSplit.payloadText.slice(0, 20)) - 11);
    const expected = decodeLossless(m);
    expect(decodeMessage(m)).toStrictEqual(expected);
    expect(knownSchemaAt(m.value!, 'value')).not.toBeNull(); // found as the most recent schema, not by the first ,"payload":
    expect(decodeMessage(m)).toStrictEqual(expected);
    expect((expected as RowChangeEvent).after).toStrictEqual({ id: 1, note: 'n' });
  });

  it('multi-byte UTF-8 in the payload, and invalid UTF-8 there refused on the cached path', () => {
    const note = 'Zoë, Łódź, 東京, 🚀';
    const m = customMessage([text('note')], `{"id":1,"note":${JSON.stringify(note)}}`);
    expect(after(m)).toStrictEqual({ id: 1, note });
    const broken = Buffer.from(m.value!);
    broken.set([0xff, 0xfe], broken.indexOf(Buffer.from('Zo')));
    expect(knownSchemaAt(broken, 'value')).not.toBeNull();
    expect(() => decodeMessage({ ...m, value: broken })).toThrow(DecodeError);
    expect(() => decodeMessage({ ...m, value: broken })).toThrow(/value is not UTF-8/);
  });

  it('a schema of the same length but other bytes is not taken for a cached one', () => {
    const m = customMessage([int64('aaaa')], '{"id":1,"aaaa":5,"aaab":6}');
    expect(after(m)).toStrictEqual({ id: 1, aaaa: 5 });
    const same = Buffer.from(m.value!.toString().replaceAll('"field":"aaaa"', '"field":"aaab"'));
    expect(same.length).toBe(m.value!.length);
    expect(knownSchemaAt(same, 'value')).toBeNull();
    expect(after({ ...m, value: same })).toStrictEqual({ id: 1, aaab: 6 });
  });

  it('a cached schema followed by anything but ,"payload": is left to the whole-message parse', () => {
    const f = load('orders-update');
    decodeMessage(message(f, f.keyRaw, f.valueRaw)); // cache the schema (and make it the most recent)
    const spaced = f.valueRaw!.replace(',"payload":', ',"payload" :');
    expect(knownSchemaAt(Buffer.from(spaced), 'value')).toBeNull();
    const m = message(f, f.keyRaw, spaced);
    expect(decodeMessage(m)).toStrictEqual(decodeLossless(message(f, f.keyRaw, f.valueRaw)));
  });

  it('refuses an empty or malformed payload after a cached schema as invalid JSON', () => {
    const f = load('orders-update');
    decodeMessage(message(f, f.keyRaw, f.valueRaw)); // cache the schema
    for (const payload of ['', '{"op":"u",}', '{"op":"u"} x']) {
      const value = f.valueRaw!.replace(/,"payload":.*\}$/, `,"payload":${payload}}`);
      expect(knownSchemaAt(Buffer.from(value), 'value')).not.toBeNull();
      expect(() => decodeMessage(message(f, f.keyRaw, value))).toThrow(/value is not valid JSON/);
    }
  });

  it('interleaved tables: each message is decoded with its own schema', () => {
    const names = ['orders-create', 'customers-create', 'orders-update', 'products-create', 'orders-create', 'types-create', 'orders-update'];
    for (const name of names) {
      const f = load(name);
      const m = message(f, f.keyRaw, f.valueRaw);
      expect(decodeMessage(m)).toStrictEqual(decodeLossless(m));
    }
  });
});

describe('nativeParseIsExact', () => {
  it.each<[string, boolean, boolean]>([
    ['{"a":123456789012345}', false, true],
    ['{"a":9007199254740991}', false, true],
    ['{"a":9007199254740992}', false, false],
    ['{"a":[1,-12345678901234567]}', false, false],
    ['{"a":0.12345678901234567}', false, false], // a fraction's digits count too (the safe choice)
    ['{"a":1.5e12345678901234567}', false, false],
    ['12345678901234567', false, false], // a bare number
    ['{"ts_ns":1795513176164559903}', false, false],
    ['{"ts_ns":1795513176164559903}', true, true],
    ['{"ts_us":17955131761645599031}', true, true],
    ['{"x_ts_ns":1795513176164559903}', true, false],
    ['{"a":"ts_ns\\":1795513176164559903"}', true, false], // inside a string, but after ':' it could be a number
    ['{"a":"#1795513176164559903"}', false, true],
    ['{"a":"1795513176164559903"}', false, true],
    ['{"a":"x1795513176164559903y"}', false, true],
    ['{"a":"1e1795513176164559903"}', false, false],
    ['{"a": 1795513176164559903}', false, false],
    [`{"a":"${'7'.repeat(100)}","b":1${'0'.repeat(30)}}`, false, false], // found after a long run too
    [`{"a":"${'ab12'.repeat(100)}"}`, false, true],
  ])('%s (ignoring Debezium timestamps: %s) -> %s', (json, ignore, exact) => {
    expect(nativeParseIsExact(json, ignore)).toBe(exact);
  });

  it('finds every long run wherever it starts (the scan probes every 16th character)', () => {
    for (let offset = 0; offset < 40; offset++) {
      for (const length of [15, 16, 17, 25]) {
        const json = `{"p":"${'x'.repeat(offset)}","n":${'9'.repeat(length)}}`;
        expect(nativeParseIsExact(json, false), `offset ${offset}, ${length} digits`).toBe(length < 16);
        // Right after another run, one character apart.
        for (const before of [1, 15, 16]) {
          const pair = `{"p":"${'x'.repeat(offset)}","n":[${'1'.repeat(before)},${'9'.repeat(length)}]}`;
          expect(nativeParseIsExact(pair, false), `offset ${offset}, ${before} then ${length} digits`).toBe(length < 16);
        }
      }
    }
  });
});

describe('nativeParseMode', () => {
  const struct = (field: string, fields: ConnectSchema[]): ConnectSchema => ({ type: 'struct', optional: true, field, fields });
  const envelope = (...columns: ConnectSchema[]): ConnectSchema => ({
    type: 'struct', optional: false,
    fields: [struct('before', columns), struct('after', columns), struct('source', [{ type: 'int64', optional: false, field: 'ts_ns' }]), { type: 'int64', optional: true, field: 'ts_ns' }],
  });
  const column = (type: string, field: string, extra: Partial<ConnectSchema> = {}): ConnectSchema => ({ type, optional: true, field, ...extra });

  it.each<[string, ConnectSchema | null, 'key' | 'value', string]>([
    ['no schema', null, 'value', 'lossless'],
    ['a key', struct('', [column('int64', 'ts_ns')]), 'key', 'native'],
    ['plain columns', envelope(column('int64', 'id'), column('string', 'name')), 'value', 'native-ignoring-debezium-timestamps'],
    ['a ts_us column', envelope(column('int64', 'ts_us')), 'value', 'native'],
    ['a column ending in ts_ns', envelope(column('int64', 'created_ts_ns')), 'value', 'native'],
    ['a nested struct field ts_ns', envelope(struct('meta', [column('int64', 'ts_ns')])), 'value', 'native'],
    ['an array of structs with ts_us', envelope(column('array', 'items', { items: struct('', [column('int64', 'ts_us')]) })), 'value', 'native'],
    ['a map column (its keys are data)', envelope(column('map', 'm', { keys: column('string', ''), values: column('int64', '') })), 'value', 'native'],
    ['a double-mode NUMERIC with its source type', envelope(column('double', 'price', { parameters: { '__debezium.source.column.type': 'NUMERIC' } })), 'value', 'lossless'],
    ['a float8 with its source type', envelope(column('double', 'ratio', { parameters: { '__debezium.source.column.type': 'FLOAT8' } })), 'value', 'native-ignoring-debezium-timestamps'],
    ['not an envelope', struct('', [column('int64', 'ts_ns')]), 'value', 'native'],
  ])('%s -> %s', (_case, schema, what, mode) => {
    expect(nativeParseMode(schema, what)).toBe(mode);
  });
});

describe('parsePlainJson (Json columns) equals the lossless parse made plain', () => {
  const numbers = [
    '0', '-0', '1.50', '-0.0', '0.0000001', '100.5', '123456789012345', '1234567890123456', '9007199254740993',
    '12345678.12345678', '0.1234567890123456789', '1e400', '1E2', '-2.5e-7', '5e-324', '1.7976931348623157e308', '12345678901234.5',
  ];
  it.each(numbers)('%s', (n) => {
    for (const json of [n, `[${n}]`, `{"a":{"b":[${n},"${n}"]}}`]) {
      expect(parsePlainJson(json)).toStrictEqual(toPlainJson(parseLossless(json)));
    }
  });

  it('on 5,000 random decimals of up to 15 digits', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      const digits = Array.from({ length: 1 + Math.floor(random() * 15) }, () => Math.floor(random() * 10)).join('').replace(/^0+(?=\d)/, '');
      const point = Math.floor(random() * digits.length);
      const n = `${random() < 0.3 ? '-' : ''}${point === 0 ? digits : `${digits.slice(0, point)}.${digits.slice(point)}`}`;
      expect(parsePlainJson(`[${n}]`), n).toStrictEqual(toPlainJson(parseLossless(`[${n}]`)));
    }
  });

  it('keeps the last of duplicate keys on both paths (a json column may hold them; PostgreSQL keeps the last in jsonb)', () => {
    expect(parsePlainJson('{"a":1,"b":2,"a":3}')).toStrictEqual({ a: 3, b: 2 });
    expect(parsePlainJson('{"a":12345678901234567890,"a":3}')).toStrictEqual({ a: 3 });
    expect(toPlainJson(parseLossless('{"a":1,"a":{"x":1}}'))).toStrictEqual({ a: { x: 1 } });
  });

  it('keeps a "__proto__" key a key', () => {
    const parsed = parsePlainJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses malformed JSON with the lossless parser\'s message', () => {
    expect(() => parsePlainJson('{"a":1,}')).toThrow(SyntaxError);
    expect(() => parsePlainJson('{"a":1,}')).toThrow(/Quoted object key expected/);
  });
});
