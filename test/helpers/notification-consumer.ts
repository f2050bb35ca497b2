/**
 * The notification consumer as the tests run it: the real entrypoint (`consumers/notification/
 * main.ts`, what `npm run consumer:notification` starts) in a child process of its own, started
 * with `node --import tsx` so that the pid we hold IS the consumer (kill -9 hits it), configured
 * only through its environment, as a user would. Plus the Kafka group and ledger reads the
 * notification tests share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { withAdmin } from './kafka-admin.js';

const ROOT = resolve(import.meta.dirname, '../..');
export const NOTIFICATION_TOPICS = ['customers', 'products', 'orders', 'order_items'].map((table) => `ecommerce.public.${table}`);
export const CUSTOMERS_TOPIC = 'ecommerce.public.customers';

export class NotificationProcess {
  private exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  }

  /** Starts a consumer with `env` on top of a clean environment (PATH and HOME kept). */
  static start(env: Record<string, string>, logFile: string, nodeArgs: readonly string[] = []): NotificationProcess {
    const out = openSync(logFile, 'a');
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'consumers/notification/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    return new NotificationProcess(child, logFile);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** kill -9: no shutdown, no commit, no ledger cleanup. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait: a clean shutdown (finish the batch, commit, leave the group); the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }

  log(): string {
    return readFileSync(this.logFile, 'utf8');
  }
}

/** The environment every test consumer gets: the stack's engines, its own group, DLQ topic and key prefix. */
export function consumerEnv(options: { kafka: string; redis: string; smtp: string; run: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KAFKA_BROKERS: options.kafka,
    REDIS_URL: options.redis,
    SMTP_URL: options.smtp,
    NOTIFICATION_CONSUMER_GROUP: `${options.run}-group`,
    NOTIFICATION_DLQ_TOPIC: `${options.run}.dlq`,
    NOTIFY_KEY_PREFIX: `${options.run}:`,
    NOTIFICATION_HEALTH_PORT: '0',
    LOG_LEVEL: 'warn',
    // Quick retries: the faults the tests inject last seconds, not minutes.
    RETRY_INITIAL_MS: '100',
    RETRY_MAX_MS: '2000',
    NOTIFY_CHANNEL_RETRY_INITIAL_MS: '200',
    NOTIFY_CHANNEL_RETRY_MAX_MS: '2000',
    ...extra,
  };
}

/** Commits the current end of every partition for a new group: it then reads only what comes next. */
export async function startGroupAtEnd(kafka: Kafka, groupId: string, topics: readonly string[] = NOTIFICATION_TOPICS): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    for (const topic of topics) {
      const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.high }));
      await admin.setOffsets({ groupId, topic, partitions });
    }
  });
}

/** Moves an idle group back to offset 0 of every partition (a full replay). */
export async function rewindGroup(kafka: Kafka, groupId: string, topics: readonly string[] = NOTIFICATION_TOPICS): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    for (const topic of topics) await admin.resetOffsets({ groupId, topic, earliest: true });
  });
}

/** Resolves once `groupId` has committed the current end of each of `topics`' non-empty partitions. */
export async function waitCaughtUp(kafka: Kafka, groupId: string, topics: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await withAdmin(kafka, async (admin) => {
    for (;;) {
      const behind: string[] = [];
      const committed = new Map<string, string>();
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics: [...topics] })) {
        for (const p of partitions) committed.set(`${topic}:${p.partition}`, p.offset);
      }
      for (const topic of topics) {
        for (const p of await admin.fetchTopicOffsets(topic)) {
          const at = committed.get(`${topic}:${p.partition}`);
          if (p.high !== '0' && p.high !== p.low && at !== p.high) behind.push(`${topic}:${p.partition} (${at} of ${p.high})`);
        }
      }
      if (behind.length === 0) return;
      if (Date.now() > deadline) throw new Error(`group ${groupId} still behind on ${behind.join(', ')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });
}

/** Every ledger entry under `prefix`, by delivery id. */
export async function readLedger(redis: Redis, prefix: string): Promise<Map<string, Record<string, string>>> {
  const entries = new Map<string, Record<string, string>>();
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}ledger:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  for (let i = 0; i < keys.length; i += 500) {
    const pipeline = redis.pipeline();
    for (const key of keys.slice(i, i + 500)) pipeline.hgetall(key);
    const replies = (await pipeline.exec()) ?? [];
    keys.slice(i, i + 500).forEach((key, index) => entries.set(key.slice(`${prefix}ledger:`.length), replies[index]![1] as Record<string, string>));
  }
  return entries;
}

/** The attempts audit stream under `prefix`. */
export async function readAttempts(redis: Redis, prefix: string): Promise<Record<string, string>[]> {
  const rows = await redis.xrange(`${prefix}attempts`, '-', '+');
  return rows.map(([, fields]) => {
    const record: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
    return record;
  });
}

/** Deletes every key under `prefix` (tests clean up their ledger). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.del(...found);
  } while (cursor !== '0');
}

export function logPath(dir: string, name: string): string {
  return join(dir, `${name}.log`);
}
