/**
 * The pipeline's state, sampled every `intervalMs` from what already exists, never from inside a
 * consumer's hot path:
 * - each consumer's /ready and Prometheus /metrics (events settled, commit->sink histogram);
 * - Kafka admin offsets: high watermarks of the source and dead-letter topics, each group's
 *   committed offsets (so lag shows even when a consumer is down or stuck);
 * - the Kafka Connect REST API (connector and task state);
 * - pg_replication_slots (how many bytes of WAL the connector's slot is behind).
 * One monitor serves the pipeline page and `npm start`'s status lines. Keeps `historyMs` of
 * samples for the rates, quantiles and the page's chart; a source that does not answer shows as
 * an error in the snapshot, never as a stale number.
 */
import { Kafka, logLevel as KafkaLogLevel, type Admin } from 'kafkajs';
import pg from 'pg';
import type { Logger } from '../consumers/core/logger.js';
import { kafkaLogCreator } from '../consumers/core/runner.js';
import { histogramDelta, histogramOf, histogramQuantile, parsePrometheusText, sumOf, type Histogram } from '../scripts/operator/prometheus-text.js';
import type { ConsumerTarget } from '../scripts/operator/targets.js';

export interface MonitorOptions {
  targets: readonly ConsumerTarget[];
  /** Kafka Connect REST, e.g. http://127.0.0.1:8083 */
  connectUrl: string;
  connectorName: string;
  /** The connector's replication slot (its `slot.name`). */
  slotName: string;
  /** libpq URL of a role that may read pg_replication_slots (the superuser in these stacks). */
  postgresUrl: string;
  logger: Logger;
  intervalMs?: number;
  historyMs?: number;
}

/** A backlog at least this long counts as catching up (progress and ETA are shown). */
export const CATCH_UP_MIN_LAG = 1_000;
/** Window of the "now" figures: events/s, the latest latency, the chart's points. */
const RATE_WINDOW_MS = 10_000;
/** Window of the p50/p99 figures. */
const LATENCY_WINDOW_MS = 60_000;
const REQUEST_TIMEOUT_MS = 1_500;

export interface CatchUp {
  /** Events committed since the catch-up began. */
  readonly done: number;
  /** done + the lag now. */
  readonly total: number;
  /** Committed offsets per second over the last RATE_WINDOW_MS. */
  readonly perSecond: number | null;
  readonly etaSeconds: number | null;
}

export interface ConsumerStatus {
  readonly name: string;
  readonly healthUrl: string;
  readonly groupId: string;
  readonly deadLetterTopic: string;
  /** The health server answered. */
  readonly up: boolean;
  /** /ready said 200 (null while not up). */
  readonly ready: boolean | null;
  /** /ready's body when it is not ready (runner, sink, stuck lanes). */
  readonly readyDetail: unknown;
  /** Messages not yet committed, per source topic (null: Kafka did not answer). */
  readonly lagByTopic: Readonly<Record<string, number | null>>;
  readonly lag: number | null;
  /** Events settled per second over the last 10 s (null while not up). */
  readonly eventsPerSecond: number | null;
  /** commit->sink over the last minute, milliseconds. */
  readonly latency: { readonly p50Ms: number | null; readonly p99Ms: number | null; readonly count: number };
  /** p50 of the latest 10 s that saw events (kept while idle), milliseconds. */
  readonly lastLatencyMs: number | null;
  /** Messages in the dead-letter topic (null: Kafka did not answer). */
  readonly deadLettered: number | null;
  readonly catchUp: CatchUp | null;
  readonly error?: string;
}

export interface ConnectorStatus {
  readonly name: string;
  readonly state: string;
  readonly tasks: readonly { readonly id: number; readonly state: string; readonly trace?: string }[];
  readonly error?: string;
}

export interface SlotStatus {
  readonly name: string;
  readonly active: boolean | null;
  /** WAL bytes between now and what the connector confirmed (how far behind it is). */
  readonly lagBytes: number | null;
  /** WAL bytes PostgreSQL keeps for the slot. */
  readonly retainedBytes: number | null;
  readonly error?: string;
}

export interface HistoryPoint {
  /** Epoch ms. */
  readonly t: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly eventsPerSecond: number | null;
  readonly lag: number | null;
}

export interface PipelineSnapshot {
  readonly at: string;
  readonly connector: ConnectorStatus;
  readonly slot: SlotStatus;
  readonly consumers: readonly ConsumerStatus[];
}

interface Scrape {
  readonly t: number;
  readonly eventsTotal: number | null;
  readonly latency: Histogram | null;
  /** Sum over partitions of the group's position (committed, or where it will start). */
  readonly position: number | null;
  readonly lag: number | null;
}

