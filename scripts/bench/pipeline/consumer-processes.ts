/**
 * Starts the project's consumers for the bench, each as its own Node process exactly as
 * `npm run consumer:<name>` would run it (its main.ts through tsx), but in a consumer group of
 * the bench's own that starts at the end of the topics, on a free health port, and where the
 * sink allows it, writing under a bench prefix (so the bench never touches the cache or indexes
 * the shop's own consumers keep).
 *
 * A consumer that is not built yet exits at once ("not implemented"): it is reported as not
 * running, with its last line of output, and the bench goes on with the others.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { consumerEnvPrefix } from '../../../consumers/core/config.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const READY_TIMEOUT_MS = 120_000;

export const CONSUMERS = ['elasticsearch', 'redis', 'warehouse', 'notification'] as const;
export type ConsumerName = (typeof CONSUMERS)[number];

export interface RunningConsumer {
  readonly name: ConsumerName;
  readonly process: ChildProcess;
  readonly pid: number;
  readonly healthPort: number;
  readonly groupId: string;
}

export interface StartedConsumers {
  readonly running: RunningConsumer[];
  /** Consumers that did not come up, with why. */
  readonly missing: { name: ConsumerName; reason: string }[];
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The warehouse database of one bench run (dropped at the end of the run). */
export function benchWarehouseDatabase(run: string): string {
  return `bench_warehouse_${run}`;
}

/** Environment for one bench consumer: the caller's, plus the bench's group, port and prefixes. */
function consumerEnv(name: ConsumerName, run: string, healthPort: number, prefixes: { redis: string; elasticsearch: string }): NodeJS.ProcessEnv {
  const upper = consumerEnvPrefix(name);
  return {
    ...process.env,
    [`${upper}_CONSUMER_GROUP`]: `cdc-bench-${name}-${run}`,
    [`${upper}_HEALTH_PORT`]: String(healthPort),
    FROM_BEGINNING: 'false',
    LOG_LEVEL: process.env.BENCH_CONSUMER_LOG_LEVEL ?? 'warn',
    REDIS_KEY_PREFIX: prefixes.redis,
    ES_INDEX_PREFIX: prefixes.elasticsearch,
    // The warehouse writes a database of the bench's own, the notification ledger, contacts and
    // rate limits live under the bench's Redis prefix (so the real ledger never hears of the
    // bench's orders), and nothing is rate-limited: the bench measures the pipeline, not a quota.
    WAREHOUSE_DATABASE: benchWarehouseDatabase(run),
    NOTIFY_KEY_PREFIX: `${prefixes.redis}notify:`,
    NOTIFY_RATE_LIMIT_EMAIL_PER_MINUTE: '0',
    NOTIFY_RATE_LIMIT_SMS_PER_MINUTE: '0',
    NOTIFY_RATE_LIMIT_PUSH_PER_MINUTE: '0',
    FORCE_COLOR: '0',
  };
}

async function isReady(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(1_000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Starts every consumer in `names` at once and waits until each is ready or has exited. */
export async function startConsumers(names: readonly ConsumerName[], run: string, prefixes: { redis: string; elasticsearch: string }): Promise<StartedConsumers> {
  const attempts = await Promise.all(
    names.map(async (name) => {
      const healthPort = await freePort();
      const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, `consumers/${name}/main.ts`)], {
        cwd: ROOT,
        env: consumerEnv(name, run, healthPort, prefixes),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let lastLine = '';
      const remember = (chunk: Buffer) => {
        const lines = chunk.toString('utf8').trim().split('\n');
        lastLine = lines.at(-1) ?? lastLine;
        if (process.env.BENCH_CONSUMER_OUTPUT === '1') process.stderr.write(`[${name}] ${chunk.toString('utf8')}`);
      };
      child.stdout!.on('data', remember);
      child.stderr!.on('data', remember);
      let exited: number | null | undefined;
      child.once('exit', (code) => (exited = code));
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (exited === undefined && Date.now() < deadline) {
        if (await isReady(healthPort)) {
          return { ok: true as const, consumer: { name, process: child, pid: child.pid!, healthPort, groupId: `cdc-bench-${name}-${run}` } };
        }
        await new Promise((resolveWait) => setTimeout(resolveWait, 250));
      }
      if (exited === undefined) child.kill('SIGTERM');
      return { ok: false as const, name, reason: exited === undefined ? `not ready after ${READY_TIMEOUT_MS / 1000} s` : `exited with code ${exited}: ${lastLine.slice(0, 200)}` };
    }),
  );
  return {
    running: attempts.flatMap((attempt) => (attempt.ok ? [attempt.consumer] : [])),
    missing: attempts.flatMap((attempt) => (attempt.ok ? [] : [{ name: attempt.name, reason: attempt.reason }])),
  };
}

/** The consumer's /metrics text, or null if it does not answer. */
export async function scrapeMetrics(consumer: RunningConsumer): Promise<string | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${consumer.healthPort}/metrics`, { signal: AbortSignal.timeout(2_000) });
    return response.ok ? await response.text() : null;
  } catch {
    return null;
  }
}

/** SIGTERM (the consumer finishes its batch, commits, exits 0); SIGKILL after 30 s. */
export async function stopConsumers(consumers: readonly RunningConsumer[]): Promise<void> {
  await Promise.all(
    consumers.map(
      (consumer) =>
        new Promise<void>((resolveStop) => {
          if (consumer.process.exitCode !== null || consumer.process.signalCode !== null) return resolveStop();
          const timer = setTimeout(() => consumer.process.kill('SIGKILL'), 30_000);
          consumer.process.once('exit', () => {
            clearTimeout(timer);
            resolveStop();
          });
          consumer.process.kill('SIGTERM');
        }),
    ),
  );
}
