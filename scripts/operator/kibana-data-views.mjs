#!/usr/bin/env node
// Kibana data views for the Elasticsearch consumer's four indexes (Docker stack: ./setup.sh runs
// this after `docker compose up --wait`). Plain JavaScript without dependencies, like
// register-connector.mjs: it runs before `npm ci`.
//
//   node scripts/operator/kibana-data-views.mjs [--kibana http://localhost:5601] [--prefix ""] [--wait-seconds 120]
//
// Idempotent: each view has a fixed id and is written with `override: true`. The aliases the
// consumer reads through (products, orders, customers, order_items; ES_INDEX_PREFIX in front)
// may not exist yet (the consumer creates them at its start): `allowNoIndex` lets Kibana keep the
// view until they do. Time field: `created_at` where the mapping has it.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** The views, one per alias of consumers/elasticsearch/index-catalog.ts. */
export function dataViews(prefix = '') {
  return [
    { table: 'products', timeFieldName: 'created_at' },
    { table: 'orders', timeFieldName: 'created_at' },
    { table: 'customers', timeFieldName: 'created_at' },
    { table: 'order_items' },
  ].map(({ table, timeFieldName }) => ({
    id: `cdc-${prefix}${table}`,
    title: `${prefix}${table}`,
    name: `CDC ${prefix}${table}`,
    ...(timeFieldName ? { timeFieldName } : {}),
    allowNoIndex: true,
  }));
}

async function kibanaAvailable(kibana, waitSeconds) {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    try {
      const response = await fetch(`${kibana}/api/status`, { signal: AbortSignal.timeout(5000) });
      if (response.ok && (await response.json()).status?.overall?.level === 'available') return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`Kibana at ${kibana} is not available after ${waitSeconds}s`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export async function createDataViews({ kibana, prefix = '', waitSeconds = 120 }) {
  await kibanaAvailable(kibana, waitSeconds);
  for (const view of dataViews(prefix)) {
    const response = await fetch(`${kibana}/api/data_views/data_view`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'kbn-xsrf': 'true' },
      body: JSON.stringify({ data_view: view, override: true }),
    });
    if (!response.ok) throw new Error(`Kibana refused data view ${view.title}: HTTP ${response.status} ${await response.text()}`);
    console.log(`[kibana] data view ${view.title} (${view.id}) ready`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: { kibana: { type: 'string', default: 'http://localhost:5601' }, prefix: { type: 'string', default: process.env.ES_INDEX_PREFIX ?? '' }, 'wait-seconds': { type: 'string', default: '120' } },
  });
  createDataViews({ kibana: values.kibana.replace(/\/$/, ''), prefix: values.prefix, waitSeconds: Number(values['wait-seconds']) }).catch((error) => {
    console.error(`[kibana] ${error.message}`);
    process.exit(1);
  });
}
