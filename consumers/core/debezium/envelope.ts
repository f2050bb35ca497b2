/**
 * Debezium's change-event envelope (`{ before, after, source, op, ts_ms, ... }`) to a ChangeEvent.
 *
 * - op c/u/d/r -> create/update/delete/read; t -> truncate.
 * - op m (a logical decoding message from pg_logical_emit_message) carries no row and belongs on
 *   the connector's `<prefix>.message` topic, never on a table topic: it is rejected with an
 *   Error, so a stray one is dead-lettered rather than silently dropped.
 * - Position: `source.lsn` as exact digits, `source.txId`, `source.ts_ms` (commit time),
 *   `source.snapshot` ("true", "first", "last", "incremental", ... -> true; "false"/absent -> false),
 *   and the row version derived from LSN and snapshot flag (see rowVersion in change-event.ts).
 * Throws plain Errors; decode.ts adds the Kafka position.
 */
import { rowVersion, type KafkaPosition, type Row, type RowChangeEvent, type SourcePosition, type TruncateEvent } from '../change-event.js';
import { isLosslessNumber, type LosslessJson } from '../json.js';
import { fieldSchema, isJsonObject, type ConnectSchema, type JsonObject } from './connect-schema.js';
import { convertRow } from './convert-value.js';

const ROW_OPS = { c: 'create', u: 'update', d: 'delete', r: 'read' } as const;

/** `schema` is the whole value's Connect schema, or null for schemaless JSON. */
export function eventFromEnvelope(
  payload: LosslessJson,
  schema: ConnectSchema | null,
  key: Row,
  kafka: KafkaPosition,
): RowChangeEvent | TruncateEvent {
  if (!isJsonObject(payload)) throw new Error('value payload is not an object');
  const op = payload.op;
  if (typeof op !== 'string') throw new Error('value has no "op" (not a Debezium change event?)');
  if (op === 'm') {
    throw new Error('op "m" is a logical decoding message, not a row change; it belongs on the connector\'s message topic');
  }
  if (!isJsonObject(payload.source)) throw new Error('value has no "source" block');
  const source = payload.source;
  const table = text(source.table, 'source.table');
  const schemaName = text(source.schema, 'source.schema');
  const position = sourcePosition(source, payload);

  if (op === 't') return { op: 'truncate', table, schema: schemaName, key, kafka, source: position };
  if (!Object.hasOwn(ROW_OPS, op)) throw new Error(`unknown op ${JSON.stringify(op)}`);

  const before = rowImage(payload, schema, 'before');
  const after = rowImage(payload, schema, 'after');
  // A column may be unavailable in before (DELETE with default replica identity) and/or after.
  const unavailableColumns = [...new Set([...(after?.unavailableColumns ?? []), ...(before?.unavailableColumns ?? [])])];
  return {
    op: ROW_OPS[op as keyof typeof ROW_OPS],
    table,
    schema: schemaName,
    key,
    before: before?.row ?? null,
    after: after?.row ?? null,
    unavailableColumns,
    source: position,
    kafka,
  };
}

function rowImage(payload: JsonObject, schema: ConnectSchema | null, image: 'before' | 'after') {
  const value = payload[image] ?? null;
  if (value === null) return null;
  return convertRow(value, schema && fieldSchema(schema, image, 'value schema'), image);
}

function sourcePosition(source: JsonObject, payload: JsonObject): SourcePosition {
  const lsn = lsnDigits(source.lsn);
  if (lsn === undefined) throw new Error(`source.lsn is missing or not an unsigned integer`);
  const rawTxId = source.txId ?? null;
  const txId = rawTxId === null ? null : numberOf(rawTxId);
  if (txId === undefined) throw new Error('source.txId is not a number');
  const tsMs = numberOf(source.ts_ms);
  if (tsMs === undefined) throw new Error('source.ts_ms is missing or not a number');
  const snapshot = isSnapshot(source.snapshot ?? null);
  const position: { -readonly [K in keyof SourcePosition]: SourcePosition[K] } = {
    lsn,
    version: rowVersion(lsn, snapshot),
    txId,
    commitTimeMs: tsMs,
    snapshot,
  };
  // Optional: older Debezium versions send neither; a malformed one is left out rather than guessed.
  const tsUs = lsnDigits(source.ts_us);
  if (tsUs !== undefined) position.commitTimeUs = tsUs;
  const capturedMs = numberOf(payload.ts_ms);
  if (capturedMs !== undefined) position.captureTimeMs = capturedMs;
  return position;
}

/** The LSN as exact digits without leading zeros, or undefined when it is not an unsigned integer. */
function lsnDigits(lsn: LosslessJson | undefined): string | undefined {
  // A plain number comes from a native parse, which payload-parse.ts allows only when it is exact.
  if (typeof lsn === 'number') return Number.isSafeInteger(lsn) && lsn >= 0 ? String(lsn + 0) : undefined;
  return isLosslessNumber(lsn) && /^\d+$/.test(lsn.value) ? BigInt(lsn.value).toString() : undefined;
}

/** A JSON number as a JS number (these fields are well inside the safe range), or undefined. */
function numberOf(value: LosslessJson | undefined): number | undefined {
  if (typeof value === 'number') return value;
  return isLosslessNumber(value) ? Number(value.value) : undefined;
}

/** Debezium marks snapshot rows with "true", "first", "last", "first_in_data_collection", "incremental", ...; streamed rows with "false" or nothing. */
function isSnapshot(flag: LosslessJson): boolean {
  if (flag === null || flag === false || flag === 'false') return false;
  return flag === true || typeof flag === 'string';
}

function text(value: LosslessJson | undefined, path: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`${path} is missing or not a string`);
  return value;
}
