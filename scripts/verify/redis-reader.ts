/**
 * Reads the Redis cache back for `verify`, by the consumer's own key layout (consumers/redis/
 * key-layout.ts) and its own argument code (script-call.ts `epochMillis` for the created_at
 * scores):
 *
 * - rows: `<prefix><entity>:<id>` JSON strings, parsed exactly; the row's version from the
 *   `cdc:version` hash; delete markers (`cdc:deleted:<entity>:<id>`) are deleted rows, never extra.
 * - derived views, checked against the source rows:
 *   orders       `orders:by_created_at` (member = zero-padded id, score = created_at epoch ms),
 *                `recent_orders` (the newest REDIS_RECENT_ORDERS_LENGTH ids by created_at ms, then id;
 *                each id once: a repeated id is a 'duplicate'), `customer:<id>:orders` (score)
 *   products     `product:<id>:stock` (the stock_quantity text), `low_stock_products` membership
 *                (stock_quantity <= low_stock_threshold)
 *   order_items  `order:<order_id>:items` membership
 */
import { Redis } from 'ioredis';
import type { Row, Value } from '../../consumers/core/change-event.js';
import { STREAMED_VERSION_BASE } from '../../consumers/core/change-event.js';
import { parsePlainJson } from '../../consumers/core/json.js';
import { entityOf, keyLayout, valueSegment, type KeyLayout } from '../../consumers/redis/key-layout.js';
import { epochMillis } from '../../consumers/redis/script-call.js';
import type { SinkReader, SinkRow, SkipReason } from './sink-reader.js';
import { keyTextOf, type SourceRow, type TableInfo } from './source-rows.js';
import type { DriftItem } from './verify.js';

const CHUNK = 1000;
/** The Lua scripts pad order ids to this width inside orders:by_created_at (lua-helpers.ts RECENT_PAD). */
const RECENT_PAD = 20;
/** Key suffixes of derived views that share a row's `<entity>:<id>` start. */
const DERIVED_SUFFIX = /:(items|stock|orders)$/;

/** A row version from cdc:version / a delete marker back to the change's LSN (inverse of rowVersion). */
export function lsnFromRowVersion(version: string | null | undefined): string | null {
  if (version === null || version === undefined || !/^\d+$/.test(version)) return null;
  const value = BigInt(version);
  return (value >= STREAMED_VERSION_BASE ? value - STREAMED_VERSION_BASE : value).toString();
}

/** The sorted-set member the scripts use for an order id (zero-padded when numeric). */
function sortableMember(id: string): string {
  return /^\d+$/.test(id) && id.length < RECENT_PAD ? id.padStart(RECENT_PAD, '0') : id;
}
function unsortable(member: string): string {
  return /^\d+$/.test(member) ? member.replace(/^0+(\d)/, '$1') : member;
}

export class RedisReader implements SinkReader {
  readonly name = 'redis' as const;
  private readonly redis: Redis;
  private readonly keys: KeyLayout;

