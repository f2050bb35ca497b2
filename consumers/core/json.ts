/**
 * Lossless JSON: Debezium writes int64 values (LSNs, `ts_ns`, int8 columns) as bare JSON numbers
 * that may exceed 2^53, where `JSON.parse` would silently round them. `parseLossless` keeps every
 * number as its exact source text (a `LosslessNumber`, from the `lossless-json` library); callers
 * decide, with a schema when they have one, what each number becomes.
 */
import { isLosslessNumber, isSafeNumber, parse, type LosslessNumber } from 'lossless-json';
import type { Value } from './change-event.js';

export { isLosslessNumber, type LosslessNumber };

/**
 * A parsed JSON value whose numbers are exact: either their source text (`LosslessNumber`, from
 * `parseLossless`) or plain numbers, from a native `JSON.parse` that was proven exact for the text
 * (see consumers/core/debezium/payload-parse.ts). Code reading numbers accepts both.
 */
export type LosslessJson = null | boolean | string | number | LosslessNumber | LosslessJson[] | { [key: string]: LosslessJson };

/**
 * Parses JSON text keeping numbers exact. Throws SyntaxError on malformed JSON. A duplicate key
 * keeps its last value, as `JSON.parse` does and as PostgreSQL does when a `json` value becomes
 * `jsonb` (a `json` column may hold duplicate keys: that is data, not an error).
 */
export function parseLossless(text: string): LosslessJson {
  return parse(text, undefined, { onDuplicateKey: ({ newValue }) => newValue }) as LosslessJson;
}

/**
 * Parses JSON text to a plain `Value`, numbers as `exactNumber` makes them: equal to
 * `toPlainJson(parseLossless(text))`, but with native `JSON.parse` (several times faster) when no
 * number in the text can come out differently, see `mayHoldInexactNumber`.
 */
export function parsePlainJson(text: string): Value {
  if (!mayHoldInexactNumber(text)) {
    try {
      return JSON.parse(text) as Value;
    } catch {
      // Fall through: the lossless parser's error says where and what.
    }
  }
  return toPlainJson(parseLossless(text));
}

/**
 * False only when `JSON.parse` gives every number exactly the value `exactNumber` gives: every
 * number is at most 15 digits and has no exponent, so a double holds it (integers below 10^15,
 * decimals of at most 15 significant digits round-trip). The test is on the raw text, strings
 * included, so a string holding such characters only costs the lossless parse.
 */
function mayHoldInexactNumber(text: string): boolean {
  return /[0-9.]{16}|\d[eE]/.test(text);
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
  if (value === null || typeof value === 'boolean' || typeof value === 'string' || typeof value === 'number') return value;
  if (isLosslessNumber(value)) return exactNumber(value);
  if (Array.isArray(value)) return value.map(toPlainJson);
  // fromEntries defines own properties, so a key like "__proto__" stays a plain key.
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toPlainJson(item)]));
}