interface ConsumerState {
  scrapes: Scrape[];
  history: HistoryPoint[];
  lastLatencyMs: number | null;
  catchUpFrom: number | null;
  status: ConsumerStatus;
}

export class PipelineMonitor {
  private readonly kafka: Kafka;
  private admin: Admin | null = null;
  private readonly pool: pg.Pool;
  private readonly state = new Map<string, ConsumerState>();
  private latest: PipelineSnapshot;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly listeners = new Set<(snapshot: PipelineSnapshot) => void>();
  private readonly intervalMs: number;
  private readonly historyMs: number;

  constructor(private readonly options: MonitorOptions) {
    this.intervalMs = options.intervalMs ?? 2_000;
    this.historyMs = options.historyMs ?? 15 * 60_000;
    const brokers = [...(options.targets[0]?.config.kafka.brokers ?? ['127.0.0.1:9092'])];
    this.kafka = new Kafka({
      clientId: 'cdc-monitor',
      brokers,
      logLevel: KafkaLogLevel.ERROR,
      logCreator: kafkaLogCreator(options.logger.child({ component: 'kafkajs' })),
      retry: { retries: 1 },
    });
    this.pool = new pg.Pool({ connectionString: options.postgresUrl, max: 1, connectionTimeoutMillis: REQUEST_TIMEOUT_MS, idleTimeoutMillis: 30_000 });
    this.pool.on('error', (error) => options.logger.debug({ err: error }, 'postgres connection error'));
    for (const target of options.targets) {
      this.state.set(target.entry.name, { scrapes: [], history: [], lastLatencyMs: null, catchUpFrom: null, status: emptyStatus(target) });
    }
    this.latest = {
      at: new Date().toISOString(),
      connector: { name: options.connectorName, state: 'UNKNOWN', tasks: [] },
      slot: { name: options.slotName, active: null, lagBytes: null, retainedBytes: null },
      consumers: options.targets.map((target) => this.state.get(target.entry.name)!.status),
    };
  }

  /** Takes the first sample, then one every intervalMs. */
  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.refresh().finally(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }

  snapshot(): PipelineSnapshot {
    return this.latest;
  }

  /** Per consumer, the chart's points (oldest first). */
  history(): Record<string, readonly HistoryPoint[]> {
    return Object.fromEntries([...this.state].map(([name, state]) => [name, state.history]));
  }

