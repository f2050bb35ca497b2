/**
 * Where the integration tests find the real engines.
 *
 * Each engine's address comes from an environment variable (set by the user, by `.env`, or by
 * the native stack's `.stack/env`), defaulting to the loopback ports that `./setup.sh` uses in
 * both its Docker and native modes. `global-setup.ts` probes them once per run; a test file
 * declares what it needs with `requireEngines(...)`:
 * - in CI (`CI=true`) a missing engine FAILS the file, naming the engine;
 * - elsewhere the file is skipped, and the run prints loudly which engines were missing.
 */
import { expect, inject } from 'vitest';

export type EngineName = 'postgres' | 'kafka' | 'connect' | 'elasticsearch' | 'redis' | 'mongodb';

export interface EngineUrls {
  /** libpq URL of the shop database (superuser), e.g. postgres://postgres:postgres@127.0.0.1:5432/ecommerce */
  postgres: string;
  /** Comma-separated broker list, e.g. 127.0.0.1:9092 */
  kafka: string;
  /** Kafka Connect REST, e.g. http://127.0.0.1:8083 */
  connect: string;
  elasticsearch: string;
  redis: string;
  mongodb: string;
}

/** Engine addresses from the environment, with the stack's loopback defaults. */
export function engineUrlsFromEnv(env: NodeJS.ProcessEnv = process.env): EngineUrls {
  return {
    postgres: env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce',
    kafka: env.KAFKA_BROKERS ?? '127.0.0.1:9092',
    connect: env.KAFKA_CONNECT_URL ?? 'http://127.0.0.1:8083',
    elasticsearch: env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200',
    redis: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    mongodb: env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017',
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    engineUrls: EngineUrls;
    /** Engines that answered the probe in global setup. */
    enginesUp: EngineName[];
  }
}

/** The probed engine addresses (only meaningful inside the integration project). */
export function engines(): EngineUrls {
  return inject('engineUrls');
}

/**
 * Declares which engines a test file needs. Returns true when all are up. When some are down it
 * throws in CI (so the run fails naming them) and returns false elsewhere, after printing a loud
 * warning; use it as `describe.runIf(requireEngines('kafka', 'redis'))(...)`.
 */
export function requireEngines(...needed: EngineName[]): boolean {
  const up = new Set(inject('enginesUp'));
  const missing = needed.filter((name) => !up.has(name));
  if (missing.length === 0) return true;
  const message =
    `integration engines not reachable: ${missing.join(', ')}. ` +
    'Start them with ./setup.sh (or set the *_URL variables, see .env.example).';
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`${message} CI=true, so this is a failure, not a skip.`);
  }
  console.warn(`\n!!! SKIPPING ${expect.getState().testPath ?? 'integration tests'}: ${message}\n`);
  return false;
}

/** A name unique to this test run, for topics, indexes, key prefixes and consumer groups. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}
