/**
 * Turns one row change into the arguments of the apply-change script (see apply-change-script.ts
 * for the calling convention). Pure: no Redis here, so it is unit-tested on its own.
 *
 * buildTruncateCall does the same for a TRUNCATE (truncate-script.ts).
 *
 * Throws PermanentError for an event that can never be cached (no usable key, malformed version,
 * created_at that is not a timestamp): the sink reports it as `failed` and the runner
 * dead-letters it. Values the script itself must judge (stock figures) are passed through and
 * refused there, before anything is written.
 */
import type { Row, RowChangeEvent, TruncateEvent, Value } from '../core/change-event.js';
import { PermanentError } from '../core/errors.js';
import { type KeyLayout, entityOf, idSegment, valueSegment, viewOf } from './key-layout.js';

export interface ScriptSettings {
  readonly keys: KeyLayout;
  /** Row TTL per table name, in seconds; absent = no TTL. */
  readonly ttlSecondsByTable: Readonly<Record<string, number>>;
  /** 0 = delete markers never expire. */
  readonly deleteMarkerTtlSeconds: number;
  readonly recentOrdersLength: number;
}

export interface ScriptCall {
  /** KEYS: row key, version hash, delete marker, truncate hash (apply-change-script.ts). */
  readonly keys: readonly [string, string, string, string];
  readonly args: readonly string[];
}

export interface TruncateCall {
  /** KEYS: version hash, truncate hash (truncate-script.ts). */
  readonly keys: readonly [string, string];
  readonly args: readonly string[];
}

const VERSION_PATTERN = /^(0|[1-9][0-9]*)$/;
const ZONE_PATTERN = /(Z|[+-]\d{2}(:?\d{2})?)$/i;

/**
 * Epoch milliseconds of a decoded timestamp ("2026-03-02T08:00:00.123456Z"), as a string for
 * the script; "" for null/absent. A timestamp without zone (PostgreSQL `timestamp`) is read as
 * UTC, as Debezium encodes it.
 */
export function epochMillis(value: Value | undefined, column: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') throw new PermanentError(`${column} is not a timestamp string: ${JSON.stringify(value)}`);
  const iso = ZONE_PATTERN.test(value) || !value.includes('T') ? value : `${value}Z`;
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new PermanentError(`${column} is not a timestamp: ${JSON.stringify(value)}`);
  return String(ms);
}

/** A key value for a view argument: "" for null/absent. */
function idArg(value: Value | undefined): string {
  return value === null || value === undefined ? '' : valueSegment(value);
}

/** A number the script checks (stock figures): "" for null/absent, else its text as given. */
function numberArg(value: Value | undefined): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/** View args A, B, C for the table (see the script's calling convention). */
function viewArgs(table: string, row: Row | null, before: Row | null): [string, string, string] {
  switch (viewOf(table)) {
    case 'order':
      return [epochMillis(row?.created_at, 'created_at'), idArg(row?.customer_id), idArg(before?.customer_id)];
    case 'product':
      return [numberArg(row?.stock_quantity), numberArg(row?.low_stock_threshold), ''];
    case 'order_item':
      return [idArg(row?.order_id), '', idArg(before?.order_id)];
    default:
      return ['', '', ''];
  }
}

/** The event's row version (source.version), which every write of the cache is guarded by. */
function checkedVersion(version: string): string {
  if (!VERSION_PATTERN.test(version)) throw new PermanentError(`event row version is not a decimal string: ${JSON.stringify(version)}`);
  return version;
}

export function buildTruncateCall(event: TruncateEvent, settings: ScriptSettings): TruncateCall {
  const { keys } = settings;
  return {
    keys: [keys.versionHash, keys.truncatedHash],
    args: [checkedVersion(event.source.version), keys.prefix, entityOf(event.table), viewOf(event.table), String(settings.recentOrdersLength)],
  };
}

/** What varies per event in a script call; the rest comes from the settings. */
interface EventParts {
  readonly op: 'upsert' | 'delete';
  readonly version: string;
  readonly field: string;
  readonly view: string;
  readonly id: string;
  readonly rowJson: string;
  readonly rowTtl: string;
  readonly viewArgs: [string, string, string];
  /** Pairs: column name, fallback raw JSON ("" = none). */
  readonly toast: string[];
}

function eventParts(event: RowChangeEvent, settings: ScriptSettings): EventParts {
  const version = checkedVersion(event.source.version);
  const id = idSegment(event.key);
  const field = `${entityOf(event.table)}:${id}`;
  const isDelete = event.op === 'delete';

  let rowJson = '';
  const toast: string[] = [];
  if (!isDelete) {
    if (event.after === null) throw new PermanentError(`${event.op} event without an after row`);
    rowJson = JSON.stringify(event.after);
    for (const column of event.unavailableColumns) {
      const fallback = event.before?.[column];
      toast.push(column, fallback === undefined ? '' : JSON.stringify(fallback));
    }
  }
  return {
    op: isDelete ? 'delete' : 'upsert',
    version,
    field,
    view: viewOf(event.table),
    id,
    rowJson,
    rowTtl: String(settings.ttlSecondsByTable[event.table] ?? 0),
    viewArgs: isDelete ? viewArgs(event.table, null, event.before) : viewArgs(event.table, event.after, event.before),
    toast,
  };
}

/**
 * The single-event form (APPLY_CHANGE_LUA's KEYS and ARGV). The sink sends the batch form
 * (appendBatchArgs), which the batch script expands to exactly this; the unit tests pin the
 * derivation here.
 */
export function buildScriptCall(event: RowChangeEvent, settings: ScriptSettings): ScriptCall {
  const { keys } = settings;
  const parts = eventParts(event, settings);
  return {
    keys: [keys.prefix + parts.field, keys.versionHash, keys.deleteMarker(parts.field), keys.truncatedHash],
    args: [
      parts.op,
      parts.version,
      parts.field,
      keys.prefix,
      parts.view,
      parts.id,
      parts.rowJson,
      parts.rowTtl,
      String(settings.deleteMarkerTtlSeconds),
      String(settings.recentOrdersLength),
      ...parts.viewArgs,
      String(parts.toast.length / 2),
      ...parts.toast,
    ],
  };
}

/**
 * The batch script's arguments for one call (see APPLY_CHANGES_LUA): the header, once per call.
 * The script derives the keys and the constant arguments of buildScriptCall from it.
 */
export function batchHeader(settings: ScriptSettings): string[] {
  return [settings.keys.prefix, String(settings.deleteMarkerTtlSeconds), String(settings.recentOrdersLength)];
}

/**
 * Appends one event's arguments for the batch script: what buildScriptCall would pass, minus
 * what the script derives from the header (keys, prefix, marker TTL, recent_orders length).
 * Throws like buildScriptCall, before appending anything.
 */
export function appendBatchArgs(args: string[], event: RowChangeEvent, settings: ScriptSettings): void {
  const p = eventParts(event, settings);
  args.push(p.op, p.version, p.field, p.view, p.id, p.rowJson, p.rowTtl, p.viewArgs[0], p.viewArgs[1], p.viewArgs[2], String(p.toast.length / 2), ...p.toast);
}