  constructor(url: string, private readonly keyPrefix: string, private readonly recentOrdersLength = 100) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 5_000, retryStrategy: () => null });
    this.redis.on('error', () => undefined); // surfaced by the failing command instead
    this.keys = keyLayout(keyPrefix);
  }

  async skipReason(): Promise<SkipReason | null> {
    try {
      if (this.redis.status === 'wait') await this.redis.connect();
      await this.redis.ping();
    } catch (error) {
      return { kind: 'unreachable', reason: `Redis does not answer (${(error as Error).message})` };
    }
    const rows = await this.redis.hlen(this.keys.versionHash);
    return rows > 0 ? null : { kind: 'empty', reason: `no rows under REDIS_KEY_PREFIX=${JSON.stringify(this.keyPrefix)} (${this.keys.versionHash} is empty)` };
  }

  private async scan(pattern: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found;
  }

  /** Rows by field ("order:42"): values, version, or the delete marker's version. */
  private async readFields(fields: readonly string[], ids: readonly string[], out: Map<string, SinkRow>): Promise<void> {
    for (let start = 0; start < fields.length; start += CHUNK) {
      const chunk = fields.slice(start, start + CHUNK);
      const pipeline = this.redis.pipeline();
      pipeline.mget(...chunk.map((field) => this.keys.prefix + field));
      pipeline.hmget(this.keys.versionHash, ...chunk);
      pipeline.mget(...chunk.map((field) => this.keys.deleteMarker(field)));
      const replies = (await pipeline.exec()) ?? [];
      for (const [error] of replies) if (error) throw error;
      const [values, versions, markers] = replies.map(([, value]) => value as (string | null)[]);
      chunk.forEach((_, i) => {
        const id = ids[start + i]!;
        const text = values![i];
        if (text !== null && text !== undefined) {
          out.set(id, { values: parsePlainJson(text) as Row, lsn: lsnFromRowVersion(versions![i]) });
        } else if (markers![i] !== null && markers![i] !== undefined) {
          out.set(id, { values: null, lsn: lsnFromRowVersion(markers![i]) });
        }
      });
    }
  }

  async readAll(info: TableInfo, onProgress: (done: number) => void): Promise<Map<string, SinkRow>> {
    if (info.primaryKey.length !== 1) throw new Error(`${info.table}: verify reads Redis by scan only for single-column keys`);
    const entity = entityOf(info.table);
    const rowPrefix = `${this.keys.prefix}${entity}:`;
    const ids = new Set<string>();
    for (const key of await this.scan(`${globEscape(rowPrefix)}*`)) {
      const id = key.slice(rowPrefix.length);
      if (!DERIVED_SUFFIX.test(id)) ids.add(id);
    }
    const markerPrefix = this.keys.deleteMarker(`${entity}:`);
    for (const key of await this.scan(`${globEscape(markerPrefix)}*`)) ids.add(key.slice(markerPrefix.length));
    const list = [...ids];
    const out = new Map<string, SinkRow>();
    // The id segment of a single-column key is the value's JSON text without quotes: keyTextOf's text.
    await this.readFields(list.map((id) => `${entity}:${id}`), list.map(unescapeSegment), out);
    onProgress(out.size);
    return out;
  }

  async readKeys(info: TableInfo, keys: readonly Row[]): Promise<Map<string, SinkRow>> {
    const out = new Map<string, SinkRow>();
    await this.readFields(keys.map((key) => this.keys.field(info.table, key)), keys.map(keyTextOf), out);
    return out;
  }

  async derivedChecks(info: TableInfo, source: ReadonlyMap<string, SourceRow>, complete: boolean): Promise<DriftItem[]> {
    switch (info.table) {
      case 'orders':
        return this.orderViews(source, complete);
      case 'products':
        return this.productViews(source);
      case 'order_items':
        return this.orderItemViews(source);
      default:
        return [];
    }
  }

  private drift(table: string, key: string, field: string, source: unknown, sinkValue: unknown, kind: DriftItem['kind'] = 'field'): DriftItem {
    return { sink: 'redis', table, key, kind, field, source, sinkValue };
  }

  private async orderViews(source: ReadonlyMap<string, SourceRow>, complete: boolean): Promise<DriftItem[]> {
    const items: DriftItem[] = [];
    const expected = [...source.values()].map((order) => ({
      id: valueSegment(order.row.id),
      keyText: order.keyText,
      score: epochMillis(order.row.created_at, 'created_at'),
      customer: order.row.customer_id,
    }));
    // orders:by_created_at, per order, and (complete) members without an order.
    const byCreated = this.keys.ordersByCreatedAt;
    const scores = new Map<string, string>();
    if (complete) {
      const flat = await this.redis.zrange(byCreated, 0, -1, 'WITHSCORES');
      for (let i = 0; i < flat.length; i += 2) scores.set(unsortable(flat[i]!), flat[i + 1]!);
    } else {
      for (let start = 0; start < expected.length; start += CHUNK) {
        const chunk = expected.slice(start, start + CHUNK);
        const got = await this.redis.zmscore(byCreated, ...chunk.map((order) => sortableMember(order.id)));
        chunk.forEach((order, i) => { if (got[i] !== null && got[i] !== undefined) scores.set(order.id, String(got[i])); });
      }
    }
    for (const order of expected) {
      const got = scores.get(order.id);
      if (got === undefined || Number(got) !== Number(order.score)) items.push(this.drift('orders', order.keyText, 'orders:by_created_at', order.score, got ?? null));
    }
    if (complete) {
      const known = new Set(expected.map((order) => order.id));
      for (const [member, score] of scores) if (!known.has(member)) items.push(this.drift('orders', member, 'orders:by_created_at', null, score));
    }
    // customer:<id>:orders scores.
    for (let start = 0; start < expected.length; start += CHUNK) {
      const chunk = expected.slice(start, start + CHUNK);
      const pipeline = this.redis.pipeline();
      for (const order of chunk) pipeline.zscore(this.keys.customerOrders(order.customer as Value), order.id);
      const replies = (await pipeline.exec()) ?? [];
      chunk.forEach((order, i) => {
        const [error, got] = replies[i] ?? [new Error('no reply'), null];
        if (error) throw error;
        if (got === null || Number(got) !== Number(order.score)) {
          items.push(this.drift('orders', order.keyText, this.keys.customerOrders(order.customer as Value).slice(this.keys.prefix.length), order.score, got));
        }
      });
    }
    // recent_orders: each id once, and exactly the newest N.
    const list = await this.redis.lrange(this.keys.recentOrders, 0, -1);
    const seen = new Set<string>();
    for (const id of list) {
      if (seen.has(id)) items.push(this.drift('orders', id, 'recent_orders', 'once', 'twice or more', 'duplicate'));
      seen.add(id);
    }
    if (complete) {
      const newest = [...expected]
        .sort((a, b) => Number(b.score) - Number(a.score) || (sortableMember(b.id) < sortableMember(a.id) ? -1 : sortableMember(b.id) > sortableMember(a.id) ? 1 : 0))
        .slice(0, this.recentOrdersLength)
        .map((order) => order.id);
      const at = newest.findIndex((id, i) => list[i] !== id);
      const position = at >= 0 ? at : list.length !== newest.length ? Math.min(list.length, newest.length) : -1;
      if (position >= 0) items.push(this.drift('orders', newest[position] ?? list[position] ?? '', `recent_orders[${position}]`, newest[position] ?? null, list[position] ?? null));
    }
    return items;
  }

  private async productViews(source: ReadonlyMap<string, SourceRow>): Promise<DriftItem[]> {
    const items: DriftItem[] = [];
    const products = [...source.values()];
    const low = new Set(await this.redis.smembers(this.keys.lowStockProducts));
    for (let start = 0; start < products.length; start += CHUNK) {
      const chunk = products.slice(start, start + CHUNK);
      const stocks = await this.redis.mget(...chunk.map((p) => this.keys.productStock(p.row.id as Value)));
      chunk.forEach((product, i) => {
        const id = valueSegment(product.row.id);
        const stock = product.row.stock_quantity;
        const expectedStock = stock === null || stock === undefined ? null : String(stock);
        if ((stocks[i] ?? null) !== expectedStock) items.push(this.drift('products', product.keyText, `product:${id}:stock`, expectedStock, stocks[i] ?? null));
        const shouldBeLow = stock !== null && product.row.low_stock_threshold !== null && Number(stock) <= Number(product.row.low_stock_threshold);
        if (low.has(id) !== shouldBeLow) items.push(this.drift('products', product.keyText, 'low_stock_products', shouldBeLow ? 'member' : 'not a member', low.has(id) ? 'member' : 'not a member'));
      });
    }
    return items;
  }

  private async orderItemViews(source: ReadonlyMap<string, SourceRow>): Promise<DriftItem[]> {
    const items: DriftItem[] = [];
    const rows = [...source.values()];
    for (let start = 0; start < rows.length; start += CHUNK) {
      const chunk = rows.slice(start, start + CHUNK);
      const pipeline = this.redis.pipeline();
      for (const item of chunk) pipeline.sismember(this.keys.orderItems(item.row.order_id as Value), valueSegment(item.row.id));
      const replies = (await pipeline.exec()) ?? [];
      chunk.forEach((item, i) => {
        const [error, member] = replies[i] ?? [new Error('no reply'), 0];
        if (error) throw error;
        if (member !== 1) items.push(this.drift('order_items', item.keyText, `order:${valueSegment(item.row.order_id)}:items`, 'member', 'not a member'));
      });
    }
    return items;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** A key segment back to the key's text: JSON escapes undone (numbers and plain strings are unchanged). */
function unescapeSegment(segment: string): string {
  if (!segment.includes('\\')) return segment;
  try {
    return JSON.parse(`"${segment}"`) as string;
  } catch {
    return segment;
  }
}
