/**
 * For the operator tests (npm start, the pipeline page, npm run dlq): real consumer processes
 * and CLI runs, isolated per test run. Every consumer of the list gets its own group, dead-letter
 * topic and health port, and its sink a namespace of its own (SINK_ISOLATION), so a test never
 * touches the stack's real groups, cache keys or indexes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { consumerEnvPrefix } from '../../consumers/core/config.js';
import { deletePrefix } from '../../consumers/redis/cache-dump.js';
import { CONSUMERS } from '../../scripts/operator/consumer-list.js';
import { engines } from './engines.js';

export const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The variables that give a consumer's SINK its own namespace in a test run. A consumer joining
 * the list adds its line here (the warehouse: its database name; notification: its ledger).
 */
export const SINK_ISOLATION: Readonly<Record<string, (run: string) => Record<string, string>>> = {
  redis: (run) => ({ REDIS_KEY_PREFIX: `${run}:` }),
  elasticsearch: (run) => ({ ES_INDEX_PREFIX: `${run}-` }),
  warehouse: (run) => ({ WAREHOUSE_DATABASE: warehouseDatabase(run) }),
  // Its ledger, contacts and rate limits under the run's Redis prefix; mail to the stack's Mailpit;
  // no SMS/push credentials, so those go to the dev outbox.
  notification: (run) => ({ NOTIFY_KEY_PREFIX: `${run}:notify:`, SMTP_URL: engines().smtp }),
};

/** The run's own warehouse database (MongoDB names: letters, digits, _ and -, at most 63). */
function warehouseDatabase(run: string): string {
  return `wh_${run}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 63);
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = net.createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => done(port));
    });
  });
}

export interface IsolatedRun {
  readonly run: string;
  readonly env: NodeJS.ProcessEnv;
  /** Per consumer name. */
  readonly groups: Record<string, string>;
  readonly deadLetterTopics: Record<string, string>;
  readonly healthPorts: Record<string, number>;
}

/** The environment for consumers and tools of one test run (engine addresses from the harness). */
export async function isolatedRun(run: string, names: readonly string[] = CONSUMERS.map((c) => c.name), extra: Record<string, string> = {}): Promise<IsolatedRun> {
  const urls = engines();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    POSTGRES_URL: urls.postgres,
    KAFKA_BROKERS: urls.kafka,
    KAFKA_CONNECT_URL: urls.connect,
    ELASTICSEARCH_URL: urls.elasticsearch,
    REDIS_URL: urls.redis,
    MONGODB_URL: urls.mongodb,
    FROM_BEGINNING: 'false',
    LOG_LEVEL: 'info',
    RETRY_INITIAL_MS: '100',
    RETRY_MAX_MS: '2000',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
  };
  const groups: Record<string, string> = {};
  const deadLetterTopics: Record<string, string> = {};
  const healthPorts: Record<string, number> = {};
  for (const name of names) {
    const prefix = consumerEnvPrefix(name);
    groups[name] = `${run}-${name}`;
    deadLetterTopics[name] = `${run}.dlq.${name}`;
    healthPorts[name] = await freePort();
    Object.assign(env, {
      [`${prefix}_CONSUMER_GROUP`]: groups[name],
      [`${prefix}_DLQ_TOPIC`]: deadLetterTopics[name],
      [`${prefix}_HEALTH_PORT`]: String(healthPorts[name]),
      ...(SINK_ISOLATION[name]?.(run) ?? {}),
    });
  }
  Object.assign(env, extra);
  return { run, env, groups, deadLetterTopics, healthPorts };
}

export interface ConsumerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with the exit code (null: killed by a signal). */
  readonly exited: Promise<number | null>;
}

/** Starts `consumers/<name>/main.ts` the way npm start does. */
export function startConsumer(name: string, env: NodeJS.ProcessEnv): ConsumerProcess {
  const entry = CONSUMERS.find((consumer) => consumer.name === name)!;
  const child = spawn(process.execPath, ['--import', 'tsx', entry.main], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { name, child, output: () => text, exited };
}

/** Waits until http://127.0.0.1:<port>/ready answers 200. */
export async function waitReady(port: number, timeoutMs = 90_000, process?: ConsumerProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (process?.child.exitCode !== null && process?.child.exitCode !== undefined) {
      throw new Error(`consumer:${process.name} exited ${process.child.exitCode} before it was ready:\n${process.output().slice(-3000)}`);
    }
    if (Date.now() > deadline) throw new Error(`nothing ready on port ${port} after ${timeoutMs} ms${process ? `:\n${process.output().slice(-3000)}` : ''}`);
    await sleep(500);
  }
}

/** SIGINT, then the exit code. */
export async function stopConsumer(process: ConsumerProcess): Promise<number | null> {
  if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGINT');
  return process.exited;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `npm run dlq -- <args>` (the same file, without npm's banner). */
export function runDlq(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/dlq.ts', ...args], { cwd: ROOT, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Polls `check` until it returns a value other than undefined/false. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

/** Removes what the run's sinks wrote: its Redis keys, Elasticsearch indexes and warehouse database. */
export async function cleanSinks(run: string): Promise<void> {
  const mongo = new MongoClient(engines().mongodb, { serverSelectionTimeoutMS: 5_000 });
  try {
    await mongo.db(warehouseDatabase(run)).dropDatabase();
  } catch {
    // MongoDB not reachable: nothing of this run to drop there
  } finally {
    await mongo.close();
  }
  const redis = new Redis(engines().redis);
  try {
    await deletePrefix(redis, `${run}:`);
  } finally {
    redis.disconnect();
  }
  const es = engines().elasticsearch.replace(/\/$/, '');
  const response = await fetch(`${es}/_cat/indices/${run}-*?format=json`).catch(() => null);
  if (!response?.ok) return;
  const indices = (await response.json()) as { index: string }[];
  // By name: Elasticsearch 8 refuses wildcard deletes (action.destructive_requires_name).
  if (indices.length > 0) await fetch(`${es}/${indices.map((i) => i.index).join(',')}`, { method: 'DELETE' }).catch(() => undefined);
}
