/**
 * Row values between the change-event convention (exact JS values, see consumers/core/change-event.ts)
 * and the warehouse's typed BSON (see table-catalog.ts), both ways, losing nothing:
 *
 *   toDocument({ total_amount: '25000.00', created_at: '2026-11-24T10:00:00.123456Z', ... })
 *     -> { total_amount: Decimal128('25000.00'), created_at: ISODate('2026-11-24T10:00:00.123Z'),
 *          _exact: { created_at: '2026-11-24T10:00:00.123456Z' }, ... }
 *   fromDocument(that) -> the original row again (Decimal128 -> its string, the date -> the exact string)
 *
 * A value that does not fit its column's kind (a NUMERIC column holding "lots") throws
 * PermanentError: the same event will never convert, so it is dead-lettered.
 */
import { Decimal128, Long } from 'mongodb';
import type { Row, Value } from '../core/change-event.js';
import { PermanentError } from '../core/errors.js';
import type { ColumnKind, TableDefinition } from './table-catalog.js';

/** The sub-document holding each timestamp column's exact ISO text (microseconds, UTC). */
export const EXACT_FIELD = '_exact';

/** BSON values the warehouse writes (what the driver serialises). */
export type BsonValue = null | boolean | number | string | Date | Decimal128 | Long | BsonValue[] | { [key: string]: BsonValue };
export type BsonDocument = { [key: string]: BsonValue };

const DECIMAL = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;
const INTEGER = /^-?\d+$/;
const ISO_TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;
const ISO_DATE = /^\d{4}-\d\d-\d\d$/;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** The typed document for `row` (values only: no `_id`, no bookkeeping). Throws PermanentError on a value that does not fit. */
export function toDocument(row: Row, table: TableDefinition, tableName: string): BsonDocument {
  const document: BsonDocument = {};
  let exact: Record<string, string> | undefined;
  for (const [column, value] of Object.entries(row)) {
    const kind = table.columns[column];
    if (kind === undefined || value === null) {
      document[column] = value as BsonValue;
      continue;
    }
    document[column] = typedValue(kind, value, `${tableName}.${column}`);
    if (kind === 'timestamp') (exact ??= {})[column] = value as string;
  }
  if (exact) document[EXACT_FIELD] = exact;
  return document;
}

function typedValue(kind: ColumnKind, value: Value, path: string): BsonValue {
  switch (kind) {
    case 'decimal':
      // Decimal128 keeps 34 significant digits: PostgreSQL's numeric(12,2) and far more. NaN and
      // infinities (legal in PostgreSQL's numeric) have Decimal128 forms too.
      if (typeof value === 'string' && (DECIMAL.test(value) || /^(-?Infinity|NaN)$/.test(value))) {
        let decimal: Decimal128 | undefined;
        try {
          decimal = Decimal128.fromString(value);
        } catch {
          // js-bson refuses a text it would have to round
        }
        if (decimal && (/^(-?Infinity|NaN)$/.test(value) || decimalText(decimal) === canonicalDecimal(value))) return decimal;
        throw new PermanentError(`${path}: ${value} has more digits than Decimal128 keeps exactly (34)`);
      }
      if (typeof value === 'number' && Number.isSafeInteger(value)) return Decimal128.fromString(String(value));
      throw new PermanentError(`${path}: expected an exact decimal string for a NUMERIC column, got ${JSON.stringify(value)}`);
    case 'int8': {
      const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : typeof value === 'string' && INTEGER.test(value) ? value : null;
      const big = text === null ? null : BigInt(text);
      if (big === null || big < INT8_MIN || big > INT8_MAX) throw new PermanentError(`${path}: expected a 64-bit integer, got ${JSON.stringify(value)}`);
      return Long.fromBigInt(big);
    }
    case 'timestamp': {
      if (typeof value !== 'string' || !ISO_TIMESTAMP.test(value)) {
        throw new PermanentError(`${path}: expected an ISO-8601 UTC timestamp, got ${JSON.stringify(value)}`);
      }
      const date = dateFromIso(value);
      if (Number.isNaN(date.getTime())) throw new PermanentError(`${path}: ${value} is not a valid instant`);
      return date;
    }
    case 'date': {
      if (typeof value !== 'string' || !ISO_DATE.test(value)) throw new PermanentError(`${path}: expected YYYY-MM-DD, got ${JSON.stringify(value)}`);
      const date = new Date(`${value}T00:00:00Z`);
      if (Number.isNaN(date.getTime())) throw new PermanentError(`${path}: ${value} is not a valid date`);
      return date;
    }
  }
}

/** A BSON date (millisecond precision) for an ISO timestamp with up to 9 fraction digits. */
export function dateFromIso(iso: string): Date {
  const match = ISO_TIMESTAMP.exec(iso);
  if (!match) throw new PermanentError(`expected an ISO-8601 UTC timestamp, got ${JSON.stringify(iso)}`);
  const millis = (match[2] ?? '').padEnd(3, '0').slice(0, 3);
  return new Date(`${match[1]}.${millis}Z`);
}

/** The row again from a typed document (inverse of toDocument); `_id`, `_cdc` and `_exact` are left out. */
export function fromDocument(document: Record<string, unknown>, table: TableDefinition): Row {
  const exact = (document[EXACT_FIELD] ?? {}) as Record<string, string>;
  const row: Row = {};
  for (const [column, value] of Object.entries(document)) {
    if (column === '_id' || column === '_cdc' || column === EXACT_FIELD) continue;
    const kind = table.columns[column];
    row[column] = kind === undefined || value === null ? plainValue(value) : untypedValue(kind, value, exact[column]);
  }
  return row;
}

function untypedValue(kind: ColumnKind, value: unknown, exactText: string | undefined): Value {
  switch (kind) {
    case 'decimal':
      return value instanceof Decimal128 ? decimalText(value) : plainValue(value);
    case 'int8': {
      if (!(value instanceof Long) && typeof value !== 'bigint' && typeof value !== 'number') return plainValue(value);
      const big = value instanceof Long ? value.toBigInt() : BigInt(value as number | bigint);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
    }
    case 'timestamp':
      if (exactText !== undefined) return exactText;
      return value instanceof Date ? `${value.toISOString().slice(0, 23)}000Z` : plainValue(value);
    case 'date':
      return value instanceof Date ? value.toISOString().slice(0, 10) : plainValue(value);
  }
}

/** Untyped values back to the event convention: sub-documents and arrays element-wise, longs exact. */
function plainValue(value: unknown): Value {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') return value;
  if (value instanceof Long) return untypedValue('int8', value, undefined);
  if (value instanceof Decimal128) return decimalText(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plainValue);
  if (typeof value === 'object') {
    const out: Record<string, Value> = {};
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) out[key] = plainValue(inner);
    return out;
  }
  return String(value);
}

/** Decimal128's text in the change-event form: plain digits ("25000.00"), no exponent. */
export function decimalText(decimal: Decimal128): string {
  const text = decimal.toString();
  if (!/[eE]/.test(text)) return text;
  return canonicalDecimal(text);
}

/** "2.5E+3" / "25.00E-1" -> plain digits, keeping the scale (trailing zeros) the exponent implies. */
function canonicalDecimal(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) return text;
  const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
  const exponent = Number(exponentText) - fraction.length;
  let digits = (whole + fraction).replace(/^0+(?=\d)/, '');
  if (exponent >= 0) return `${sign}${digits}${'0'.repeat(exponent)}`;
  const scale = -exponent;
  digits = digits.padStart(scale + 1, '0');
  return `${sign}${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
}
