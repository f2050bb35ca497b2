/**
 * Is the stack up? One cheap request per engine whose address the consumers use (the same
 * variables, from `.env`), plus "is the connector RUNNING". `npm start` runs ./setup.sh when
 * anything is missing, which brings up exactly what is not running and leaves the rest alone.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

const TIMEOUT_MS = 2_000;

export interface EngineCheck {
  readonly engine: string;
  readonly address: string;
  /** null when it answered. */
  readonly problem: string | null;
}

function tcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: TIMEOUT_MS });
    socket.once('connect', () => { socket.destroy(); resolve(); });
    socket.once('timeout', () => { socket.destroy(); reject(new Error('timed out')); });
    socket.once('error', (error) => { socket.destroy(); reject(error); });
  });
}

async function httpJson(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

const hostPort = (address: string, defaultPort: number): [string, number] => {
  const url = new URL(address.includes('://') ? address : `tcp://${address}`);
  return [url.hostname, Number(url.port || defaultPort)];
};

/** Every engine of the stack, checked at once. */
export async function checkStack(env: NodeJS.ProcessEnv, connectorName: string): Promise<EngineCheck[]> {
  const postgres = env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce';
  const kafka = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')[0]!.trim();
  const connect = (env.KAFKA_CONNECT_URL ?? 'http://127.0.0.1:8083').replace(/\/$/, '');
  const elasticsearch = (env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200').replace(/\/$/, '');
  const redis = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const mongodb = env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
  const checks: [string, string, () => Promise<unknown>][] = [
    ['postgres', postgres, async () => {
      const client = new pg.Client({ connectionString: postgres, connectionTimeoutMillis: TIMEOUT_MS });
      await client.connect();
      try { await client.query('select 1'); } finally { await client.end(); }
    }],
    ['kafka', kafka, () => tcp(...hostPort(kafka, 9092))],
    ['connect', connect, async () => {
      const status = (await httpJson(`${connect}/connectors/${encodeURIComponent(connectorName)}/status`).catch((error: Error) => {
        throw new Error(error.message === 'HTTP 404' ? `connector ${connectorName} is not registered` : error.message);
      })) as { connector: { state: string } };
      if (status.connector.state !== 'RUNNING') throw new Error(`connector ${connectorName} is ${status.connector.state}`);
    }],
    ['elasticsearch', elasticsearch, () => httpJson(`${elasticsearch}/_cluster/health`)],
    ['redis', redis, () => tcp(...hostPort(redis, 6379))],
    ['mongodb', mongodb, () => tcp(...hostPort(mongodb.replace(/^mongodb:\/\/[^@]*@/, 'mongodb://'), 27017))],
  ];
  if (env.MAILPIT_URL) checks.push(['mailpit', env.MAILPIT_URL, () => httpJson(`${env.MAILPIT_URL!.replace(/\/$/, '')}/api/v1/info`)]);
  return Promise.all(
    checks.map(async ([engine, address, check]) => {
      try {
        await check();
        return { engine, address, problem: null };
      } catch (error) {
        return { engine, address, problem: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
}

/**
 * The ./setup.sh command that brings this checkout's stack up: the stack it used last time
 * (`.stack/mode`), else ./setup.sh's own choice (Docker when it answers, else native).
 */
export function setupCommand(root: string): string[] {
  const modeFile = join(root, '.stack/mode');
  const mode = existsSync(modeFile) ? readFileSync(modeFile, 'utf8').trim() : '';
  return [join(root, 'setup.sh'), ...(mode === 'native' || mode === 'docker' ? [`--${mode}`] : [])];
}

/** Runs ./setup.sh with the terminal attached; resolves with its exit code. */
export function runSetup(root: string, env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...args] = setupCommand(root);
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, { cwd: root, env, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
