#!/usr/bin/env node
/**
 * Registers (or updates) the Debezium connector from debezium/connector-config.json — the single
 * source of truth for both the Docker and the native stack — and waits until it and its task run.
 *
 *   node scripts/register-connector.mjs [--connect http://127.0.0.1:8083] [--database-host 127.0.0.1]
 *                                       [--database-port 5432] [--config debezium/connector-config.json]
 *                                       [--wait-seconds 120]
 *
 * Idempotent: it PUTs /connectors/<name>/config, which creates or updates. `--database-host`
 * and `--database-port` rewrite only `database.hostname` / `database.port` (the native stack's
 * PostgreSQL is on loopback, possibly on a shifted port; the Docker stack's is the compose service
 * `postgres`); nothing else in the file is changed.
 * Exits 1 with Connect's own error (and the task's stack trace) if the connector fails.
 * Plain Node (no dependencies), so it runs before `npm install`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    connect: { type: 'string', default: process.env.KAFKA_CONNECT_URL ?? 'http://127.0.0.1:8083' },
    'database-host': { type: 'string' },
    'database-port': { type: 'string' },
    config: { type: 'string', default: resolve(root, 'debezium/connector-config.json') },
    'wait-seconds': { type: 'string', default: '120' },
  },
});

const file = JSON.parse(readFileSync(args.config, 'utf8'));
const name = file.name;
const config = { ...file.config };
if (!name || typeof config !== 'object') {
  console.error(`[connector] ${args.config} must look like {"name": "...", "config": {...}}`);
  process.exit(1);
}
if (args['database-host']) config['database.hostname'] = args['database-host'];
if (args['database-port']) config['database.port'] = args['database-port'];

const base = args.connect.replace(/\/$/, '');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function request(method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* keep text */ }
  return { status: response.status, json, text };
}

// Connect answers 409 while a rebalance is in progress (e.g. right after the worker starts): retry.
let put;
for (let attempt = 1; ; attempt++) {
  put = await request('PUT', `/connectors/${encodeURIComponent(name)}/config`, config);
  if (put.status !== 409 || attempt >= 30) break;
  await sleep(1000);
}
if (put.status !== 200 && put.status !== 201) {
  console.error(`[connector] PUT ${name} failed: HTTP ${put.status} ${put.text}`);
  process.exit(1);
}
console.log(`[connector] ${put.status === 201 ? 'created' : 'updated'} ${name} (database.hostname=${config['database.hostname']})`);

const deadline = Date.now() + Number(args['wait-seconds']) * 1000;
let last = '';
while (Date.now() < deadline) {
  const { status, json } = await request('GET', `/connectors/${encodeURIComponent(name)}/status`);
  if (status === 200 && json) {
    const tasks = json.tasks ?? [];
    const failed = [json.connector, ...tasks].find((s) => s?.state === 'FAILED');
    if (failed) {
      console.error(`[connector] ${name} FAILED on ${failed.worker_id}:\n${failed.trace ?? '(no trace)'}`);
      process.exit(1);
    }
    last = `${json.connector?.state}, tasks: ${tasks.map((t) => t.state).join(',') || 'none yet'}`;
    if (json.connector?.state === 'RUNNING' && tasks.length > 0 && tasks.every((t) => t.state === 'RUNNING')) {
      console.log(`[connector] ${name} is RUNNING (${tasks.length} task${tasks.length === 1 ? '' : 's'})`);
      process.exit(0);
    }
  }
  await sleep(1000);
}
console.error(`[connector] ${name} not RUNNING after ${args['wait-seconds']}s (last: ${last || 'no status'})`);
process.exit(1);
