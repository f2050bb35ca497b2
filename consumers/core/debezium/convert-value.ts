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
import { exactNumber, isLosslessNumber, parsePlainJson, type LosslessJson } from '../json.js';
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
  const converted: ConvertedRow = { row: {}, unavailableColumns: [] };
  if (schema) {
    for (const columnSchema of schema.fields ?? []) {
      const column = columnSchema.field ?? '';
      addColumn(converted, column, convertValue(value[column] ?? null, columnSchema, `${path}.${column}`));
    }
  } else {
    for (const column of Object.keys(value)) addColumn(converted, column, convertUntyped(value[column] ?? null));
  }
  return converted;
}

function addColumn({ row, unavailableColumns }: ConvertedRow, column: string, value: Converted): void {
  if (value === UNAVAILABLE) unavailableColumns.push(column);
  // A column named "__proto__" must become a column, not the row's prototype.
  else if (column === '__proto__') Object.defineProperty(row, column, { value, enumerable: true, writable: true, configurable: true });
  else row[column] = value;
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
      return parsePlainJson(text);
    } catch (error) {
      throw new Error(`${p}: Json column is not valid JSON (${(error as Error).message})`, { cause: error });
    }
  },
};

/** Source column types for which a float64 is a NUMERIC sent in `decimal.handling.mode=double`. */
const NUMERIC_SOURCE_TYPES = new Set(['NUMERIC', 'DECIMAL', 'MONEY']);

/**
 * In double mode a NUMERIC is indistinguishable from a float8 unless the connector sets
 * column.propagate.source.type; when it does, the column keeps the decimal-string convention,
 * written from the number's text (the value was already rounded to a double by Debezium: double
 * mode is lossy at the source). Such a value needs its text: see payload-parse.ts.
 */
export function keepsNumberText(schema: ConnectSchema): boolean {
  if (!['float', 'double', 'float32', 'float64'].includes(schema.type)) return false;
  const sourceType = schema.parameters?.['__debezium.source.column.type'];
  return sourceType !== undefined && NUMERIC_SOURCE_TYPES.has(sourceType.toUpperCase());
}

function convertByType(value: LosslessJson, schema: ConnectSchema, path: string): Converted {
  switch (schema.type) {
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64': {
      // A plain number (native parse) is a safe integer by construction; + 0 turns -0 into 0, as BigInt does.
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value + 0;
      const exact = integer(value, path);
      return Number.isSafeInteger(Number(exact)) ? Number(exact) : exact.toString();
    }
    case 'float': // the JSON converter's names for Connect FLOAT32 / FLOAT64
    case 'double':
    case 'float32':
    case 'float64': {
      // Jackson writes non-finite doubles as the strings "NaN", "Infinity", "-Infinity".
      if (typeof value === 'string' && /^(NaN|-?Infinity)$/.test(value)) return Number(value);
      if (keepsNumberText(schema)) return decimalFromNumberText(numberText(value, path));
      // JSON.parse and Number() round a decimal text to the same double.
      return typeof value === 'number' ? value : Number(numberText(value, path));
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
  if (typeof value === 'number') return value; // exact by construction (see payload-parse.ts)
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

/** A number's source text. Only a lossless parse keeps it: a plain number here means payload-parse.ts chose the native parse for a schema that needed text. */
function numberText(value: LosslessJson, path: string): string {
  if (isLosslessNumber(value)) return value.value;
  if (typeof value === 'number') throw new Error(`${path}: the number's text is needed but the payload was parsed natively (a bug in nativeParseMode)`);
  throw new Error(`${path}: expected a number, got ${describe(value)}`);
}

/** An integer, exactly (as BigInt: int64 epoch values may exceed 2^53). */
function integer(value: LosslessJson, path: string): bigint {
  if (typeof value === 'number') {
    // A plain number is exact by construction (payload-parse.ts); one beyond 2^53 could only come from an exponent.
    if (!Number.isSafeInteger(value)) throw new Error(`${path}: expected an integer, got ${value}`);
    return BigInt(value);
  }
  const text = numberText(value, path);
  if (!/^-?\d+$/.test(text)) throw new Error(`${path}: expected an integer, got ${text}`);
  return BigInt(text);
}

function describe(value: LosslessJson | undefined): string {
  if (value === undefined) return 'nothing';
  if (isLosslessNumber(value)) return `number ${value.value}`;
  if (typeof value === 'number') return `number ${value}`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
