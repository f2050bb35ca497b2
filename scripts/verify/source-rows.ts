/**
 * The source side of `verify`: a consistent snapshot of the shop tables in PostgreSQL, each value
 * in the ChangeEvent convention (consumers/core/change-event.ts), the form every sink stores:
 *
 *   numeric / decimal        -> the exact decimal text PostgreSQL writes ("25000.00", scale kept)
 *   int8                     -> number within ±(2^53-1), else its decimal text
 *   int2 / int4 / float      -> number
 *   timestamptz              -> "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC (microseconds, as Debezium's
 *                               ZonedTimestamp after core's normalisation)
 *   timestamp (no zone)      -> the same shape, wall clock written with "Z" (core's convention)
 *   date                     -> "YYYY-MM-DD"
 *   json / jsonb             -> parsed by core's parsePlainJson (numbers beyond a double stay text)
 *   everything else          -> PostgreSQL's text (char(n) keeps its padding, as pgoutput sends it)
 *
 * Every column is read as TEXT (pg's type parsers are bypassed by casting in SQL), so nothing is
 * rounded on the way. The snapshot is a REPEATABLE READ READ ONLY transaction whose first
 * statement reads pg_current_wal_lsn(): every transaction the snapshot sees committed before it.
 */
import pg from 'pg';
import type { Row, Value } from '../../consumers/core/change-event.js';
import { parsePlainJson } from '../../consumers/core/json.js';

export interface ColumnInfo {
  readonly name: string;
  /** pg_type.typname, e.g. "numeric", "timestamptz", "int8", "_int4" for an array. */
  readonly type: string;
}

export interface TableInfo {
  readonly table: string;
  readonly columns: readonly ColumnInfo[];
  readonly primaryKey: readonly string[];
}

export interface SourceRow {
  /** The primary key as the report shows it: "42", or a JSON object for a composite key. */
  readonly keyText: string;
  readonly key: Row;
  readonly row: Row;
}

