/**
 * Column values from Debezium JSON to the JS values of the ChangeEvent contract
 * (consumers/core/change-event.ts), driven by the embedded Connect schema.
 *
 * With a schema (`schemas.enable=true`, which the project's connector config uses) every type is
 * exact: NUMERIC -> decimal string, int64 -> number or (beyond 2^53) decimal string, temporal
 * types -> ISO strings, Json -> parsed, arrays/structs/maps element-wise. `bytes` without a
 * logical name (bytea) stays the base64 string the JSON converter wrote.
 *
 * Without a schema (`schemas.enable=false`) only what the JSON itself says can be known: numbers
 * stay numbers (or decimal strings beyond 2^53), everything else is left as Debezium wrote it, so
 * a NUMERIC in precise mode stays base64, a timestamp stays epoch micros, a jsonb stays a string.
 *
 * In both modes Debezium's unchanged-TOAST placeholder (`__debezium_unavailable_value`, its base64
 * form for bytea, or an array holding it) makes the column ABSENT: `convertRow` leaves it out and
 * lists it in `unavailableColumns`. Errors are plain Errors naming the column; decode.ts wraps them.
 */
import type { Row, Value } from '../change-event.js';
import { exactNumber, isLosslessNumber, parseLossless, toPlainJson, type LosslessJson, type LosslessNumber } from '../json.js';
import { isJsonObject, type ConnectSchema } from './connect-schema.js';
import { decimalFromBytes, decimalFromNumberText, decimalFromVariableScale } from './decimal.js';
import {
  dateFromEpochDays,
  isoFromEpochMicros,
  isoFromEpochMillis,
  isoFromEpochNanos,
  normaliseZonedTimestamp,
  timeFromMicros,
  timeFromMillis,
  timeFromNanos,
} from './temporal.js';

/** Debezium's default `unavailable.value.placeholder`; the project's connector keeps the default. */
export const UNAVAILABLE_PLACEHOLDER = '__debezium_unavailable_value';
/** The same placeholder in a bytea column: its UTF-8 bytes, base64-encoded by the JSON converter. */
const UNAVAILABLE_PLACEHOLDER_BASE64 = Buffer.from(UNAVAILABLE_PLACEHOLDER, 'utf8').toString('base64');

const UNAVAILABLE = Symbol('unavailable');
type Converted = Value | typeof UNAVAILABLE;

export interface ConvertedRow {
  readonly row: Row;
  /** Columns that held the unchanged-TOAST placeholder, left out of `row`. */
  readonly unavailableColumns: string[];
}

/** Converts a row struct (before, after or the key). `schema` null means schemaless JSON. */
export function convertRow(value: LosslessJson | undefined, schema: ConnectSchema | null, path: string): ConvertedRow {
  if (!isJsonObject(value)) throw new Error(`${path}: expected an object, got ${describe(value)}`);
  if (schema !== null && schema.type !== 'struct') throw new Error(`${path}: schema type is "${schema.type}", expected "struct"`);
  const entries: [string, Value][] = [];
  const unavailableColumns: string[] = [];
  const columns = schema ? (schema.fields ?? []).map((f) => [f.field ?? '', f] as const) : Object.keys(value).map((c) => [c, null] as const);
  for (const [column, columnSchema] of columns) {
    const raw = value[column] ?? null;
    const converted = columnSchema ? convertValue(raw, columnSchema, `${path}.${column}`) : convertUntyped(raw);
    if (converted === UNAVAILABLE) unavailableColumns.push(column);
    else entries.push([column, converted]);
  }
  // fromEntries defines own properties, so even a column named "__proto__" stays a column.
  return { row: Object.fromEntries(entries), unavailableColumns };
}

