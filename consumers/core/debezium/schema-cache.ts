/**
 * A fast path for `{"schema":...,"payload":...}` messages. The embedded schema is most of every
 * message (about 75% of the bytes) and is identical for all messages of a table version, so it is
 * parsed once and remembered by its exact bytes; per message only the payload is decoded.
 *
 * Per message, `knownSchemaAt` compares the raw bytes after `{"schema":` with the schema of the
 * previous message, and if that is not it, finds the first `,"payload":` and compares the bytes
 * before it with the cached schemas of that length (byte comparisons: exact, no hash decides
 * anything). This is right because every cached schema text was proven, when it was
 * parsed, to be exactly one JSON value (an object, or null): such a value ends where its own text
 * says, so when the bytes after `{"schema":` start with a cached schema followed by
 * `,"payload":`, that schema IS the message's schema and what follows is the payload, whatever
 * the strings inside may contain. Working on bytes also spares decoding the schema part to text.
 *
 * On a miss the caller decodes the whole text and uses `splitEnvelope`, a bracket scan that
 * recognises exactly the JSON converter's compact output, then `cachedSchema`, which parses,
 * checks and remembers the schema text. For any other layout `splitEnvelope` returns null and
 * the caller parses the whole text the slow way, so correctness never depends on this file.
 */
import { parseLossless, type LosslessJson } from '../json.js';
import { readSchema, type ConnectSchema } from './connect-schema.js';
import { nativeParseMode, type NativeParseMode } from './payload-parse.js';

/** A schema seen before, with what it allows for parsing its payloads. */
export interface KnownSchema {
  readonly schema: ConnectSchema | null;
  readonly nativeParse: NativeParseMode;
}

type What = 'key' | 'value';

const SCHEMA_PREFIX = '{"schema":';
const PAYLOAD_INFIX = ',"payload":';
const SCHEMA_PREFIX_BYTES = Buffer.from(SCHEMA_PREFIX);
const PAYLOAD_INFIX_BYTES = Buffer.from(PAYLOAD_INFIX);
const CLOSING_BRACE = 0x7d;
/** Enough for every table and key schema of a large database; cleared (not evicted) when full. */
const MAX_SCHEMAS = 512;

interface Entry {
  readonly bytes: Buffer;
  readonly known: KnownSchema;
}

interface Cache {
  /** By byte length: lengths rarely collide. */
  readonly byLength: Map<number, Entry[]>;
  size: number;
  /** The last schema found: consecutive messages (a batch is one topic) mostly share it. */
  recent?: Entry;
}

/** Key and value schemas apart (the parse mode depends on which it is). */
const caches: Record<What, Cache> = { key: { byLength: new Map(), size: 0 }, value: { byLength: new Map(), size: 0 } };

const SCHEMA_START = SCHEMA_PREFIX_BYTES.length;

/**
 * The cached schema a compact `{"schema":...,"payload":...}` message starts with, and where its
 * payload bytes start and end; null when the layout differs or the schema was not seen yet.
 */
export function knownSchemaAt(bytes: Buffer, what: What): { known: KnownSchema; payloadStart: number; payloadEnd: number } | null {
  if (bytes.length <= SCHEMA_START || bytes[bytes.length - 1] !== CLOSING_BRACE) return null;
  if (bytes.compare(SCHEMA_PREFIX_BYTES, 0, SCHEMA_START, 0, SCHEMA_START) !== 0) return null;
  const cache = caches[what];
  let entry = cache.recent !== undefined && startsWithSchema(bytes, cache.recent) ? cache.recent : undefined;
  if (entry === undefined) {
    const infix = bytes.indexOf(PAYLOAD_INFIX_BYTES, SCHEMA_START);
    if (infix < 0) return null;
    entry = cache.byLength.get(infix - SCHEMA_START)?.find((candidate) => startsWithSchema(bytes, candidate));
    if (entry === undefined) return null;
    cache.recent = entry;
  }
  return { known: entry.known, payloadStart: SCHEMA_START + entry.bytes.length + PAYLOAD_INFIX_BYTES.length, payloadEnd: bytes.length - 1 };
}

/** The bytes after `{"schema":` are exactly `entry`'s, then `,"payload":`, then at least one more byte. */
function startsWithSchema(bytes: Buffer, entry: Entry): boolean {
  const end = SCHEMA_START + entry.bytes.length;
  return (
    bytes.length > end + PAYLOAD_INFIX_BYTES.length &&
    bytes.compare(entry.bytes, 0, entry.bytes.length, SCHEMA_START, end) === 0 &&
    bytes.compare(PAYLOAD_INFIX_BYTES, 0, PAYLOAD_INFIX_BYTES.length, end, end + PAYLOAD_INFIX_BYTES.length) === 0
  );
}

/** `{ schemaText, payloadText }` for the compact JSON converter layout, else null. */
export function splitEnvelope(text: string): { schemaText: string; payloadText: string } | null {
  if (!text.startsWith(SCHEMA_PREFIX) || !text.endsWith('}')) return null;
  const schemaEnd = endOfValue(text, SCHEMA_PREFIX.length);
  if (schemaEnd < 0 || !text.startsWith(PAYLOAD_INFIX, schemaEnd)) return null;
  return {
    schemaText: text.slice(SCHEMA_PREFIX.length, schemaEnd),
    payloadText: text.slice(schemaEnd + PAYLOAD_INFIX.length, text.length - 1),
  };
}

/** The schema for this exact text, parsed and checked once (then found by `knownSchemaAt` too). Throws like readSchema. */
export function cachedSchema(schemaText: string, what: What): KnownSchema {
  const bytes = Buffer.from(schemaText, 'utf8');
  const cache = caches[what];
  const candidates = cache.byLength.get(bytes.length) ?? [];
  const found = candidates.find((candidate) => candidate.bytes.equals(bytes));
  if (found) {
    cache.recent = found;
    return found.known;
  }
  // The parse proves the text is exactly one JSON value, which `knownSchemaAt` relies on.
  const json: LosslessJson = parseLossless(schemaText);
  const schema = json === null ? null : readSchema(json, `${what} schema`);
  const known: KnownSchema = { schema, nativeParse: nativeParseMode(schema, what) };
  if (cache.size >= MAX_SCHEMAS) {
    cache.byLength.clear();
    cache.size = 0;
    cache.recent = undefined;
  }
  const entry: Entry = { bytes, known };
  cache.byLength.set(bytes.length, [...(cache.byLength.get(bytes.length) ?? []), entry]);
  cache.size++;
  cache.recent = entry;
  return known;
}

/**
 * Index just past the JSON object/array/null starting at `start`, or -1. Only brackets outside
 * strings count; a malformed text yields -1 or a split that the parses then reject.
 */
function endOfValue(text: string, start: number): number {
  if (text.startsWith('null', start)) return start + 4;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
