/**
 * The one entry point from a Kafka message to a ChangeEvent. Pure: no I/O, no clock, no state.
 *
 * Accepts the JSON converter's output with embedded schemas (`{ schema, payload }`, as the
 * project's connector config sets `schemas.enable=true`) and without (a plain payload; then only
 * what JSON itself says is converted, see convert-value.ts: exact types need schemas).
 * A null value is a tombstone; its table comes from the topic name `<prefix>.<schema>.<table>`.
 *
 * Failure contract: anything that cannot be decoded throws `DecodeError`. Decoding is
 * deterministic, so retrying cannot help: the runner treats it as permanent and dead-letters the
 * original message. This holds for every error raised while decoding, expected or not.
 */
import type { ChangeEvent, KafkaPosition, Row } from '../change-event.js';
import { parseLossless, type LosslessJson } from '../json.js';
import { isJsonObject, readSchema, type ConnectSchema } from './connect-schema.js';
import { convertRow } from './convert-value.js';
import { eventFromEnvelope } from './envelope.js';
import { parsePayload } from './payload-parse.js';
import { cachedSchema, knownSchemaAt, splitEnvelope, type KnownSchema } from './schema-cache.js';

/** A Kafka message as the runner hands it over (kafkajs shapes: offset as a string). */
export interface RawMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

/** A message that can never be decoded; the message says where it sits and what was wrong. */
export class DecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DecodeError';
  }
}

/** Decodes one Kafka message into a ChangeEvent. Throws DecodeError (permanent: the runner dead-letters the message) for anything it cannot decode. Pure, no I/O. */
export function decodeMessage(message: RawMessage): ChangeEvent {
  const kafka: KafkaPosition = { topic: message.topic, partition: message.partition, offset: message.offset };
  try {
    const key = decodeKey(message.key);
    const value = message.value === null ? null : parseEnvelope(message.value, 'value');
    if (value === null || value.payload === null) return { op: 'tombstone', ...tableFromTopic(message.topic), key, kafka };
    return eventFromEnvelope(value.payload, value.schema, key, kafka);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new DecodeError(
      `cannot decode Debezium message at topic ${message.topic} partition ${message.partition} offset ${message.offset}: ${detail}`,
      { cause: error },
    );
  }
}

interface Unwrapped {
  readonly schema: ConnectSchema | null;
  readonly payload: LosslessJson;
}

/** `{ schema, payload }` (schemas.enable=true) or a bare payload (schemas.enable=false). */
function parseEnvelope(buffer: Buffer, what: 'key' | 'value'): Unwrapped {
  // Fast path: the embedded schema is parsed once per distinct schema and recognised by its bytes
  // (see schema-cache.ts); only the payload is decoded, natively when that is exact (payload-parse.ts).
  const hit = knownSchemaAt(buffer, what);
  if (hit) return withPayload(hit.known, utf8(buffer.subarray(hit.payloadStart, hit.payloadEnd), what), what);
  if (buffer.length === 0) throw new Error(`${what} is empty (a tombstone has a null value, not an empty one)`);
  const text = utf8(buffer, what);
  const split = splitEnvelope(text);
  if (split) return withPayload(cachedSchema(split.schemaText, what), split.payloadText, what);
  return unwrap(parseJson(text, what), what);
}

function withPayload(known: KnownSchema, payloadText: string, what: 'key' | 'value'): Unwrapped {
  try {
    return { schema: known.schema, payload: parsePayload(payloadText, known.nativeParse) };
  } catch (error) {
    throw new Error(`${what} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

function unwrap(json: LosslessJson, what: string): Unwrapped {
  if (isJsonObject(json) && Object.keys(json).length === 2 && 'schema' in json && 'payload' in json) {
    const schema = json.schema ?? null;
    return { schema: schema === null ? null : readSchema(schema, `${what} schema`), payload: json.payload ?? null };
  }
  return { schema: null, payload: json };
}

/** The primary key from the message key; {} when the key is null (truncate, tables without a key). */
function decodeKey(buffer: Buffer | null): Row {
  if (buffer === null) return {};
  const { schema, payload } = parseEnvelope(buffer, 'key');
  if (payload === null) return {};
  return convertRow(payload, schema, 'key').row;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function utf8(buffer: Buffer, what: 'key' | 'value'): string {
  try {
    return utf8Decoder.decode(buffer);
  } catch (error) {
    throw new Error(`${what} is not UTF-8 text (is the connector using the JSON converter?)`, { cause: error });
  }
}

function parseJson(text: string, what: 'key' | 'value'): LosslessJson {
  try {
    return parseLossless(text);
  } catch (error) {
    throw new Error(`${what} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** `<prefix>.<schema>.<table>` (the prefix itself may contain dots). */
function tableFromTopic(topic: string): { schema: string; table: string } {
  const parts = topic.split('.');
  if (parts.length < 3) throw new Error(`tombstone on topic "${topic}" that is not <prefix>.<schema>.<table>`);
  return { schema: parts[parts.length - 2]!, table: parts[parts.length - 1]! };
}