function convertValue(value: LosslessJson, schema: ConnectSchema, path: string): Converted {
  if (value === null) return null;
  if (isPlaceholder(value)) return UNAVAILABLE;
  const logical = schema.name === undefined ? undefined : LOGICAL_TYPES[schema.name];
  if (!logical) return convertByType(value, schema, path);
  try {
    return logical(value, schema, path);
  } catch (error) {
    // decimal.ts and temporal.ts do not know the column: name it.
    const message = error instanceof Error ? error.message : String(error);
    throw message.startsWith(`${path}`) ? error : new Error(`${path}: ${message}`, { cause: error });
  }
}

type Converter = (value: LosslessJson, schema: ConnectSchema, path: string) => Converted;

const fromMillis: Converter = (v, _s, p) => isoFromEpochMillis(integer(v, p));
const fromDays: Converter = (v, _s, p) => dateFromEpochDays(integer(v, p));
const fromTimeMillis: Converter = (v, _s, p) => timeFromMillis(integer(v, p));

/** Logical types by Connect schema name. Names not listed (Uuid, Enum, EnumSet, ZonedTime, Xml, ...) convert by their base type. */
const LOGICAL_TYPES: Readonly<Record<string, Converter>> = {
  'org.apache.kafka.connect.data.Decimal': (v, s, p) => decimalFromBytes(string(v, p), s.parameters?.scale),
  'io.debezium.data.VariableScaleDecimal': (v, _s, p) => {
    if (!isJsonObject(v)) throw new Error(`${p}: VariableScaleDecimal is not a {scale, value} struct`);
    if (isPlaceholder(v.value ?? null)) return UNAVAILABLE;
    return decimalFromVariableScale(Number(integer(v.scale ?? null, `${p}.scale`)), string(v.value ?? null, `${p}.value`));
  },
  'io.debezium.time.Timestamp': fromMillis,
  'org.apache.kafka.connect.data.Timestamp': fromMillis,
  'io.debezium.time.MicroTimestamp': (v, _s, p) => isoFromEpochMicros(integer(v, p)),
  'io.debezium.time.NanoTimestamp': (v, _s, p) => isoFromEpochNanos(integer(v, p)),
  'io.debezium.time.ZonedTimestamp': (v, _s, p) => normaliseZonedTimestamp(string(v, p)),
  'io.debezium.time.Date': fromDays,
  'org.apache.kafka.connect.data.Date': fromDays,
  'io.debezium.time.Time': fromTimeMillis,
  'org.apache.kafka.connect.data.Time': fromTimeMillis,
  'io.debezium.time.MicroTime': (v, _s, p) => timeFromMicros(integer(v, p)),
  'io.debezium.time.NanoTime': (v, _s, p) => timeFromNanos(integer(v, p)),
  'io.debezium.data.Json': (v, _s, p) => {
    const text = string(v, p);
    try {
      return toPlainJson(parseLossless(text));
    } catch (error) {
      throw new Error(`${p}: Json column is not valid JSON (${(error as Error).message})`, { cause: error });
    }
  },
};

/** Source column types for which a float64 is a NUMERIC sent in `decimal.handling.mode=double`. */
const NUMERIC_SOURCE_TYPES = new Set(['NUMERIC', 'DECIMAL', 'MONEY']);

function convertByType(value: LosslessJson, schema: ConnectSchema, path: string): Converted {
  switch (schema.type) {
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64': {
      const exact = integer(value, path);
      return Number.isSafeInteger(Number(exact)) ? Number(exact) : exact.toString();
    }
    case 'float': // the JSON converter's names for Connect FLOAT32 / FLOAT64
    case 'double':
    case 'float32':
    case 'float64': {
      // Jackson writes non-finite doubles as the strings "NaN", "Infinity", "-Infinity".
      if (typeof value === 'string' && /^(NaN|-?Infinity)$/.test(value)) return Number(value);
      const text = number(value, path).value;
      // In double mode a NUMERIC is indistinguishable from a float8 unless the connector sets
      // column.propagate.source.type; when it does, keep the decimal-string convention (the value
      // was already rounded to a double by Debezium: double mode is lossy at the source).
      const sourceType = schema.parameters?.['__debezium.source.column.type'];
      return sourceType && NUMERIC_SOURCE_TYPES.has(sourceType.toUpperCase()) ? decimalFromNumberText(text) : Number(text);
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw new Error(`${path}: expected a boolean, got ${describe(value)}`);
      return value;
    case 'string':
    case 'bytes': // base64, as the JSON converter wrote it
      return string(value, path);
    case 'array': {
      if (!Array.isArray(value)) throw new Error(`${path}: expected an array, got ${describe(value)}`);
      const items = schema.items;
      if (!items) throw new Error(`${path}: array schema has no "items"`);
      return allAvailable(value.map((item, i) => convertValue(item, items, `${path}[${i}]`)));
    }
    case 'map':
      return convertMap(value, schema, path);
    case 'struct': {
      const { row, unavailableColumns } = convertRow(value, schema, path);
      return unavailableColumns.length > 0 ? UNAVAILABLE : row;
    }
    default:
      throw new Error(`${path}: unknown Connect schema type "${schema.type}"`);
  }
}