/** PostgreSQL's "16/B374D848" as the decimal digits Debezium and the sinks use for LSNs. */
export function lsnToDecimal(text: string): string {
  const match = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(text);
  if (!match) throw new Error(`not a PostgreSQL LSN: ${JSON.stringify(text)}`);
  return ((BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`)).toString();
}

/** The report's key text for a primary key: the value itself for one column, JSON for several. */
export function keyTextOf(key: Row): string {
  const values = Object.values(key);
  return values.length === 1 ? String(values[0]) : JSON.stringify(key);
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The SELECT expression that reads one column as text in the contract's form. */
function selectExpression(column: ColumnInfo): string {
  const q = quote(column.name);
  switch (column.type) {
    case 'timestamptz':
      return `to_char(${q} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
    case 'timestamp':
      return `to_char(${q}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
    default:
      return `${q}::text`;
  }
}

/** A column's text (from selectExpression) as the contract's value. Exported for the unit tests. */
export function sourceValue(type: string, text: string | null): Value {
  if (text === null) return null;
  switch (type) {
    case 'int2':
    case 'int4':
    case 'oid':
      return Number(text);
    case 'int8': {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : BigInt(text).toString();
    }
    case 'float4':
    case 'float8':
      return text === 'NaN' || /Infinity/.test(text) ? Number(text.replace('infinity', 'Infinity')) : Number(text);
    case 'bool':
      return text === 'true';
    case 'json':
    case 'jsonb':
      return parsePlainJson(text);
    default:
      return text;
  }
}

export class SourceSnapshot {
  private constructor(
    private readonly client: pg.Client,
    /** The snapshot's WAL position, decimal digits. */
    readonly lsn: string,
    readonly lsnText: string,
  ) {}

  /** Opens the REPEATABLE READ snapshot. Throws (a connection error) when PostgreSQL does not answer. */
  static async open(postgresUrl: string): Promise<SourceSnapshot> {
    const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      const text = rows[0]!.lsn;
      return new SourceSnapshot(client, lsnToDecimal(text), text);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  async tableInfo(table: string): Promise<TableInfo> {
    const columns = await this.client.query<{ name: string; type: string }>(
      `SELECT a.attname AS name, t.typname AS type
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [`public.${quote(table)}`],
    );
    if (columns.rows.length === 0) throw new Error(`table public.${table} does not exist in PostgreSQL`);
    const key = await this.client.query<{ name: string }>(
      `SELECT a.attname AS name
         FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = to_regclass($1) AND i.indisprimary
        ORDER BY k.n`,
      [`public.${quote(table)}`],
    );
    if (key.rows.length === 0) throw new Error(`table public.${table} has no primary key: verify compares rows by key`);
    return { table, columns: columns.rows, primaryKey: key.rows.map((r) => r.name) };
  }

  async count(table: string): Promise<number> {
    const { rows } = await this.client.query<{ n: string }>(`SELECT count(*)::text AS n FROM public.${quote(table)}`);
    return Number(rows[0]!.n);
  }

  /**
   * Every row of the table (or `sample` random ones), keyed by key text, in chunks through a
   * keyset walk on the primary key so memory stays one chunk of pg's buffers at a time.
   */
  async rows(info: TableInfo, options: { sample?: number; keys?: readonly Row[]; onChunk?: (done: number) => void } = {}): Promise<Map<string, SourceRow>> {
    const select = info.columns.map((c) => `${selectExpression(c)} AS ${quote(c.name)}`).join(', ');
    const from = `public.${quote(info.table)}`;
    const order = info.primaryKey.map(quote).join(', ');
    const result = new Map<string, SourceRow>();
    const add = (rows: Record<string, string | null>[]) => {
      for (const raw of rows) {
        const row: Row = {};
        for (const column of info.columns) row[column.name] = sourceValue(column.type, raw[column.name] ?? null);
        const key: Row = {};
        for (const column of info.primaryKey) key[column] = row[column]!;
        result.set(keyTextOf(key), { keyText: keyTextOf(key), key, row });
      }
    };
    if (options.keys) {
      // Re-reads of particular rows (the settle loop): one query per chunk of keys.
      const keyColumns = info.primaryKey.map(quote).join(', ');
      for (let start = 0; start < options.keys.length; start += 1000) {
        const chunk = options.keys.slice(start, start + 1000);
        const params: unknown[] = [];
        const tuples = chunk.map((key) => `(${info.primaryKey.map((c) => { params.push(key[c] === null || typeof key[c] !== 'object' ? String(key[c]) : JSON.stringify(key[c])); return `$${params.length}`; }).join(', ')})`);
        const casted = info.primaryKey.map((c) => `${quote(c)}::text`).join(', ');
        const { rows } = await this.client.query<Record<string, string | null>>(`SELECT ${select} FROM ${from} WHERE (${casted}) IN (${tuples.join(', ')})`, params);
        add(rows);
      }
      return result;
    }
    if (options.sample !== undefined) {
      const { rows } = await this.client.query<Record<string, string | null>>(`SELECT ${select} FROM ${from} ORDER BY random() LIMIT $1`, [options.sample]);
      add(rows);
      options.onChunk?.(result.size);
      return result;
    }
    // A cursor keeps one chunk in memory on the client side at a time.
    const cursorName = `verify_${info.table.replace(/\W/g, '_')}`;
    await this.client.query(`DECLARE ${cursorName} NO SCROLL CURSOR FOR SELECT ${select} FROM ${from} ORDER BY ${order}`);
    for (;;) {
      const { rows } = await this.client.query<Record<string, string | null>>(`FETCH 5000 FROM ${cursorName}`);
      add(rows);
      options.onChunk?.(result.size);
      if (rows.length < 5000) break;
    }
    await this.client.query(`CLOSE ${cursorName}`);
    return result;
  }

  /** Ends the snapshot transaction and the connection. */
  async close(): Promise<void> {
    await this.client.query('ROLLBACK').catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}
