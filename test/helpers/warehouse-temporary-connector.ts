/**
 * A scratch table captured by a temporary Debezium connector: the project's connector config
 * (debezium/connector-config.json) with only its name, slot, publication, topic prefix and table
 * list changed, pointed at the stack's own PostgreSQL port. For types the shop schema lacks
 * (int8, wide NUMERIC), through the real SQL -> Debezium -> Kafka path. `drop()` removes the
 * connector, its slot, publication, topics and the table, and is safe to call twice.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { engines } from './engines.js';
import { withAdmin } from './kafka-admin.js';

export interface TemporaryConnector {
  readonly topic: string;
  drop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

async function connectApi(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${engines().connect}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

/** Captures `table` (which must exist, with REPLICA IDENTITY FULL) under a connector named after `run`; resolves once it is RUNNING. */
export async function captureTable(db: pg.Client, kafka: Kafka, run: string, table: string): Promise<TemporaryConnector> {
  const file = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../debezium/connector-config.json'), 'utf8')) as { config: Record<string, string> };
  const id = run.replace(/[^a-z0-9]/gi, '_').toLowerCase();
  const name = `wh-temp-${id}`;
  const slot = `${id}_slot`;
  const publication = `${id}_pub`;
  const prefix = `${id}_types`;
  const pgUrl = new URL(engines().postgres);
  const config: Record<string, string> = {
    ...file.config,
    'database.hostname': pgUrl.hostname,
    'database.port': pgUrl.port || '5432',
    'slot.name': slot,
    'publication.name': publication,
    'topic.prefix': prefix,
    'table.include.list': `public.${table}`,
  };
  await db.query(`GRANT SELECT ON ${table} TO ${config['database.user']}`);
  await db.query(`CREATE PUBLICATION ${publication} FOR TABLE public.${table}`);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await connectApi('DELETE', `/connectors/${name}`).catch(() => undefined);
    // The task releases the slot asynchronously after the DELETE; an active slot cannot be dropped.
    for (let attempt = 0; attempt < 60; attempt++) {
      const { rows } = await db.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      if (rows.length === 0) break;
      if (!rows[0]!.active) {
        await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
        break;
      }
      await sleep(1000);
    }
    await db.query(`DROP PUBLICATION IF EXISTS ${publication}`);
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await withAdmin(kafka, async (admin) => {
      const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(`${prefix}.`) || topic.endsWith(`.${prefix}`) || topic.includes(prefix));
      if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
    });
  };
  try {
    const put = await connectApi('PUT', `/connectors/${name}/config`, config);
    if (put.status >= 300) throw new Error(`registering ${name}: HTTP ${put.status} ${JSON.stringify(put.json)}`);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { json } = await connectApi('GET', `/connectors/${name}/status`);
      const failed = [json?.connector, ...(json?.tasks ?? [])].find((s: { state?: string } | undefined) => s?.state === 'FAILED');
      if (failed) throw new Error(`connector ${name} FAILED: ${failed.trace ?? '(no trace)'}`);
      if (json?.connector?.state === 'RUNNING' && json.tasks?.length > 0 && json.tasks.every((t: { state: string }) => t.state === 'RUNNING')) break;
      if (Date.now() > deadline) throw new Error(`connector ${name} not RUNNING after 120 s`);
      await sleep(1000);
    }
  } catch (error) {
    await drop();
    throw error;
  }
  return { topic: `${prefix}.public.${table}`, drop };
}
