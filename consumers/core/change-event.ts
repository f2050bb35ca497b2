/**
 * The one shape every sink sees: a Debezium change decoded once, in core, with values already
 * converted to exact JavaScript values. Sinks never parse Debezium JSON themselves.
 *
 * Value conventions (see consumers/core/debezium/):
 * - NUMERIC/DECIMAL            -> exact decimal string ("25000.00"), never a float
 * - int2/int4, int8 within ±(2^53-1) -> number; int8 beyond that -> decimal string
 * - float4/float8              -> number
 * - timestamp / timestamptz    -> ISO-8601 string keeping microseconds ("2026-11-24T09:15:38.123456Z")
 * - date                       -> "YYYY-MM-DD";  time -> "HH:MM:SS.ffffff"
 * - json/jsonb                 -> parsed value;  uuid/enum/text -> string;  arrays -> arrays
 * - unchanged-TOAST placeholder -> the column is ABSENT from the row and listed in
 *   `unavailableColumns`; it never appears as a value.
 */

/** A converted column value. */
export type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

/** A row (or key) with converted values, by column name. */
export type Row = Record<string, Value>;

/** Where the change came from in PostgreSQL. */
export interface SourcePosition {
  /**
   * The change's WAL position as a decimal string without leading zeros. Every sink write is
   * guarded by it: an event with an older (smaller) LSN never overwrites a newer one. Compare
   * with `compareLsn`, never as plain strings.
   */
  readonly lsn: string;
  /**
   * The order of this row version among all versions of the same row, as a decimal string:
   * compare with `compareLsn`. Every sink guards its writes by THIS, not by `lsn` (see
   * `rowVersion`): streamed changes are ordered by LSN, and every snapshot row sorts below every
   * streamed change.
   */
  readonly version: string;
  /** PostgreSQL transaction id, when Debezium reports one. */
  readonly txId: number | null;
  /** Source commit time in epoch milliseconds (Debezium `source.ts_ms`). */
  readonly commitTimeMs: number;
  /**
   * The same commit time in epoch MICROseconds, as decimal digits (Debezium `source.ts_us`,
   * PostgreSQL's own commit-time precision), when the connector sends it (Debezium 2.6+).
   */
  readonly commitTimeUs?: string;
  /** When Debezium captured the change, epoch milliseconds (the envelope's `ts_ms`), when sent. */
  readonly captureTimeMs?: number;
  /** True for rows read by the initial snapshot (op `read`). */
  readonly snapshot: boolean;
}

/** Where the message sits in Kafka. Offsets are strings, as kafkajs gives them. */
export interface KafkaPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

interface EventBase {
  /** Table name without schema, e.g. "orders". */
  readonly table: string;
  /** PostgreSQL schema, e.g. "public". */
  readonly schema: string;
  /** Primary-key columns (from the Kafka message key), converted. */
  readonly key: Row;
  readonly kafka: KafkaPosition;
}

/** An INSERT (`create`), UPDATE, DELETE or snapshot row (`read`). */
export interface RowChangeEvent extends EventBase {
  readonly op: 'create' | 'update' | 'delete' | 'read';
  /** The old row (full, since every captured table has REPLICA IDENTITY FULL); null for create/read. */
  readonly before: Row | null;
  /** The new row; null for delete. Unchanged-TOAST columns are absent (see `unavailableColumns`). */
  readonly after: Row | null;
  /** Columns Debezium could not supply (unchanged TOAST): keep whatever the sink already holds. */
  readonly unavailableColumns: readonly string[];
  readonly source: SourcePosition;
}

/** The null-valued message Debezium sends after a delete so that log compaction can drop the key. */
export interface TombstoneEvent extends EventBase {
  readonly op: 'tombstone';
}

/** A TRUNCATE of the whole table (only emitted if the connector is configured to send it). */
export interface TruncateEvent extends Omit<EventBase, 'key'> {
  readonly op: 'truncate';
  readonly key: Row;
  readonly source: SourcePosition;
}

export type ChangeEvent = RowChangeEvent | TombstoneEvent | TruncateEvent;

/**
 * Orders two LSN strings numerically: negative if a < b, 0 if equal, positive if a > b.
 * LSNs are unsigned 64-bit, so they are compared as BigInt, never as floats or plain strings.
 */
export function compareLsn(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** 2^64: added to a streamed change's LSN (an unsigned 64-bit number) so that it sorts above every snapshot row. */
export const STREAMED_VERSION_BASE = 1n << 64n;

/**
 * The version a sink stores and compares for a change at `lsn` (decimal digits), as decimal digits.
 *
 * Why not the LSN alone: a snapshot row carries the snapshot's LSN, but a transaction that was
 * open across the snapshot's consistent point and committed after it is streamed with change LSNs
 * BELOW that point, although it is newer than what the snapshot read. Every streamed change
 * follows the snapshot of its table, so streamed versions are `2^64 + lsn` and snapshot versions
 * are `lsn`. Among streamed changes of one row, LSN order is commit order (row locks serialise
 * writers); among snapshot rows (a re-snapshot), the later snapshot wins.
 *
 * Versions reach 2^65: compare them with `compareLsn` (BigInt), never as numbers. A sink whose
 * engine needs a smaller number (Elasticsearch's external version is a signed 64-bit long) maps
 * it itself and says how.
 */
export function rowVersion(lsn: string, snapshot: boolean): string {
  const value = BigInt(lsn);
  if (value < 0n) throw new RangeError(`LSN ${lsn} is negative`);
  return (snapshot ? value : STREAMED_VERSION_BASE + value).toString();
}
