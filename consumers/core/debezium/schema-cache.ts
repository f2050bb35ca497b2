/**
 * A fast path for `{"schema":...,"payload":...}` messages. The embedded schema is most of every
 * message (about 80% of the bytes) and is identical for all messages of a table version, so it is
 * parsed once and remembered by its exact text; only the payload is parsed per message.
 *
 * `splitEnvelope` recognises exactly the JSON converter's compact output (`{"schema":` first,
 * then `,"payload":`, no whitespace); for anything else it returns null and the caller parses the
 * whole text the slow way, so correctness never depends on this file.
 */
import { parseLossless, type LosslessJson } from '../json.js';
import { readSchema, type ConnectSchema } from './connect-schema.js';

const SCHEMA_PREFIX = '{"schema":';
const PAYLOAD_INFIX = ',"payload":';
/** Enough for every table and key schema of a large database; cleared (not evicted) when full. */
const MAX_SCHEMAS = 512;
const cache = new Map<string, ConnectSchema | null>();

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

/** The schema for this exact text, parsed and checked once. Throws like readSchema. */
export function cachedSchema(schemaText: string, what: string): ConnectSchema | null {
  const known = cache.get(schemaText);
  if (known !== undefined) return known;
  const json: LosslessJson = parseLossless(schemaText);
  const schema = json === null ? null : readSchema(json, `${what} schema`);
  if (cache.size >= MAX_SCHEMAS) cache.clear();
  cache.set(schemaText, schema);
  return schema;
}

/**
 * Index just past the JSON object/array/null starting at `start`, or -1. Only brackets outside
 * strings count; a malformed text yields -1 or a split that the payload parse then rejects.
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
