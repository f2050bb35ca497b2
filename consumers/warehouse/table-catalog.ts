/**
 * Which columns of the captured tables need a BSON type of their own in the warehouse.
 *
 * The change events say only what JSON can say: NUMERIC arrives as an exact decimal string
 * ("25000.00", the connector's decimal.handling.mode=string gives no schema hint either), int8
 * beyond 2^53 as a decimal string, timestamps as ISO strings with microseconds. For analytics the
 * warehouse stores them typed, so this catalog lists them per table, as postgres/init.sql has them
 * (test/integration/warehouse-end-to-end.test.ts checks it against the live schema):
 *
 * - `decimal`   -> Decimal128 (exact; `$sum` over it stays exact), never a double
 * - `int8`      -> BSON long (exact over the whole int8 range)
 * - `timestamp` -> BSON date (milliseconds, for `$dateToString` and ranges) plus the exact
 *                  microsecond ISO string in the document's `_exact` sub-document
 * - `date`      -> BSON date at 00:00 UTC ("YYYY-MM-DD" needs nothing more)
 *
 * Every other column is stored as the event carries it (strings, numbers, booleans; jsonb as a
 * sub-document). Tables not listed are stored that way too, so a newly captured table works at once,
 * with its NUMERIC columns as strings until it is added here.
 */

export type ColumnKind = 'decimal' | 'int8' | 'timestamp' | 'date';

export interface TableDefinition {
  /** Primary-key columns, in key order (what `_id` is made of). */
  readonly primaryKey: readonly string[];
  readonly columns: Readonly<Record<string, ColumnKind>>;
}

export type TableCatalog = Readonly<Record<string, TableDefinition>>;

export const TABLE_CATALOG: TableCatalog = Object.freeze({
  customers: { primaryKey: ['id'], columns: { created_at: 'timestamp', updated_at: 'timestamp' } },
  products: { primaryKey: ['id'], columns: { price: 'decimal', created_at: 'timestamp', updated_at: 'timestamp' } },
  orders: { primaryKey: ['id'], columns: { total_amount: 'decimal', created_at: 'timestamp', updated_at: 'timestamp' } },
  order_items: { primaryKey: ['id'], columns: { unit_price: 'decimal' } },
});

const NO_COLUMNS: TableDefinition = Object.freeze({ primaryKey: ['id'], columns: {} });

/** The table's definition, or "store as given, key column `id`" for a table the catalog does not list. */
export function tableDefinition(catalog: TableCatalog, table: string): TableDefinition {
  return catalog[table] ?? NO_COLUMNS;
}