/** A map with string keys is a JSON object; any other key type is an array of [key, value] pairs. */
function convertMap(value: LosslessJson, schema: ConnectSchema, path: string): Converted {
  const { keys, values } = schema;
  if (!keys || !values) throw new Error(`${path}: map schema has no "keys"/"values"`);
  if (isJsonObject(value)) {
    const entries = Object.entries(value).map(([key, item]) => [key, convertValue(item, values, `${path}.${key}`)] as const);
    if (entries.some(([, item]) => item === UNAVAILABLE)) return UNAVAILABLE;
    return Object.fromEntries(entries) as Row;
  }
  if (!Array.isArray(value)) throw new Error(`${path}: expected a map, got ${describe(value)}`);
  return allAvailable(
    value.map((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw new Error(`${path}[${i}]: map entry is not a [key, value] pair`);
      return allAvailable([convertValue(pair[0]!, keys, `${path}[${i}].key`), convertValue(pair[1]!, values, `${path}[${i}].value`)]);
    }),
  );
}

/** Schemaless: numbers made exact, the placeholder recognised, everything else as written. */
function convertUntyped(value: LosslessJson): Converted {
  if (value === null || typeof value === 'boolean') return value;
  if (isPlaceholder(value)) return UNAVAILABLE;
  if (typeof value === 'string') return value;
  if (isLosslessNumber(value)) return exactNumber(value);
  if (Array.isArray(value)) return allAvailable(value.map(convertUntyped));
  const entries = Object.entries(value).map(([key, item]) => [key, convertUntyped(item)] as const);
  return entries.some(([, item]) => item === UNAVAILABLE) ? UNAVAILABLE : (Object.fromEntries(entries) as Row);
}

function isPlaceholder(value: LosslessJson): boolean {
  return value === UNAVAILABLE_PLACEHOLDER || value === UNAVAILABLE_PLACEHOLDER_BASE64;
}

/** A collection holding the placeholder anywhere (Debezium sends `[placeholder]` for an array) is unavailable as a whole. */
function allAvailable(items: Converted[]): Converted {
  return items.some((item) => item === UNAVAILABLE) ? UNAVAILABLE : (items as Value[]);
}

function string(value: LosslessJson, path: string): string {
  if (typeof value !== 'string') throw new Error(`${path}: expected a string, got ${describe(value)}`);
  return value;
}

function number(value: LosslessJson, path: string): LosslessNumber {
  if (!isLosslessNumber(value)) throw new Error(`${path}: expected a number, got ${describe(value)}`);
  return value;
}

/** An integer, exactly (as BigInt: int64 epoch values may exceed 2^53). */
function integer(value: LosslessJson, path: string): bigint {
  const text = number(value, path).value;
  if (!/^-?\d+$/.test(text)) throw new Error(`${path}: expected an integer, got ${text}`);
  return BigInt(text);
}

function describe(value: LosslessJson | undefined): string {
  if (value === undefined) return 'nothing';
  if (isLosslessNumber(value)) return `number ${value.value}`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
