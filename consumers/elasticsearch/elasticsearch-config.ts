/**
 * The Elasticsearch consumer's own settings, read once at start-up (see consumers/core/config.ts
 * for the common ones). A bad value throws ConfigError naming the variable.
 *
 *   ELASTICSEARCH_URL        http://127.0.0.1:9200
 *   ES_INDEX_PREFIX          ''      prepended to every index and alias name (tests use a unique one)
 *   ES_BULK_MAX_DOCS         1000    most documents per bulk request
 *   ES_BULK_MAX_BYTES        5242880 most bytes per bulk request (a larger single document goes alone)
 *   ES_REQUEST_TIMEOUT_MS    30000
 *   ES_STARTUP_WAIT_MS       120000  how long start-up waits for the cluster to answer
 *   ES_USERNAME/ES_PASSWORD or ES_API_KEY   optional, for clusters with security on
 */
import { ConfigError, envReader } from '../core/config.js';

export interface ElasticsearchConfig {
  readonly url: string;
  readonly indexPrefix: string;
  readonly bulkMaxDocs: number;
  readonly bulkMaxBytes: number;
  readonly requestTimeoutMs: number;
  readonly startupWaitMs: number;
  readonly auth: { readonly username: string; readonly password: string } | { readonly apiKey: string } | null;
}

/** Index names are lower case and may not start with "-", "_" or "+". */
const PREFIX = /^([a-z0-9][a-z0-9._-]*)?$/;

export function loadElasticsearchConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): ElasticsearchConfig {
  const read = envReader(env);
  const indexPrefix = env.ES_INDEX_PREFIX?.trim() ?? '';
  if (!PREFIX.test(indexPrefix)) {
    throw new ConfigError('ES_INDEX_PREFIX', `ES_INDEX_PREFIX=${JSON.stringify(indexPrefix)} is invalid: expected lower-case letters, digits, ".", "_" or "-", not starting with a symbol`);
  }
  const username = read.string('ES_USERNAME', '');
  const password = read.string('ES_PASSWORD', '');
  const apiKey = read.string('ES_API_KEY', '');
  if (username !== '' && password === '') throw new ConfigError('ES_PASSWORD', 'ES_PASSWORD is required when ES_USERNAME is set');
  return Object.freeze({
    url: read.url('ELASTICSEARCH_URL', 'http://127.0.0.1:9200', ['http:', 'https:']),
    indexPrefix,
    bulkMaxDocs: read.int('ES_BULK_MAX_DOCS', 1000, { min: 1, max: 100_000 }),
    bulkMaxBytes: read.int('ES_BULK_MAX_BYTES', 5 * 1024 * 1024, { min: 1024, max: 100 * 1024 * 1024 }),
    requestTimeoutMs: read.int('ES_REQUEST_TIMEOUT_MS', 30_000, { min: 100, max: 600_000 }),
    startupWaitMs: read.int('ES_STARTUP_WAIT_MS', 120_000, { min: 0, max: 3_600_000 }),
    auth: apiKey !== '' ? { apiKey } : username !== '' ? { username, password } : null,
  });
}
