/**
 * Builders for ChangeEvent values in sink tests. They produce exactly what the core decoder
 * produces for real Debezium messages (see consumers/core/change-event.ts), so a sink test can
 * state "this event, with this LSN" without going through Kafka.
 */
import { rowVersion, type ChangeEvent, type Row, type RowChangeEvent, type TombstoneEvent } from '../../consumers/core/change-event.js';

let offsetCounter = 0;

export interface EventSpec {
  table: string;
  op: RowChangeEvent['op'];
  key: Row;
  before?: Row | null;
  after?: Row | null;
  /** WAL position; bigger is newer. */
  lsn: number | bigint | string;
  unavailableColumns?: string[];
  topic?: string;
  partition?: number;
}

/** The decoder's row version; a malformed LSN (tests of the sinks' own checks) is kept as the version too. */
function versionFor(lsn: string, snapshot: boolean): string {
  try {
    return rowVersion(lsn, snapshot);
  } catch {
    return lsn;
  }
}

export function changeEvent(spec: EventSpec): RowChangeEvent {
  return {
    op: spec.op,
    table: spec.table,
    schema: 'public',
    key: spec.key,
    before: spec.before ?? null,
    after: spec.after ?? null,
    unavailableColumns: spec.unavailableColumns ?? [],
    source: { lsn: String(spec.lsn), version: versionFor(String(spec.lsn), spec.op === 'read'), txId: null, commitTimeMs: Date.now(), snapshot: spec.op === 'read' },
    kafka: {
      topic: spec.topic ?? `ecommerce.public.${spec.table}`,
      partition: spec.partition ?? 0,
      offset: String(offsetCounter++),
    },
  };
}

export const create = (table: string, key: Row, after: Row, lsn: EventSpec['lsn']): RowChangeEvent =>
  changeEvent({ table, op: 'create', key, after, lsn });

export const update = (table: string, key: Row, before: Row, after: Row, lsn: EventSpec['lsn'], unavailableColumns: string[] = []): RowChangeEvent =>
  changeEvent({ table, op: 'update', key, before, after, lsn, unavailableColumns });

export const remove = (table: string, key: Row, before: Row, lsn: EventSpec['lsn']): RowChangeEvent =>
  changeEvent({ table, op: 'delete', key, before, lsn });

export function tombstone(table: string, key: Row): TombstoneEvent {
  return {
    op: 'tombstone',
    table,
    schema: 'public',
    key,
    kafka: { topic: `ecommerce.public.${table}`, partition: 0, offset: String(offsetCounter++) },
  };
}

export type { ChangeEvent };
