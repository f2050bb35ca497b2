import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../consumers/core/config.js';
import { loadElasticsearchConfig } from '../../consumers/elasticsearch/elasticsearch-config.js';
import { INDEX_CATALOG, LIVE_DOCUMENTS_FILTER, resolveCatalog } from '../../consumers/elasticsearch/index-catalog.js';

describe('loadElasticsearchConfig', () => {
  it('has defaults for the native stack', () => {
    expect(loadElasticsearchConfig({})).toEqual({
      url: 'http://127.0.0.1:9200',
      indexPrefix: '',
      bulkMaxDocs: 1000,
      bulkMaxBytes: 5 * 1024 * 1024,
      requestTimeoutMs: 30_000,
      startupWaitMs: 120_000,
      auth: null,
    });
  });

  it('reads every variable', () => {
    const config = loadElasticsearchConfig({
      ELASTICSEARCH_URL: 'https://search.internal:9243',
      ES_INDEX_PREFIX: 'test-1.',
      ES_BULK_MAX_DOCS: '250',
      ES_BULK_MAX_BYTES: '1048576',
      ES_REQUEST_TIMEOUT_MS: '5000',
      ES_STARTUP_WAIT_MS: '0',
      ES_USERNAME: 'elastic',
      ES_PASSWORD: 'secret',
    });
    expect(config).toMatchObject({ url: 'https://search.internal:9243', indexPrefix: 'test-1.', bulkMaxDocs: 250, bulkMaxBytes: 1048576, requestTimeoutMs: 5000, startupWaitMs: 0, auth: { username: 'elastic', password: 'secret' } });
    expect(loadElasticsearchConfig({ ES_API_KEY: 'abc' }).auth).toEqual({ apiKey: 'abc' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{ ELASTICSEARCH_URL: 'localhost:9200' }, 'ELASTICSEARCH_URL'],
    [{ ES_INDEX_PREFIX: 'Upper' }, 'ES_INDEX_PREFIX'],
    [{ ES_INDEX_PREFIX: '_x' }, 'ES_INDEX_PREFIX'],
    [{ ES_INDEX_PREFIX: 'a b' }, 'ES_INDEX_PREFIX'],
    [{ ES_BULK_MAX_DOCS: '0' }, 'ES_BULK_MAX_DOCS'],
    [{ ES_BULK_MAX_BYTES: '5MB' }, 'ES_BULK_MAX_BYTES'],
    [{ ES_USERNAME: 'elastic' }, 'ES_PASSWORD'],
  ])('%j is refused naming %s', (env, variable) => {
    expect(() => loadElasticsearchConfig(env)).toThrow(ConfigError);
    try {
      loadElasticsearchConfig(env);
    } catch (error) {
      expect((error as ConfigError).variable).toBe(variable);
    }
  });
});

describe('index catalog', () => {
  it('has a versioned index behind an alias named after each captured table', () => {
    expect(INDEX_CATALOG.map((d) => [d.table, d.alias, d.index])).toEqual([
      ['products', 'products', 'products_v1'],
      ['orders', 'orders', 'orders_v1'],
      ['customers', 'customers', 'customers_v1'],
      ['order_items', 'order_items', 'order_items_v1'],
    ]);
    expect([...resolveCatalog('ns-').values()].map((d) => [d.indexName, d.aliasName])).toContainEqual(['ns-orders_v1', 'ns-orders']);
  });

  it('maps ids, SKUs, statuses, emails and order numbers as keywords, money as numbers, names as text with keywords', () => {
    const props = (table: string) => INDEX_CATALOG.find((d) => d.table === table)!.body.mappings.properties as Record<string, { type: string; fields?: Record<string, { type: string }> }>;
    expect(props('products').sku!.type).toBe('keyword');
    expect(props('products').price!.type).toBe('double');
    expect(props('products').name!.type).toBe('text');
    expect(props('products').name!.fields!.keyword!.type).toBe('keyword');
    expect(props('products').description!.fields!.keyword!.type).toBe('keyword');
    expect(props('orders').order_number!.type).toBe('keyword');
    expect(props('orders').status!.type).toBe('keyword');
    expect(props('orders').total_amount!.type).toBe('double');
    expect(props('orders').created_at!.type).toBe('date');
    expect(props('customers').email!.type).toBe('keyword');
    expect(props('order_items').unit_price!.type).toBe('double');
    for (const definition of INDEX_CATALOG) {
      expect(definition.body.mappings.dynamic).toBe(false);
      expect((definition.body.mappings.properties as Record<string, unknown>)._cdc).toBeDefined();
    }
  });

  it('uses no type or analyzer the integ-test distribution lacks', () => {
    const text = JSON.stringify(INDEX_CATALOG.map((d) => d.body));
    for (const missing of ['scaled_float', 'search_as_you_type', 'wildcard', 'unsigned_long', '"english"', 'asciifolding', '"script"']) {
      expect(text).not.toContain(missing);
    }
  });

  it('the alias filter hides soft-deleted rows', () => {
    expect(LIVE_DOCUMENTS_FILTER).toEqual({ bool: { must_not: { term: { '_cdc.deleted': true } } } });
  });
});
