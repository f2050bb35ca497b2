/**
 * Prometheus metrics of one consumer process, in its own registry (served on /metrics by
 * health-server.ts). Every series carries the `consumer` label. Only the runner records; sinks
 * may add their own metrics to `metrics.registry`.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type EventResult = 'ok' | 'dead_lettered';

/**
 * Latency buckets, seconds: fine below 100 ms, where the latency targets are (p50 <= 20 ms,
 * p99 <= 100 ms), so percentiles interpolated from the buckets are within a few ms there.
 */
export const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class Metrics {
  readonly registry = new Registry();

  /** Events the runner settled, by table, op and how (written, or dead-lettered). */
  readonly events: Counter<'table' | 'op' | 'result'>;
  /**
   * Of the `ok` events, those the sink refused because it already held that row version or a
   * newer one (replays after a rebalance or restart, out-of-order deliveries). A steady stream of
   * them without replays going on means versions are wrong somewhere.
   */
  readonly staleEvents: Counter<'table'>;
  /** Messages per Kafka batch handed to the runner. */
  readonly batchSize: Histogram<'topic'>;
  /** Duration of each sink.write call (including ones that asked for a retry). */
  readonly sinkWriteSeconds: Histogram<'outcome'>;
  /** Backoff rounds: `stage` is "sink" (write said retry or threw), "dead_letter" (DLQ produce failed) or "commit". */
  readonly retries: Counter<'stage'>;
  /** Messages published to the dead-letter topic, by source topic and reason (decode | sink). */
  readonly deadLettered: Counter<'topic' | 'reason'>;
  /** High watermark minus committed offset, per partition, refreshed after every batch. */
  readonly partitionLag: Gauge<'topic' | 'partition'>;
  /** Now minus the PostgreSQL commit time of every event the sink accepted. */
  readonly commitToSinkSeconds: Histogram<'table'>;
  /** Per partition: seconds its lane has been retrying without progress (0 while it moves). */
  readonly laneStuckSeconds: Gauge<'topic' | 'partition'>;
  /**
   * The Kafka record timestamp (when Kafka Connect produced it) minus the PostgreSQL commit time,
   * for the same events: the part of commitToSinkSeconds spent before the consumer (Debezium).
   */
  readonly commitToKafkaSeconds: Histogram<'table'>;

  constructor(consumer: string, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ consumer });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.events = new Counter({
      name: 'cdc_events_total',
      help: 'Change events settled by the runner, by table, operation and result (ok or dead_lettered)',
      labelNames: ['table', 'op', 'result'],
      registers,
    });
    this.staleEvents = new Counter({
      name: 'cdc_stale_events_total',
      help: 'Events the sink refused (settled without effect) because it already held that row version or a newer one',
      labelNames: ['table'],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'cdc_batch_size',
      help: 'Messages per Kafka batch',
      labelNames: ['topic'],
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers,
    });
    this.sinkWriteSeconds = new Histogram({
      name: 'cdc_sink_write_seconds',
      help: 'Duration of sink.write calls; outcome is ok (all settled), retry (some asked for a retry) or error (threw)',
      labelNames: ['outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.retries = new Counter({
      name: 'cdc_retries_total',
      help: 'Backoff rounds before retrying the same events',
      labelNames: ['stage'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'cdc_dead_lettered_total',
      help: 'Messages published to the dead-letter topic',
      labelNames: ['topic', 'reason'],
      registers,
    });
    this.partitionLag = new Gauge({
      name: 'cdc_partition_lag',
      help: 'Messages not yet committed: partition high watermark minus committed offset',
      labelNames: ['topic', 'partition'],
      registers,
    });
    this.commitToSinkSeconds = new Histogram({
      name: 'cdc_commit_to_sink_seconds',
      help: 'Seconds from the PostgreSQL commit of a change to the sink holding it',
      labelNames: ['table'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.commitToKafkaSeconds = new Histogram({
      name: 'cdc_commit_to_kafka_seconds',
      help: 'Seconds from the PostgreSQL commit of a change to its Kafka record timestamp (Debezium and Kafka Connect)',
      labelNames: ['table'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.laneStuckSeconds = new Gauge({
      name: 'cdc_lane_stuck_seconds',
      help: 'Seconds a partition has been retrying (sink, dead-letter topic or commit) without progress; 0 while it moves',
      labelNames: ['topic', 'partition'],
      registers,
    });
  }

  /** Prometheus text exposition of everything in the registry. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * Prometheus text of several Metrics of one process (a consumer and its companion pipelines) as
 * one exposition: series of the same name are merged under one HELP/TYPE, told apart by their
 * `consumer` label.
 */
export async function renderMetrics(all: readonly Metrics[]): Promise<string> {
  if (all.length === 1) return all[0]!.render();
  const merged = AggregatorRegistry.aggregate(await Promise.all(all.map((m) => m.registry.getMetricsAsJSON())));
  return merged.metrics();
}
