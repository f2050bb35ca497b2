/**
 * The schema fast path must never change a decoded event: it is checked against the plain
 * whole-message parse on every captured fixture, and on layouts it must decline.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, stringify } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { decodeMessage, type RawMessage } from '../../consumers/core/debezium/decode.js';
import { cachedSchema, splitEnvelope } from '../../consumers/core/debezium/schema-cache.js';

interface Fixture { topic: string; partition: number; offset: string; keyRaw: string | null; valueRaw: string | null }
const FIXTURES = resolve(import.meta.dirname, '../fixtures/debezium');
const withSchemas = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json') && f !== 'logical-message.json')
  .map((f) => [f, JSON.parse(readFileSync(resolve(FIXTURES, f), 'utf8')) as Fixture] as const)
  .filter(([, f]) => f.valueRaw?.startsWith('{"schema":'));

const message = (f: Fixture, key: string | null, value: string | null): RawMessage => ({
  topic: f.topic, partition: f.partition, offset: f.offset,
  key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value),
});
/** The same JSON, losslessly re-written with indentation: not the converter's compact layout. */
const reindented = (text: string) => stringify(parse(text), undefined, 1)!;

describe('splitEnvelope', () => {
  it('finds at least the schema-carrying fixtures', () => {
    expect(withSchemas.length).toBeGreaterThan(20);
  });

  it.each(withSchemas)('%s: schema and payload texts are exactly the two halves', (_name, f) => {
    const split = splitEnvelope(f.valueRaw!)!;
    expect(split).not.toBeNull();
    expect(`{"schema":${split.schemaText},"payload":${split.payloadText}}`).toBe(f.valueRaw);
    const whole = parse(f.valueRaw!) as { schema: unknown; payload: unknown };
    expect(parse(split.schemaText)).toEqual(whole.schema);
    expect(parse(split.payloadText)).toEqual(whole.payload);
  });

  it.each(withSchemas)('%s: decodes to the same event as the whole-message parse', (_name, f) => {
    const fast = decodeMessage(message(f, f.keyRaw, f.valueRaw));
    const slow = decodeMessage(message(f, f.keyRaw && reindented(f.keyRaw), reindented(f.valueRaw!)));
    expect(slow).toStrictEqual(fast);
  });

  it('keeps brackets and quotes inside strings out of the nesting count', () => {
    const text = '{"schema":{"type":"struct","name":"a}\\"{[","fields":[]},"payload":{"x":"}"}}';
    expect(splitEnvelope(text)).toEqual({ schemaText: '{"type":"struct","name":"a}\\"{[","fields":[]}', payloadText: '{"x":"}"}' });
  });

  it('handles a null schema and declines other layouts', () => {
    expect(splitEnvelope('{"schema":null,"payload":{"id":1}}')).toEqual({ schemaText: 'null', payloadText: '{"id":1}' });
    expect(splitEnvelope('{"payload":{"id":1},"schema":null}')).toBeNull();
    expect(splitEnvelope('{"schema": null, "payload": {"id": 1}}')).toBeNull();
    expect(splitEnvelope('{"id":1}')).toBeNull();
    expect(splitEnvelope('{"schema":{"type":"struct"')).toBeNull();
  });
});

describe('cachedSchema', () => {
  it('parses a schema text once and returns the same object after', () => {
    const text = '{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false}';
    const first = cachedSchema(text, 'key');
    expect(first.schema).toEqual({ type: 'struct', optional: false, fields: [{ type: 'int32', optional: false, field: 'id' }] });
    expect(first.nativeParse).toBe('native');
    expect(cachedSchema(text, 'key')).toBe(first);
  });

  it('does not remember a schema it refused', () => {
    expect(() => cachedSchema('{"fields":[]}', 'value')).toThrow(/value schema: schema has no "type"/);
    expect(() => cachedSchema('{"fields":[]}', 'value')).toThrow(/no "type"/);
  });
});
