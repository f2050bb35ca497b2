/**
 * The pipeline page's server (fastify): the page itself (public/), uPlot from node_modules (no
 * CDN: it works offline), and a small JSON API over the PipelineMonitor, the DeadLetterStore and
 * the Replayer (the same replay code as `npm run dlq -- replay`).
 *
 *   GET  /api/status                       connector, slot, consumers, chart history, dead-letter counts
 *   GET  /api/dead-letters?consumer=&status=&table=&reason=   the dead letters (no message bodies)
 *   GET  /api/dead-letters/:id             one, with its original message and its replays
 *   POST /api/dead-letters/:id/replay      { by? }  replays it through its consumer's sink
 *   POST /api/replay                       { consumer, by?, table?, reason? }  every pending one matching
 *
 * It listens on 127.0.0.1 by default (DASHBOARD_HOST): replay writes to the sinks, so the page is
 * for the operator's own machine.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { envReader } from '../consumers/core/config.js';
import type { Logger } from '../consumers/core/logger.js';
import { DeadLetterStore, type DeadLetter, type DeadLetterFilter } from '../scripts/operator/dead-letters.js';
import { Replayer } from '../scripts/operator/replay.js';
import type { ConsumerTarget } from '../scripts/operator/targets.js';
import { PipelineMonitor } from './pipeline-monitor.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

export interface DashboardOptions {
  targets: readonly ConsumerTarget[];
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Default DASHBOARD_PORT or 9100; 0 picks a free port. */
  port?: number;
  host?: string;
  /** How often the monitor samples (default 2 s). */
  intervalMs?: number;
  /** An already running monitor to serve (npm start shares one with its status lines). */
  monitor?: PipelineMonitor;
}

export interface Dashboard {
  readonly url: string;
  readonly monitor: PipelineMonitor;
  close(): Promise<void>;
}

/** The connector's name and replication slot, from the one connector definition both stacks register. */
export function connectorIdentity(): { name: string; slotName: string } {
  const file = JSON.parse(readFileSync(join(ROOT, 'debezium/connector-config.json'), 'utf8')) as { name: string; config: Record<string, string> };
  return { name: file.name, slotName: file.config['slot.name'] ?? 'debezium_ecommerce' };
}

/** Builds the monitor the page and npm start use, from the stack's addresses in `env`. */
export function createMonitor(targets: readonly ConsumerTarget[], env: NodeJS.ProcessEnv, logger: Logger, intervalMs?: number): PipelineMonitor {
  const connector = connectorIdentity();
  return new PipelineMonitor({
    targets,
    connectUrl: env.KAFKA_CONNECT_URL ?? 'http://127.0.0.1:8083',
    connectorName: connector.name,
    slotName: connector.slotName,
    postgresUrl: env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce',
    logger: logger.child({ component: 'monitor' }),
    ...(intervalMs ? { intervalMs } : {}),
  });
}

function listItem(deadLetter: DeadLetter) {
  const { raw: _raw, message: _message, ...rest } = deadLetter;
  return rest;
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { targets, logger } = options;
  // Read first: a bad value stops here (ConfigError naming the variable), before any connection.
  const read = envReader(options.env);
  const port = options.port ?? read.int('DASHBOARD_PORT', 9100, { min: 0, max: 65_535 });
  const host = options.host ?? read.string('DASHBOARD_HOST', '127.0.0.1');
  const ownMonitor = !options.monitor;
  const monitor = options.monitor ?? createMonitor(targets, options.env, logger, options.intervalMs);
  const store = new DeadLetterStore({
    brokers: [...targets[0]!.config.kafka.brokers],
    consumers: targets.map((target) => ({ name: target.entry.name, deadLetterTopic: target.config.deadLetterTopic })),
    logger: logger.child({ component: 'dead-letters' }),
  });
  const replayer = new Replayer({ store, targets, logger: logger.child({ component: 'replay' }), via: 'dashboard' });
  if (ownMonitor) await monitor.start();
  await store.start();

  const app: FastifyInstance = Fastify({ logger: false });
  await app.register(fastifyStatic, { root: join(HERE, 'public'), prefix: '/' });
  await app.register(fastifyStatic, { root: join(ROOT, 'node_modules/uplot/dist'), prefix: '/vendor/uplot/', decorateReply: false });

  app.get('/api/status', async () => ({
    ...monitor.snapshot(),
    history: monitor.history(),
    deadLetters: store.counts(),
  }));

  app.get<{ Querystring: DeadLetterFilter }>('/api/dead-letters', async (request) => {
    const { consumer, status, table, reason } = request.query;
    return store.list({ ...(consumer ? { consumer } : {}), ...(status ? { status } : {}), ...(table ? { table } : {}), ...(reason ? { reason } : {}) }).map(listItem);
  });

  app.get<{ Params: { id: string } }>('/api/dead-letters/:id', async (request, reply) => {
    const deadLetter = store.get(request.params.id);
    if (!deadLetter) return reply.code(404).send({ error: `no dead letter ${request.params.id}` });
    const { raw: _raw, ...rest } = deadLetter;
    return rest;
  });

  const actor = (by: unknown, ip: string) => (typeof by === 'string' && by.trim() !== '' ? by.trim().slice(0, 100) : `anonymous@${ip}`);

  app.post<{ Params: { id: string }; Body: { by?: string } | null }>('/api/dead-letters/:id/replay', async (request, reply) => {
    if (!store.get(request.params.id)) return reply.code(404).send({ error: `no dead letter ${request.params.id}` });
    const [result] = await replayer.replay([request.params.id], actor(request.body?.by, request.ip));
    return result;
  });

  app.post<{ Body: { consumer?: string; by?: string; table?: string; reason?: string } | null }>('/api/replay', async (request, reply) => {
    const { consumer, by, table, reason } = request.body ?? {};
    if (!consumer) return reply.code(400).send({ error: 'name a consumer: { "consumer": "redis" }' });
    const ids = store.list({ consumer, status: 'pending', ...(table ? { table } : {}), ...(reason ? { reason } : {}) }).map((d) => d.id);
    return replayer.replay(ids, actor(by, request.ip));
  });

  const address = await app.listen({ port, host });
  logger.info({ url: address }, `pipeline page on ${address}`);

  let closed: Promise<void> | null = null;
  return {
    url: address,
    monitor,
    close() {
      closed ??= (async () => {
        await app.close();
        await replayer.close();
        await store.close();
        if (ownMonitor) await monitor.stop();
      })();
      return closed;
    },
  };
}
