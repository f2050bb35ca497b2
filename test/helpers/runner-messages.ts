/**
 * Debezium messages for the runner's integration tests and the benchmark: a REAL captured create
 * message (test/fixtures/debezium/, written by scripts/capture-fixtures.ts) used as a template,
 * with only the primary key, the LSN and the commit time varied. Everything else (schema, field
 * types, envelope) is byte-for-byte what Debezium produced, so the runner decodes exactly what it
 * would in production.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LosslessNumber, parse, stringify } from 'lossless-json';

/** RUNNER_FIXTURES_DIR only points the benchmark at another capture; tests use the committed fixtures. */
const FIXTURES = process.env.RUNNER_FIXTURES_DIR ?? resolve(import.meta.dirname, '../fixtures/debezium');

type Json = null | boolean | string | LosslessNumber | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface MessageTemplate {
  /** Fixture file the template came from. */
  readonly source: string;
  readonly key: JsonObject;
  readonly value: JsonObject;
}

const isObject = (value: Json | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof LosslessNumber);

/** `{schema, payload}` envelopes (schemas.enable=true) or bare payloads. */
function payloadOf(message: JsonObject): JsonObject {
  const payload = 'schema' in message && 'payload' in message ? message.payload : message;
  if (!isObject(payload)) throw new Error('fixture message has no object payload');
  return payload;
}

/** Fixture files tried first: a create on the shop's orders table, then any create. */
const PREFERRED = /orders.*create|create.*orders/;

/**
 * Loads a captured create (op "c") message with a one-column integer key `id` and an `after.id`.
 * Throws, naming the directory, when no such fixture has been captured yet.
 */
export function loadTemplate(): MessageTemplate {
  const files = existsSync(FIXTURES) ? readdirSync(FIXTURES).filter((file) => file.endsWith('.json')).sort() : [];
  const ordered = [...files.filter((file) => PREFERRED.test(file)), ...files.filter((file) => !PREFERRED.test(file))];
  for (const file of ordered) {
    const fixture = parse(readFileSync(resolve(FIXTURES, file), 'utf8')) as JsonObject;
    if (typeof fixture.keyRaw !== 'string' || typeof fixture.valueRaw !== 'string') continue;
    const key = parse(fixture.keyRaw) as Json;
    const value = parse(fixture.valueRaw) as Json;
    if (!isObject(key) || !isObject(value)) continue;
    const keyPayload = payloadOf(key);
    const valuePayload = payloadOf(value);
    const after = valuePayload.after;
    if (valuePayload.op !== 'c' || Object.keys(keyPayload).join() !== 'id' || !isObject(after) || !('id' in after)) continue;
    return { source: file, key, value };
  }
  throw new Error(`no captured Debezium create message with an integer "id" key in ${FIXTURES}; run scripts/capture-fixtures.ts against the stack`);
}

export interface Variation {
  /** Primary key (and after.id). */
  id: number;
  /** WAL position; give each key increasing LSNs to check per-key order. */
  lsn: bigint | number;
  /** Source commit time, epoch ms (default now). */
  commitTimeMs?: number;
}

/** The template with key, LSN and commit time replaced, as Kafka key/value bytes. */
export function vary(template: MessageTemplate, variation: Variation): { key: Buffer; value: Buffer } {
  const key = structuredCloneJson(template.key);
  const value = structuredCloneJson(template.value);
  const id = new LosslessNumber(String(variation.id));
  const ts = new LosslessNumber(String(variation.commitTimeMs ?? Date.now()));
  payloadOf(key).id = id;
  const payload = payloadOf(value);
  (payload.after as JsonObject).id = id;
  const source = payload.source as JsonObject;
  source.lsn = new LosslessNumber(String(variation.lsn));
  source.ts_ms = ts;
  // Later Debezium versions also carry microsecond/nanosecond commit times; keep them consistent.
  if ('ts_us' in source) source.ts_us = new LosslessNumber(`${ts.value}000`);
  if ('ts_ns' in source) source.ts_ns = new LosslessNumber(`${ts.value}000000`);
  return { key: Buffer.from(stringify(key) ?? 'null'), value: Buffer.from(stringify(value) ?? 'null') };
}

/**
 * `updatesPerKey` rounds over the keys 1..`keys`, one event per key per round, LSNs increasing
 * by `lsnStep` from `lsnAfter` (exclusive) in production order: per key, Kafka order = LSN order.
 * Returns the messages in production order and, per key JSON ('{"id":7}'), its LSNs in order.
 */
export function interleavedUpdates(
  template: MessageTemplate,
  options: { keys: number; updatesPerKey: number; lsnAfter: bigint; lsnStep?: bigint },
): { messages: { key: Buffer; value: Buffer }[]; expected: Map<string, string[]> } {
  const messages: { key: Buffer; value: Buffer }[] = [];
  const expected = new Map<string, string[]>();
  let lsn = options.lsnAfter;
  for (let update = 0; update < options.updatesPerKey; update++) {
    for (let id = 1; id <= options.keys; id++) {
      lsn += options.lsnStep ?? 8n;
      messages.push(vary(template, { id, lsn }));
      const key = JSON.stringify({ id });
      expected.set(key, [...(expected.get(key) ?? []), lsn.toString()]);
    }
  }
  return { messages, expected };
}

/** The key bytes alone (for a poison value on a real key, so it lands in that key's partition). */
export function keyFor(template: MessageTemplate, id: number): Buffer {
  return vary(template, { id, lsn: 1 }).key;
}

/** Bytes no decoder can read: not UTF-8, not JSON. */
export const POISON_VALUE = Buffer.from([0xff, 0xfe, 0x00, 0x42, 0xc3, 0x28, 0x7b, 0x7b]);

function structuredCloneJson<T extends Json>(value: T): T {
  return parse(stringify(value) ?? 'null') as T;
}
