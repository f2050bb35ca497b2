/**
 * Lossless JSON: Debezium writes int64 values (LSNs, `ts_ns`, int8 columns) as bare JSON numbers
 * that may exceed 2^53, where `JSON.parse` would silently round them. `parseLossless` keeps every
 * number as its exact source text (a `LosslessNumber`, from the `lossless-json` library); callers
 * decide, with a schema when they have one, what each number becomes.
 */
import { isLosslessNumber, isSafeNumber, parse, type LosslessNumber } from 'lossless-json';
import type { Value } from './change-event.js';

export { isLosslessNumber, type LosslessNumber };

/** A parsed JSON value whose numbers are still exact text. */
export type LosslessJson = null | boolean | string | LosslessNumber | LosslessJson[] | { [key: string]: LosslessJson };

/** Parses JSON text keeping numbers exact. Throws SyntaxError on malformed JSON (and on duplicate keys). */
export function parseLossless(text: string): LosslessJson {
  return parse(text) as LosslessJson;
}

/**
 * A JSON number as a JS value without losing anything: a `number` when a double holds it exactly
 * (every integer within ±(2^53-1), and decimals like 19.99), otherwise its decimal text, e.g.
 * "9007199254740993" or "0.1234567890123456789".
 */
export function exactNumber(number: LosslessNumber): number | string {
  const text = number.value;
  if (/^-?\d+$/.test(text)) {
    const asNumber = Number(text);
    // BigInt normalises "-0" and leading zeros without rounding.
    return Number.isSafeInteger(asNumber) ? asNumber : BigInt(text).toString();
  }
  return isSafeNumber(text) ? Number(text) : text;
}

/** Converts a lossless-parsed value to a plain `Value`, numbers via `exactNumber`. */
export function toPlainJson(value: LosslessJson): Value {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (isLosslessNumber(value)) return exactNumber(value);
  if (Array.isArray(value)) return value.map(toPlainJson);
  // fromEntries defines own properties, so a key like "__proto__" stays a plain key.
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toPlainJson(item)]));
}
