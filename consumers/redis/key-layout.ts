/**
 * Where the Redis cache keeps things. With the default prefix "" the keys are exactly:
 *
 *   order:{id}                JSON string: the current orders row (exact values)
 *   customer:{id}             JSON string: the current customers row
 *   product:{id}              JSON string: the current products row
 *   order_item:{id}           JSON string: the current order_items row
 *   {table}:{id}              JSON string, for any other captured table
 *   recent_orders             LIST of order ids, newest first (by created_at, ties by id),
 *                             at most REDIS_RECENT_ORDERS_LENGTH (default 100), each id once
 *   orders:by_created_at      ZSET, every order (score created_at epoch ms, member zero-padded id):
 *                             the source of truth recent_orders is maintained from
 *   customer:{id}:orders      ZSET of the customer's order ids, scored by created_at epoch ms
 *   order:{id}:items          SET of the order's order_item ids
 *   product:{id}:stock        STRING: the product's current stock_quantity
 *   low_stock_products        SET of product ids with stock_quantity <= low_stock_threshold
 *   cdc:version               HASH row key ("order:1") -> row version of the change the row
 *                             reflects (`source.version`: 2^64 + LSN streamed, LSN snapshot)
 *   cdc:deleted:{row key}     STRING: row version of the delete, so a late older event cannot
 *                             resurrect a deleted row; kept for good unless
 *                             REDIS_DELETE_MARKER_TTL_SECONDS is set
 *   cdc:truncated             HASH entity ("order") -> row version of the table's last TRUNCATE
 *
 * {id} is the primary-key value (composite keys: values joined with ":", in key-column order).
 * Optional per-table TTLs (REDIS_TTL_<TABLE>_SECONDS) apply to the row key (and the stock key);
 * the views and cdc:* bookkeeping never expire (except delete markers).
 *
 * The Lua script (apply-change-script.ts) builds the view keys from the same rules; keep the
 * two in step. Redis Cluster is not supported: the script touches keys it computes itself.
 */
import type { Row, Value } from '../core/change-event.js';
import { PermanentError } from '../core/errors.js';

/** Singular key names for the shop's tables; any other table keeps its own name. */
const ENTITY_BY_TABLE: Readonly<Record<string, string>> = Object.freeze({
  customers: 'customer',
  products: 'product',
  orders: 'order',
  order_items: 'order_item',
});

/** Which derived views a table feeds (see the script's `view` argument). */
export type ViewKind = 'order' | 'product' | 'order_item' | '';

const VIEW_BY_TABLE: Readonly<Record<string, ViewKind>> = Object.freeze({
  orders: 'order',
  products: 'product',
  order_items: 'order_item',
});

export function entityOf(table: string): string {
  return ENTITY_BY_TABLE[table] ?? table;
}

export function viewOf(table: string): ViewKind {
  return VIEW_BY_TABLE[table] ?? '';
}

/**
 * One key value as it appears in a key name: numbers as JSON writes them ("42"), strings
 * without quotes but with JSON escapes. The Lua script derives ids from stored JSON by the same
 * rule (raw JSON text, quotes stripped), so both sides name the same keys.
 */
export function valueSegment(value: Value | undefined): string {
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'string') {
    if (value === '') throw new PermanentError('an empty string cannot be part of a Redis key');
    return JSON.stringify(value).slice(1, -1);
  }
  throw new PermanentError(`a key value must be a number, string or boolean, got ${JSON.stringify(value ?? null)}`);
}

/** The id part of a row key: the primary-key values in column order, joined with ":". */
export function idSegment(key: Row): string {
  const values = Object.values(key);
  if (values.length === 0) throw new PermanentError('the event has an empty primary key');
  return values.map(valueSegment).join(':');
}

/** All key names under one prefix. */
export interface KeyLayout {
  readonly prefix: string;
  /** Row key without the prefix, e.g. "order:1" (also the field in the version hash). */
  field(table: string, key: Row): string;
  /** Full row key, e.g. "order:1". */
  row(table: string, key: Row): string;
  readonly versionHash: string;
  readonly truncatedHash: string;
  deleteMarker(field: string): string;
  readonly recentOrders: string;
  readonly ordersByCreatedAt: string;
  customerOrders(customerId: Value): string;
  orderItems(orderId: Value): string;
  productStock(productId: Value): string;
  readonly lowStockProducts: string;
}

export function keyLayout(prefix = ''): KeyLayout {
  const field = (table: string, key: Row) => `${entityOf(table)}:${idSegment(key)}`;
  return Object.freeze({
    prefix,
    field,
    row: (table: string, key: Row) => prefix + field(table, key),
    versionHash: `${prefix}cdc:version`,
    truncatedHash: `${prefix}cdc:truncated`,
    deleteMarker: (rowField: string) => `${prefix}cdc:deleted:${rowField}`,
    recentOrders: `${prefix}recent_orders`,
    ordersByCreatedAt: `${prefix}orders:by_created_at`,
    customerOrders: (customerId: Value) => `${prefix}customer:${valueSegment(customerId)}:orders`,
    orderItems: (orderId: Value) => `${prefix}order:${valueSegment(orderId)}:items`,
    productStock: (productId: Value) => `${prefix}product:${valueSegment(productId)}:stock`,
    lowStockProducts: `${prefix}low_stock_products`,
  });
}
