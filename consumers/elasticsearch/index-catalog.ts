/**
 * Which Elasticsearch index each captured table goes to, and with which mapping.
 *
 * Every table has a VERSIONED concrete index (`orders_v1`) created from the checked-in body in
 * mappings/<index>.json, and an alias named after the table (`orders`) that readers use:
 * `curl "localhost:9200/orders/_search?pretty"`. The sink always writes to the concrete index of
 * the version it was built with, so a mapping change that Elasticsearch cannot apply in place is
 * rolled out by adding `orders_v2.json`, running the new consumer under a fresh consumer group
 * until it has caught up, then swapping the alias atomically (see README.md in this folder).
 *
 * The alias carries a filter that hides soft-deleted documents (see document.ts for why deletes
 * are soft): searches, counts and aggregations through the alias never see a deleted row.
 *
 * Order items get their own index rather than being nested inside orders: their changes arrive
 * on their own topic and partitions with their own LSNs, and a nested copy inside the order
 * document could not be guarded by a single external version without one topic's changes
 * refusing the other's.
 */
import { DELETED_FIELD } from './document.js';
import customersV1 from './mappings/customers_v1.json' with { type: 'json' };
import orderItemsV1 from './mappings/order_items_v1.json' with { type: 'json' };
import ordersV1 from './mappings/orders_v1.json' with { type: 'json' };
import productsV1 from './mappings/products_v1.json' with { type: 'json' };

/** A create-index request body: settings and mappings, as in mappings/*.json. */
export interface IndexBody {
  readonly settings: Record<string, unknown>;
  readonly mappings: Record<string, unknown>;
}

export interface IndexDefinition {
  /** Source table, e.g. "orders". */
  readonly table: string;
  /** Alias readers use, before the prefix: the table name. */
  readonly alias: string;
  /** Concrete index, before the prefix, e.g. "orders_v1". */
  readonly index: string;
  readonly body: IndexBody;
}

function define(table: string, version: number, body: IndexBody): IndexDefinition {
  return Object.freeze({ table, alias: table, index: `${table}_v${version}`, body });
}

/**
 * The tables this consumer indexes. The JSON files are plain create-index bodies, so
 * `curl -XPUT localhost:9200/orders_v1 -H 'content-type: application/json' -d @mappings/orders_v1.json`
 * works too. To roll out a new mapping, add `<table>_v<N+1>.json` and point the table at it here.
 */
export const INDEX_CATALOG: readonly IndexDefinition[] = Object.freeze([
  define('products', 1, productsV1),
  define('orders', 1, ordersV1),
  define('customers', 1, customersV1),
  define('order_items', 1, orderItemsV1),
]);

/** The alias filter: everything except soft-deleted documents. */
export const LIVE_DOCUMENTS_FILTER = Object.freeze({ bool: { must_not: { term: { [DELETED_FIELD]: true } } } });

/** Index and alias names with the namespace prefix applied (tests use a unique prefix). */
export interface ResolvedIndex extends IndexDefinition {
  readonly indexName: string;
  readonly aliasName: string;
}

export function resolveCatalog(prefix: string, catalog: readonly IndexDefinition[] = INDEX_CATALOG): Map<string, ResolvedIndex> {
  return new Map(catalog.map((definition) => [definition.table, { ...definition, indexName: `${prefix}${definition.index}`, aliasName: `${prefix}${definition.alias}` }]));
}
