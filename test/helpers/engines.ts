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

import { engineUrlsFromEnv, type EngineName, type EngineUrls } from './engine-urls.js';

export { engineUrlsFromEnv, type EngineName, type EngineUrls };

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
