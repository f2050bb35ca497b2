/**
 * Stops and starts one of the shared engines, for outage tests ("stop Elasticsearch for 30 s while
 * changes continue"). Uses whichever stack `./setup.sh` brought up: the native stack's
 * scripts/native/stack.sh, or the compose container. Only outage tests call this, and integration
 * files run one at a time, so no other test sees the engine down.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import type { EngineName } from './engine-urls.js';

const containerOf: Record<EngineName, string> = {
  postgres: 'source_db',
  kafka: 'kafka_broker',
  connect: 'debezium_connect',
  elasticsearch: 'elasticsearch',
  redis: 'redis_cache',
  mongodb: 'mongo_warehouse',
  mailpit: 'mailpit',
  smtp: 'mailpit',
};

function stackMode(): 'native' | 'docker' {
  const file = '.stack/mode';
  return existsSync(file) && readFileSync(file, 'utf8').trim() === 'docker' ? 'docker' : 'native';
}

/** Mailpit's HTTP API and its SMTP server are one engine of the stack. */
function nativeEngine(name: EngineName): string {
  return name === 'smtp' ? 'mailpit' : name;
}

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: 'inherit', timeout: 300_000 });
}

function command(action: 'stop' | 'start', name: EngineName): [string, string[]] {
  if (stackMode() === 'docker') return ['docker', [action, containerOf[name]]];
  return ['scripts/native/stack.sh', [action, nativeEngine(name)]];
}

/** Stops the engine; returns once its process is gone. */
export function stopEngine(name: EngineName): void {
  run(...command('stop', name));
}

/** Starts the engine again; returns once it answers (the stack script waits for readiness). */
export function startEngine(name: EngineName): void {
  run(...command('start', name));
}

/**
 * The same two without blocking the event loop, for a test whose own process keeps working
 * meanwhile (the fault suite's write load runs in the test process). Resolves with the script's
 * output; rejects when it fails.
 */
export async function stopEngineInBackground(name: EngineName): Promise<string> {
  const { stdout, stderr } = await promisify(execFile)(...command('stop', name), { timeout: 300_000 });
  return stdout + stderr;
}

export async function startEngineInBackground(name: EngineName): Promise<string> {
  const { stdout, stderr } = await promisify(execFile)(...command('start', name), { timeout: 300_000 });
  return stdout + stderr;
}
