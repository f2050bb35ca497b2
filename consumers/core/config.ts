/**
 * Configuration from the environment, parsed ONCE at start-up into a typed, frozen object.
 *
 * A bad or missing value throws ConfigError naming the variable and what was expected; the
 * process entry (run-consumer.ts) prints that message and exits 1 before touching any engine.
 * Empty values (`FOO=` in a .env file) count as unset, so the default applies.
 *
 * Sinks read their own variables with the same helpers:
 *   const env = envReader(process.env);
 *   const url = env.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']);
 *
 * Variables that would clash when all four consumers share one `.env` (group id, dead-letter
 * topic, health port, client id) can be set per consumer: `REDIS_CONSUMER_GROUP` wins over
 * `CONSUMER_GROUP`. Pass a list of names to any helper to get that "first one set wins" lookup.
 */
import dotenv from 'dotenv';
import { maskUrlCredentials } from './mask-credentials.js';

/** A bad setting; its message may quote the value, with any URL password masked. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly variable: string, message: string) {
    super(maskUrlCredentials(message));
  }
}

/** One variable name, or several where the first one set wins (most specific first). */
export type VarNames = string | readonly string[];

export interface EnvReader {
  string(name: VarNames, fallback?: string): string;
  int(name: VarNames, fallback?: number, range?: { min?: number; max?: number }): number;
  bool(name: VarNames, fallback?: boolean): boolean;
  /** An absolute URL whose protocol (with colon, e.g. 'http:') is one of `protocols` when given. */
  url(name: VarNames, fallback?: string, protocols?: readonly string[]): string;
  /** Comma-separated, trimmed, empty items dropped; at least one item. */
  list(name: VarNames, fallback?: readonly string[]): string[];
  oneOf<T extends string>(name: VarNames, allowed: readonly T[], fallback?: T): T;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** Helpers that read `env` (usually `process.env`); each throws ConfigError on a bad value. */
export function envReader(env: NodeJS.ProcessEnv | Record<string, string | undefined>): EnvReader {
  /** The first variable that is set (non-empty), or the most specific name when none is. */
  function lookup(names: VarNames): { name: string; raw: string | undefined } {
    const list = typeof names === 'string' ? [names] : names;
    for (const name of list) {
      const value = env[name];
      if (value !== undefined && value.trim() !== '') return { name, raw: value.trim() };
    }
    return { name: list[0] ?? '(unnamed)', raw: undefined };
  }

  function read<T>(names: VarNames, fallback: T | undefined, expected: string, parse: (raw: string) => T | undefined): T {
    const { name, raw } = lookup(names);
    if (raw === undefined) {
      if (fallback !== undefined) return fallback;
      const alternatives = typeof names === 'string' || names.length < 2 ? '' : ` (or ${names.slice(1).join(', ')})`;
      throw new ConfigError(name, `${name}${alternatives} is required: expected ${expected}`);
    }
    const value = parse(raw);
    if (value === undefined) throw new ConfigError(name, `${name}=${JSON.stringify(raw)} is invalid: expected ${expected}`);
    return value;
  }

  return {
    string: (name, fallback) => read(name, fallback, 'a non-empty string', (raw) => raw),

    int(name, fallback, range = {}) {
      const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
      const expected = `an integer from ${min} to ${max}`;
      return read(name, fallback, expected, (raw) => {
        if (!/^[+-]?\d+$/.test(raw)) return undefined;
        const value = Number(raw);
        return Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
      });
    },

    bool: (name, fallback) =>
      read(name, fallback, 'true or false (also 1/0, yes/no, on/off)', (raw) => {
        const word = raw.toLowerCase();
        return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : undefined;
      }),

    url(name, fallback, protocols) {
      const expected = protocols?.length ? `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` : 'an absolute URL';
      return read(name, fallback, expected, (raw) => {
        try {
          const parsed = new URL(raw);
          return !protocols?.length || protocols.includes(parsed.protocol) ? raw : undefined;
        } catch {
          return undefined;
        }
      });
    },

    list(name, fallback) {
      return read(name, fallback ? [...fallback] : undefined, 'a comma-separated list with at least one item', (raw) => {
        const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
        return items.length > 0 ? items : undefined;
      });
    },

    oneOf: (name, allowed, fallback) =>
      read(name, fallback, `one of ${allowed.join(', ')}`, (raw) => allowed.find((option) => option === raw)),
  };
}

/**
 * Loads `.env` from the working directory into process.env for local runs. Variables already set
 * in the real environment always win (dotenv never overrides them). A missing file is fine.
 */
export function loadDotenv(path = '.env'): void {
  dotenv.config({ path, quiet: true, override: false });
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Health/metrics ports of the consumers this project ships; each runs its own server. */
export const DEFAULT_HEALTH_PORTS: Readonly<Record<string, number>> = Object.freeze({
  elasticsearch: 9101,
  redis: 9102,
  warehouse: 9103,
  notification: 9104,
});

/** What every consumer process needs, whatever its sink. */
export interface ConsumerConfig {
  /** Short consumer name, e.g. "redis": used in the group id, DLQ topic, logs and metrics. */
  readonly consumer: string;
  readonly kafka: { readonly brokers: readonly string[]; readonly clientId: string };
  /** Debezium `topic.prefix`, e.g. "ecommerce". */
  readonly topicPrefix: string;
  /** Captured tables, e.g. ["customers", ...]; "schema.table" is allowed, "public" is implied. */
  readonly tables: readonly string[];
  /** `<prefix>.<schema>.<table>` for every table. */
  readonly topics: readonly string[];
  readonly groupId: string;
  /** Where a NEW group starts: true reads the snapshot, false only changes from now on. */
  readonly fromBeginning: boolean;
  readonly partitionsConcurrency: number;
  /** Most events handed to one sink write call (a batch is split into chunks of this size). */
  readonly maxEventsPerWrite: number;
  /** Most bytes one fetch brings per partition: bigger fetches keep the sink busier between fetches. */
  readonly fetchMaxBytesPerPartition: number;
  /** Longest the broker holds a fetch open waiting for `fetchMinBytes` (FETCH_MAX_WAIT_MS). */
  readonly fetchMaxWaitMs: number;
  /** Bytes the broker waits for before answering a fetch (FETCH_MIN_BYTES; 1 = answer as soon as anything arrives). */
  readonly fetchMinBytes: number;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  /** A partition retrying without progress for longer than this makes /ready answer 503. */
  readonly laneStuckAfterMs: number;
  /**
   * Group session timeout and heartbeat interval. The runner heartbeats during sink calls too;
   * the session is kept above the longest single sink request (see RunnerOptions.sessionTimeoutMs).
   */
  readonly session: { readonly timeoutMs: number; readonly heartbeatIntervalMs: number };
  readonly deadLetterTopic: string;
  /** Port of the /live, /ready, /metrics server; 0 picks a free port. */
  readonly healthPort: number;
  /**
   * Address it listens on: loopback by default (metrics show table names, lag and errors);
   * 0.0.0.0 to let a scraper or probe on another host (or outside a container) reach it.
   */
  readonly healthHost: string;
  readonly logLevel: LogLevel;
  /** How long a graceful shutdown may take before the process exits 1 anyway. */
  readonly shutdownTimeoutMs: number;
}

/** "warehouse" -> "WAREHOUSE", "my-sink" -> "MY_SINK": the prefix of per-consumer variables. */
export function consumerEnvPrefix(consumer: string): string {
  return consumer.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

/**
 * Fetch defaults for latency. minBytes 1: the broker answers a fetch the moment one change is
 * there, so a change never waits for others to arrive (a larger minBytes adds up to maxWait to
 * every change at low load); under load a fetch still brings everything that piled up while the
 * sink wrote the previous batch, up to FETCH_MAX_BYTES_PER_PARTITION, so batches grow by
 * themselves. maxWait 500 ms instead of kafkajs' 5 s: it only bounds an idle long-poll (2 empty
 * fetches a second per consumer, nothing next to the broker's work) and how long kafkajs sleeps
 * when every partition of the broker is paused, so a resumed partition waits at most 0.5 s.
 */
export const DEFAULT_FETCH_MAX_WAIT_MS = 500;
export const DEFAULT_FETCH_MIN_BYTES = 1;

const BROKER = /^[^\s:,]+:\d{1,5}$/;

/**
 * Parses the common consumer configuration. Throws ConfigError on the first bad variable.
 * `defaults.healthPort` is for consumers not in DEFAULT_HEALTH_PORTS (new consumers);
 * `defaults.maxEventsPerWrite` for a sink whose writes take long per event (kafkajs heartbeats
 * only between writes, so one write must stay well inside the group session timeout).
 */
export function loadConfig(
  consumer: string,
  env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env,
  defaults: { healthPort?: number; maxEventsPerWrite?: number } = {},
): ConsumerConfig {
  if (!/^[a-z][a-z0-9-]*$/.test(consumer)) {
    throw new ConfigError('consumer name', `consumer name ${JSON.stringify(consumer)} must be lower-case letters, digits and dashes`);
  }
  const read = envReader(env);
  const scoped = (name: string): string[] => [`${consumerEnvPrefix(consumer)}_${name}`, name];

  const brokers = read.list('KAFKA_BROKERS', ['127.0.0.1:9092']);
  const badBroker = brokers.find((broker) => !BROKER.test(broker));
  if (badBroker !== undefined) {
    throw new ConfigError('KAFKA_BROKERS', `KAFKA_BROKERS entry ${JSON.stringify(badBroker)} is invalid: expected host:port, comma-separated`);
  }

  const topicPrefix = read.string('TOPIC_PREFIX', 'ecommerce');
  const tables = read.list('TABLES', ['customers', 'products', 'orders', 'order_items']);
  const topics = tables.map((table) => `${topicPrefix}.${table.includes('.') ? table : `public.${table}`}`);

  const retryInitialMs = read.int('RETRY_INITIAL_MS', 200, { min: 1, max: 600_000 });
  const retryMaxMs = read.int('RETRY_MAX_MS', 30_000, { min: 1, max: 3_600_000 });
  if (retryMaxMs < retryInitialMs) {
    throw new ConfigError('RETRY_MAX_MS', `RETRY_MAX_MS=${retryMaxMs} is invalid: expected at least RETRY_INITIAL_MS (${retryInitialMs})`);
  }

  // The broker's group.min/max.session.timeout.ms defaults bound the session.
  const sessionTimeoutMs = read.int('KAFKA_SESSION_TIMEOUT_MS', 45_000, { min: 6_000, max: 1_800_000 });
  // Unset, the heartbeat follows a short session down (a 6 s session heartbeats every 2 s).
  const heartbeatIntervalMs = read.int('KAFKA_HEARTBEAT_INTERVAL_MS', Math.min(3_000, Math.floor(sessionTimeoutMs / 3)), { min: 100, max: 600_000 });
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) {
    throw new ConfigError(
      'KAFKA_HEARTBEAT_INTERVAL_MS',
      `KAFKA_HEARTBEAT_INTERVAL_MS=${heartbeatIntervalMs} is invalid: expected at most a third of KAFKA_SESSION_TIMEOUT_MS (${sessionTimeoutMs}), so one lost heartbeat does not end the session`,
    );
  }

  const defaultHealthPort = DEFAULT_HEALTH_PORTS[consumer] ?? defaults.healthPort;

  return deepFreeze({
    consumer,
    kafka: { brokers, clientId: read.string(scoped('KAFKA_CLIENT_ID'), `cdc-${consumer}`) },
    topicPrefix,
    tables,
    topics,
    groupId: read.string(scoped('CONSUMER_GROUP'), `cdc-${consumer}`),
    fromBeginning: read.bool('FROM_BEGINNING', true),
    partitionsConcurrency: read.int('PARTITIONS_CONCURRENCY', 3, { min: 1, max: 256 }),
    maxEventsPerWrite: read.int(scoped('MAX_EVENTS_PER_WRITE'), defaults.maxEventsPerWrite ?? 1000, { min: 1, max: 100_000 }),
    fetchMaxBytesPerPartition: read.int('FETCH_MAX_BYTES_PER_PARTITION', 4 * 1024 * 1024, { min: 64 * 1024, max: 256 * 1024 * 1024 }),
    fetchMaxWaitMs: read.int('FETCH_MAX_WAIT_MS', DEFAULT_FETCH_MAX_WAIT_MS, { min: 1, max: 60_000 }),
    fetchMinBytes: read.int('FETCH_MIN_BYTES', DEFAULT_FETCH_MIN_BYTES, { min: 1, max: 64 * 1024 * 1024 }),
    retry: { initialMs: retryInitialMs, maxMs: retryMaxMs },
    laneStuckAfterMs: read.int('LANE_STUCK_AFTER_MS', 30_000, { min: 1, max: 86_400_000 }),
    session: { timeoutMs: sessionTimeoutMs, heartbeatIntervalMs },
    deadLetterTopic: read.string(scoped('DLQ_TOPIC'), `${topicPrefix}.dlq.${consumer}`),
    healthPort: read.int(scoped('HEALTH_PORT'), defaultHealthPort, { min: 0, max: 65_535 }),
    healthHost: read.string(scoped('HEALTH_HOST'), '127.0.0.1'),
    logLevel: read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', 30_000, { min: 1, max: 600_000 }),
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
