/**
 * `verify`: proves that every sink holds exactly what PostgreSQL holds (issue 13, item 1).
 *
 * Contract (the library interface; scripts/verify/main.ts is the CLI over it):
 * - Reads a consistent snapshot of the shop tables from PostgreSQL (REPEATABLE READ, with
 *   pg_current_wal_lsn() as `snapshotLsn`), values in the ChangeEvent convention (NUMERIC as
 *   exact decimal strings, int8 beyond 2^53 as strings, timestamps as ISO strings with
 *   microseconds, jsonb parsed), and compares each row with what each configured sink stores,
 *   read back through the sink's own conversion code.
 * - Rows that differ are re-read from the sink until the sink has passed the snapshot (its
 *   stored row version is at or past `snapshotLsn`) or `settleTimeoutMs` passes; only then are
 *   they reported. So a run never cries wolf while changes are in flight.
 * - Never writes to PostgreSQL or to a sink.
 */

export type VerifySinkName = 'elasticsearch' | 'redis' | 'warehouse';

export const VERIFY_SINKS: readonly VerifySinkName[] = ['elasticsearch', 'redis', 'warehouse'];
export const DEFAULT_TABLES: readonly string[] = ['customers', 'products', 'orders', 'order_items'];
export const DEFAULT_SETTLE_TIMEOUT_MS = 60_000;

export interface VerifyOptions {
  postgresUrl: string;
  sinks: {
    elasticsearch?: { url: string; indexPrefix: string };
    redis?: { url: string; keyPrefix: string; recentOrdersLength?: number };
    warehouse?: { url: string; database: string };
  };
  /** Default: customers, products, orders, order_items. */
  tables?: readonly string[];
  /** N random rows per table instead of all (extra-row and derived-key checks then cover only those rows). */
  sample?: number;
  /** How long differing rows are re-checked while the sink catches up. Default 60 000. */
  settleTimeoutMs?: number;
  onProgress?: (progress: { sink: VerifySinkName; table: string; done: number; total: number }) => void;
}

export interface DriftItem {
  sink: VerifySinkName;
  table: string;
  key: string;
  kind: 'missing' | 'extra' | 'field' | 'duplicate';
  field?: string;
  source?: unknown;
  sinkValue?: unknown;
}

export interface SinkTableSummary {
  sink: VerifySinkName;
  table: string;
  rows: number;
  missing: number;
  extra: number;
  differing: number;
  duplicates: number;
}

export interface VerifyReport {
  ok: boolean;
  snapshotLsn: string;
  tookMs: number;
  summaries: SinkTableSummary[];
  drift: DriftItem[];
}

export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  void options;
  throw new Error('verify: not implemented yet');
}
