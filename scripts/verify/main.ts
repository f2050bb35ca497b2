/**
 * `npm run verify`: does every sink hold exactly what PostgreSQL holds? (See verify.ts.)
 *
 *   npm run verify -- [--sink elasticsearch|redis|warehouse]... [--table NAME]... [--sample N]
 *                     [--settle-seconds S] [--json] [--max-items N] [--change-log-scan]
 *
 * Configuration from the environment and .env, as the consumers read it: POSTGRES_URL,
 * ELASTICSEARCH_URL, ES_INDEX_PREFIX, REDIS_URL, REDIS_KEY_PREFIX, REDIS_RECENT_ORDERS_LENGTH,
 * MONGODB_URL, WAREHOUSE_DATABASE; for consumer progress KAFKA_BROKERS, TOPIC_PREFIX, TABLES and
 * each consumer's group (<SINK>_CONSUMER_GROUP / CONSUMER_GROUP, default cdc-<sink>).
 *
 * Exit codes: 0 every verified sink equals the source, 1 drift, 2 usage or connection error.
 */
import { parseArgs } from 'node:util';
import { ConfigError, envReader, loadConfig, loadDotenv } from '../../consumers/core/config.js';
import { loadElasticsearchConfig } from '../../consumers/elasticsearch/elasticsearch-config.js';
import { redisConfigFromEnv } from '../../consumers/redis/redis-config.js';
import { warehouseConfigFromEnv } from '../../consumers/warehouse/warehouse-config.js';
import { formatReport } from './report-text.js';
import { DEFAULT_SETTLE_TIMEOUT_MS, DEFAULT_TABLES, VERIFY_SINKS, verify, VerifyError, type VerifyOptions, type VerifySinkName } from './verify.js';

const USAGE = `usage: npm run verify -- [--sink elasticsearch|redis|warehouse]... [--table NAME]... [--sample N] [--settle-seconds S] [--json] [--max-items N] [--change-log-scan]

  --sink NAME          verify this sink (repeatable); default: every sink whose engine answers and holds data
  --table NAME         only this table (repeatable); default: ${DEFAULT_TABLES.join(', ')}
  --sample N           N random rows per table instead of all
  --settle-seconds S   how long differing rows are re-checked while consumers catch up (default ${DEFAULT_SETTLE_TIMEOUT_MS / 1000})
  --json               the report as JSON on stdout
  --max-items N        drifting rows listed in the text report (default 50)
  --change-log-scan    also scan the warehouse's change_log for duplicate entries (one pass over it;
                       the native stack's MongoDB-wire server may run out of heap on a large log)

exit codes: 0 clean, 1 drift, 2 usage or connection error`;

class UsageError extends Error {}

function positiveInt(name: string, text: string | undefined, allowZero = false): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || (!allowZero && n < 1)) throw new UsageError(`--${name} expects a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(text)}`);
  return n;
}

function options(argv: string[], env: NodeJS.ProcessEnv): { verifyOptions: VerifyOptions; json: boolean; maxItems: number } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        sink: { type: 'string', multiple: true },
        table: { type: 'string', multiple: true },
        sample: { type: 'string' },
        'settle-seconds': { type: 'string' },
        json: { type: 'boolean', default: false },
        'max-items': { type: 'string' },
        'change-log-scan': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const named = (values.sink ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = named.filter((s) => !VERIFY_SINKS.includes(s as VerifySinkName));
  if (unknown.length > 0) throw new UsageError(`unknown sink ${unknown.join(', ')}: expected ${VERIFY_SINKS.join(', ')}`);
  const sinks = (named.length > 0 ? [...new Set(named)] : VERIFY_SINKS) as VerifySinkName[];
  const tables = (values.table ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
  const settleSeconds = positiveInt('settle-seconds', values['settle-seconds'], true);

  const read = envReader(env);
  const postgresUrl = read.url('POSTGRES_URL', 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce', ['postgres:', 'postgresql:']);
  const config: VerifyOptions['sinks'] = {};
  if (sinks.includes('elasticsearch')) {
    const es = loadElasticsearchConfig(env);
    config.elasticsearch = { url: es.url, indexPrefix: es.indexPrefix };
  }
  if (sinks.includes('redis')) {
    const redis = redisConfigFromEnv(env);
    config.redis = { url: redis.url, keyPrefix: redis.keyPrefix, recentOrdersLength: redis.recentOrdersLength };
  }
  if (sinks.includes('warehouse')) {
    const warehouse = warehouseConfigFromEnv(env);
    config.warehouse = { url: warehouse.url, database: warehouse.database, changeLogScan: values['change-log-scan'] ?? false };
  }
  // Consumer progress: the same group ids and topics the consumers derive from this environment.
  const groups: Partial<Record<VerifySinkName, string>> = {};
  let topics: readonly string[] = [];
  let brokers: readonly string[] = [];
  for (const sink of sinks) {
    const consumer = loadConfig(sink, env);
    groups[sink] = consumer.groupId;
    topics = consumer.topics;
    brokers = consumer.kafka.brokers;
  }
  return {
    verifyOptions: {
      postgresUrl,
      sinks: config,
      tables: tables.length > 0 ? tables : undefined,
      sample: positiveInt('sample', values.sample),
      settleTimeoutMs: settleSeconds === undefined ? undefined : settleSeconds * 1000,
      progress: { kafkaBrokers: brokers, groups, topics },
      requiredSinks: named.length > 0 ? sinks : undefined,
    },
    json: values.json ?? false,
    maxItems: positiveInt('max-items', values['max-items']) ?? 50,
  };
}

/** A progress bar on stderr when it is a terminal. */
function progressBar(): VerifyOptions['onProgress'] {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return ({ sink, table, done, total }) => {
    const now = Date.now();
    if (done < total && now - last < 100) return;
    last = now;
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    process.stderr.write(`\r\x1b[K${sink} ${table} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
    if (done >= total) process.stderr.write('\r\x1b[K');
  };
}

async function main(): Promise<number> {
  loadDotenv();
  let parsed;
  try {
    parsed = options(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(`verify: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  try {
    const report = await verify({ ...parsed.verifyOptions, onProgress: parsed.json ? undefined : progressBar() });
    console.log(parsed.json ? JSON.stringify(report, null, 2) : formatReport(report, parsed.maxItems));
    return report.ok ? 0 : 1;
  } catch (error) {
    const message = error instanceof VerifyError ? error.message : `unexpected error: ${(error as Error).stack ?? String(error)}`;
    console.error(`verify: ${message}`);
    return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`verify: ${(error as Error).stack ?? String(error)}`);
    process.exit(2);
  },
);
