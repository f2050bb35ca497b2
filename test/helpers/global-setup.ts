/**
 * Vitest global setup for the integration project: probes every engine once, shares the result
 * with the test files (see engines.ts) and prints one loud summary line.
 *
 * Engines are found from the environment (`.env`, `.stack/env` written by the native stack) or
 * the loopback defaults. When an engine is missing and a Docker engine is available, it is
 * started with testcontainers (see containers.ts); in CI a missing engine fails the run.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { engineUrlsFromEnv, type EngineName, type EngineUrls } from './engine-urls.js';
import { probeEngine } from './probe.js';
import { dockerAvailable, startComposeStack } from './containers.js';

function loadEnvFile(path: string): void {
  if (!existsSync(path)) return;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/.exec(line);
    if (match && process.env[match[1]!] === undefined) process.env[match[1]!] = match[2]!.replace(/^["']|["']$/g, '');
  }
}

async function probeAll(urls: EngineUrls) {
  const names = Object.keys(urls) as EngineName[];
  return Promise.all(names.map(async (name) => [name, await probeEngine(name, urls[name])] as const));
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  loadEnvFile('.stack/env');
  loadEnvFile('.env');
  const urls: EngineUrls = engineUrlsFromEnv();
  const names = Object.keys(urls) as EngineName[];
  let results = await probeAll(urls);
  let teardown: (() => Promise<void>) | undefined;
  if (results.some(([, error]) => error !== null) && (await dockerAvailable())) {
    teardown = await startComposeStack(process.cwd());
    results = await probeAll(urls);
  }
  const up = results.filter(([, error]) => error === null).map(([name]) => name);
  const down = results.filter(([, error]) => error !== null);
  const summary = names.map((n) => `${n}=${up.includes(n) ? 'up' : 'DOWN'}`).join(' ');
  console.log(`\n[integration] engines: ${summary}`);
  for (const [name, error] of down) console.log(`[integration]   ${name} (${urls[name]}): ${error}`);
  project.provide('engineUrls', urls);
  project.provide('enginesUp', up);
  return teardown;
}
