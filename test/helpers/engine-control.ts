/**
 * Stops and starts one of the shared engines, for outage tests ("stop Elasticsearch for 30 s while
 * changes continue"). Uses whichever stack `./setup.sh` brought up: the native stack's
 * scripts/native/stack.sh, or the compose container. Only outage tests call this, and integration
 * files run one at a time, so no other test sees the engine down.
 */
import { execFileSync } from 'node:child_process';
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

/** Stops the engine; returns once its process is gone. */
export function stopEngine(name: EngineName): void {
  if (stackMode() === 'docker') run('docker', ['stop', containerOf[name]]);
  else run('scripts/native/stack.sh', ['stop', nativeEngine(name)]);
}

/** Starts the engine again; returns once it answers (the stack script waits for readiness). */
export function startEngine(name: EngineName): void {
  if (stackMode() === 'docker') run('docker', ['start', containerOf[name]]);
  else run('scripts/native/stack.sh', ['start', nativeEngine(name)]);
}
