/**
 * What `verify` needs from each sink: its rows of a table read back in the ChangeEvent convention,
 * through the sink's own conversion code, with the row version the sink guards them by. One
 * implementation per sink: elasticsearch-reader.ts, redis-reader.ts, warehouse-reader.ts.
 */
import type { Row } from '../../consumers/core/change-event.js';
import type { SourceRow, TableInfo } from './source-rows.js';
import type { DriftItem, VerifySinkName } from './verify.js';

/** One row as a sink holds it. */
export interface SinkRow {
  /** The row's values; null when the sink holds it as deleted (a soft-delete marker, a delete marker). */
  readonly values: Row | null;
  /** The PostgreSQL LSN (decimal) of the change the sink's row reflects, when the sink records it. */
  readonly lsn: string | null;
}

export interface SinkReader {
  readonly name: VerifySinkName;
  /**
   * Null when the engine answers and holds data for this prefix/database; otherwise why not:
   * 'unreachable' (the engine does not answer) or 'empty' (nothing under the prefix/database).
   */
  skipReason(tables: readonly string[]): Promise<SkipReason | null>;
  /** Every row the sink holds for the table, by key text (see keyTextOf), deleted ones included. */
  readAll(info: TableInfo, onProgress: (done: number) => void): Promise<Map<string, SinkRow>>;
  /** The rows for these keys (absent from the map when the sink has nothing for a key). */
  readKeys(info: TableInfo, keys: readonly Row[]): Promise<Map<string, SinkRow>>;
  /**
   * The sink's own views beyond the rows (Redis' derived keys, the warehouse's change_log),
   * checked against the source rows: drift items of kind 'field' or 'duplicate'. `complete` is
   * false for a sample, where only checks on the sampled rows make sense.
   */
  derivedChecks?(info: TableInfo, source: ReadonlyMap<string, SourceRow>, complete: boolean): Promise<DriftItem[]>;
  /** Forget anything cached from an earlier pass (the settle loop re-reads from scratch). */
  forget?(): void;
  close(): Promise<void>;
}

export interface SkipReason {
  readonly kind: 'unreachable' | 'empty';
  readonly reason: string;
}