  onUpdate(listener: (snapshot: PipelineSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One sample of everything now (concurrent calls share it). */
  refresh(): Promise<void> {
    this.running ??= this.sample().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    await Promise.allSettled([this.admin?.disconnect(), this.pool.end()]);
    this.admin = null;
  }

  private async sample(): Promise<void> {
    const now = Date.now();
    const [connector, slot, offsets] = await Promise.all([this.connector(), this.slot(), this.offsets()]);
    const consumers = await Promise.all(this.options.targets.map((target) => this.consumer(target, now, offsets)));
    this.latest = { at: new Date(now).toISOString(), connector, slot, consumers };
    for (const listener of this.listeners) listener(this.latest);
  }

  private async connector(): Promise<ConnectorStatus> {
    const name = this.options.connectorName;
    try {
      const response = await fetch(`${this.options.connectUrl.replace(/\/$/, '')}/connectors/${encodeURIComponent(name)}/status`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      if (response.status === 404) return { name, state: 'NOT REGISTERED', tasks: [] };
      if (!response.ok) return { name, state: 'UNKNOWN', tasks: [], error: `Kafka Connect answered HTTP ${response.status}` };
      const body = (await response.json()) as { connector: { state: string }; tasks: { id: number; state: string; trace?: string }[] };
      return {
        name,
        state: body.connector.state,
        tasks: body.tasks.map((task) => ({ id: task.id, state: task.state, ...(task.trace ? { trace: task.trace.split('\n')[0] } : {}) })),
      };
    } catch (error) {
      return { name, state: 'UNREACHABLE', tasks: [], error: `Kafka Connect at ${this.options.connectUrl}: ${messageOf(error)}` };
    }
  }

  private async slot(): Promise<SlotStatus> {
    const name = this.options.slotName;
    try {
      const { rows } = await this.pool.query<{ active: boolean; lag_bytes: string | null; retained_bytes: string | null }>(
        `SELECT active,
                pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag_bytes,
                pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes
           FROM pg_replication_slots WHERE slot_name = $1`,
        [name],
      );
      const row = rows[0];
      if (!row) return { name, active: null, lagBytes: null, retainedBytes: null, error: `no replication slot ${name} (is the connector registered?)` };
      return { name, active: row.active, lagBytes: numberOrNull(row.lag_bytes), retainedBytes: numberOrNull(row.retained_bytes) };
    } catch (error) {
      return { name, active: null, lagBytes: null, retainedBytes: null, error: `PostgreSQL: ${messageOf(error)}` };
    }
  }

  /** High/low watermarks of every topic of interest, and each group's committed offsets. */
  private async offsets(): Promise<Offsets | null> {
    try {
      this.admin ??= await (async () => {
        const admin = this.kafka.admin();
        await admin.connect();
        return admin;
      })();
      const admin = this.admin;
      const topics = new Set<string>();
      for (const { config } of this.options.targets) for (const topic of [...config.topics, config.deadLetterTopic]) topics.add(topic);
      const existing = new Set(await admin.listTopics());
      const marks = new Map<string, { partition: number; high: number; low: number }[]>();
      await Promise.all(
        [...topics].map(async (topic) => {
          marks.set(topic, existing.has(topic) ? (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, high: Number(p.high), low: Number(p.low) })) : []);
        }),
      );
      const committed = new Map<string, Map<string, number>>();
      await Promise.all(
        this.options.targets.map(async ({ config }) => {
          const byPartition = new Map<string, number>();
          const sourceTopics = config.topics.filter((topic) => existing.has(topic));
          if (sourceTopics.length > 0) {
            for (const { topic, partitions } of await admin.fetchOffsets({ groupId: config.groupId, topics: sourceTopics })) {
              for (const p of partitions) byPartition.set(`${topic}:${p.partition}`, Number(p.offset));
            }
          }
          committed.set(config.groupId, byPartition);
        }),
      );
      return { marks, committed };
    } catch (error) {
      this.options.logger.debug({ err: error }, 'kafka offsets not available');
      const admin = this.admin;
      this.admin = null;
      await admin?.disconnect().catch(() => undefined);
      return null;
    }
  }

  private async consumer(target: ConsumerTarget, now: number, offsets: Offsets | null): Promise<ConsumerStatus> {
    const state = this.state.get(target.entry.name)!;
    const { config } = target;
    const [metrics, ready] = await Promise.all([
      getText(`${target.healthUrl}/metrics`),
      getText(`${target.healthUrl}/ready`),
    ]);
    const up = metrics.status === 200 || ready.status !== null;
    const samples = metrics.status === 200 ? parsePrometheusText(metrics.body) : null;

    // Lag and position from the group's committed offsets. A partition without a commit yet is
    // read from its start (FROM_BEGINNING) or from its end; in the second case the group starts
    // at the end as it was when it joined, which Kafka does not record: messages since then count
    // only from the group's first commit on that partition.
    let lagByTopic: Record<string, number | null> = {};
    let lag: number | null = null;
    let position: number | null = null;
    let deadLettered: number | null = null;
    if (offsets) {
      lag = 0;
      position = 0;
      const committed = offsets.committed.get(config.groupId) ?? new Map<string, number>();
      for (const topic of config.topics) {
        let topicLag = 0;
        for (const { partition, high, low } of offsets.marks.get(topic) ?? []) {
          const at = committed.get(`${topic}:${partition}`) ?? -1;
          const from = at >= 0 ? at : config.fromBeginning ? low : high;
          topicLag += Math.max(0, high - Math.max(from, low));
          position += from;
        }
        lagByTopic[topic] = topicLag;
        lag += topicLag;
      }
      deadLettered = (offsets.marks.get(config.deadLetterTopic) ?? []).reduce((sum, p) => sum + (p.high - p.low), 0);
    } else {
      lagByTopic = Object.fromEntries(config.topics.map((topic) => [topic, null]));
    }

    const scrape: Scrape = {
      t: now,
      eventsTotal: samples ? sumOf(samples, 'cdc_events_total') : null,
      latency: samples ? histogramOf(samples, 'cdc_commit_to_sink_seconds') : null,
      position,
      lag,
    };
    state.scrapes.push(scrape);
    while (state.scrapes.length > 2 && state.scrapes[0]!.t < now - Math.max(LATENCY_WINDOW_MS, RATE_WINDOW_MS) - this.intervalMs) state.scrapes.shift();

    const recent = this.windowStart(state.scrapes, now - RATE_WINDOW_MS, (s) => s.eventsTotal !== null);
    const eventsPerSecond = rate(recent, scrape, (s) => s.eventsTotal);
    const recentLatency = latencyBetween(this.windowStart(state.scrapes, now - RATE_WINDOW_MS, (s) => s.latency !== null), scrape);
    const minuteLatency = latencyBetween(this.windowStart(state.scrapes, now - LATENCY_WINDOW_MS, (s) => s.latency !== null), scrape);
    if (recentLatency && recentLatency.count > 0) state.lastLatencyMs = recentLatency.p50Ms;

    // Catching up: from the first sample with a long backlog until it is nearly gone.
    if (lag !== null && position !== null) {
      if (state.catchUpFrom === null && lag >= CATCH_UP_MIN_LAG) state.catchUpFrom = position;
      else if (state.catchUpFrom !== null && lag < CATCH_UP_MIN_LAG / 10) state.catchUpFrom = null;
    }
    let catchUp: CatchUp | null = null;
    if (state.catchUpFrom !== null && lag !== null && position !== null) {
      const perSecond = rate(this.windowStart(state.scrapes, now - RATE_WINDOW_MS, (s) => s.position !== null), scrape, (s) => s.position);
      const done = Math.max(0, position - state.catchUpFrom);
      catchUp = { done, total: done + lag, perSecond, etaSeconds: perSecond && perSecond > 0 ? lag / perSecond : null };
    }

    state.history.push({ t: now, p50Ms: recentLatency?.p50Ms ?? null, p99Ms: recentLatency?.p99Ms ?? null, eventsPerSecond, lag });
    while (state.history.length > 0 && state.history[0]!.t < now - this.historyMs) state.history.shift();

    const status: ConsumerStatus = {
      name: target.entry.name,
      healthUrl: target.healthUrl,
      groupId: config.groupId,
      deadLetterTopic: config.deadLetterTopic,
      up,
      ready: up ? ready.status === 200 : null,
      readyDetail: ready.status !== null && ready.status !== 200 ? safeJson(ready.body) : null,
      lagByTopic,
      lag,
      eventsPerSecond,
      latency: { p50Ms: minuteLatency?.p50Ms ?? null, p99Ms: minuteLatency?.p99Ms ?? null, count: minuteLatency?.count ?? 0 },
      lastLatencyMs: state.lastLatencyMs,
      deadLettered,
      catchUp,
      ...(up ? {} : { error: `no answer from ${target.healthUrl} (${metrics.error ?? ready.error ?? 'not running'})` }),
      ...(offsets ? {} : { error: 'Kafka did not answer: lag unknown' }),
    };
    state.status = status;
    return status;
  }

  /** The oldest scrape inside [from, now) that has the figure, else the oldest that has it. */
  private windowStart(scrapes: readonly Scrape[], from: number, has: (scrape: Scrape) => boolean): Scrape | null {
    const usable = scrapes.slice(0, -1).filter(has);
    return usable.find((scrape) => scrape.t >= from) ?? usable.at(-1) ?? null;
  }
}

interface Offsets {
  readonly marks: Map<string, { partition: number; high: number; low: number }[]>;
  /** groupId -> "topic:partition" -> committed offset (-1: none). */
  readonly committed: Map<string, Map<string, number>>;
}

function emptyStatus(target: ConsumerTarget): ConsumerStatus {
  return {
    name: target.entry.name,
    healthUrl: target.healthUrl,
    groupId: target.config.groupId,
    deadLetterTopic: target.config.deadLetterTopic,
    up: false,
    ready: null,
    readyDetail: null,
    lagByTopic: {},
    lag: null,
    eventsPerSecond: null,
    latency: { p50Ms: null, p99Ms: null, count: 0 },
    lastLatencyMs: null,
    deadLettered: null,
    catchUp: null,
  };
}

/** Per-second increase of `value` from `from` to `to` (null across a counter reset). */
function rate(from: Scrape | null, to: Scrape, value: (scrape: Scrape) => number | null): number | null {
  const before = from ? value(from) : null;
  const after = value(to);
  if (!from || before === null || after === null || to.t <= from.t || after < before) return null;
  return ((after - before) * 1000) / (to.t - from.t);
}

function latencyBetween(from: Scrape | null, to: Scrape): { p50Ms: number | null; p99Ms: number | null; count: number } | null {
  if (!to.latency) return null;
  // No earlier scrape (or the consumer restarted in between): no window to speak of yet. (Not
  // everything since the start: that would mix in the snapshot's hours-old commit times.)
  const delta = from?.latency ? histogramDelta(from.latency, to.latency) : null;
  if (!delta) return null;
  const ms = (q: number) => {
    const seconds = histogramQuantile(q, delta);
    return seconds === null ? null : seconds * 1000;
  };
  return { p50Ms: ms(0.5), p99Ms: ms(0.99), count: delta.count };
}

async function getText(url: string): Promise<{ status: number | null; body: string; error?: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { status: null, body: '', error: messageOf(error) };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function numberOrNull(value: string | null): number | null {
  return value === null ? null : Number(value);
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
