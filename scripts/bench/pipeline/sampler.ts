/**
 * Once a second (and at every step boundary) the bench records where everything stands:
 * each consumer's metrics (commit->sink and commit->Kafka histograms, events settled), the
 * CPU time of every process tree, the machine's busy time, the topics' high watermarks and each
 * bench consumer group's committed offsets. Everything is cumulative; steps and charts use
 * differences between two samples.
 */
import type { Admin } from 'kafkajs';
import { emptyHistogram, parseCounter, parseHistogram, type Histogram } from './prometheus-histogram.js';
import { machineCpu, treeCpu } from './process-cpu.js';
import { scrapeMetrics, type RunningConsumer } from './consumer-processes.js';

export interface ConsumerSample {
  readonly toSink: Histogram;
  readonly toKafka: Histogram;
  /** Events settled ok (cdc_events_total{result="ok"}). */
  readonly events: number;
  /** Messages not yet committed by its group, summed over partitions. */
  readonly lag: number;
}

export interface Sample {
  /** ms since the bench started. */
  readonly t: number;
  readonly step: string;
  readonly consumers: Record<string, ConsumerSample>;
  /** CPU µs per process tree (null: not running). */
  readonly cpu: Record<string, number | null>;
  readonly machine: { busy: number; total: number };
  /** Sum of the topics' high watermarks: messages Debezium produced (tombstones included). */
  readonly produced: number;
  /** Orders committed by the load generator so far. */
  readonly orders: number;
}

export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<Sample> | null = null;
  step = 'setup';
  /** High watermarks when the bench started: a partition its group never committed on counts from there. */
  private baseline: Map<string, number> | null = null;

  constructor(
    private readonly admin: Admin,
    private readonly topics: readonly string[],
    private readonly consumers: readonly RunningConsumer[],
    private readonly processes: () => Map<string, number>,
    private readonly ordersSoFar: () => number,
    private readonly startedAt = performance.now(),
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample().catch(() => undefined), 1_000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get latest(): Sample | undefined {
    return this.samples.at(-1);
  }

  /** Takes a sample now (waits for one already being taken, then takes a fresh one). */
  async sample(): Promise<Sample> {
    if (this.busy) await this.busy.catch(() => undefined);
    this.busy = this.take();
    try {
      return await this.busy;
    } finally {
      this.busy = null;
    }
  }

  private async watermarks(): Promise<Map<string, number>> {
    const marks = new Map<string, number>();
    await Promise.all(
      this.topics.map(async (topic) => {
        for (const { partition, high } of await this.admin.fetchTopicOffsets(topic)) marks.set(`${topic}:${partition}`, Number(high));
      }),
    );
    return marks;
  }

  private async lagOf(groupId: string, marks: Map<string, number>): Promise<number> {
    const committed = await this.admin.fetchOffsets({ groupId, topics: [...this.topics] });
    let lag = 0;
    for (const { topic, partitions } of committed) {
      for (const { partition, offset } of partitions) {
        const key = `${topic}:${partition}`;
        const high = marks.get(key) ?? 0;
        const from = Number(offset) >= 0 ? Number(offset) : (this.baseline?.get(key) ?? high);
        lag += Math.max(0, high - from);
      }
    }
    return lag;
  }

  private async take(): Promise<Sample> {
    const t = performance.now() - this.startedAt;
    const step = this.step;
    const [marks, texts] = await Promise.all([this.watermarks(), Promise.all(this.consumers.map((consumer) => scrapeMetrics(consumer)))]);
    this.baseline ??= marks;
    const consumers: Record<string, ConsumerSample> = {};
    await Promise.all(
      this.consumers.map(async (consumer, i) => {
        const text = texts[i];
        const previous = this.latest?.consumers[consumer.name];
        consumers[consumer.name] = {
          toSink: text ? parseHistogram(text, 'cdc_commit_to_sink_seconds') : (previous?.toSink ?? emptyHistogram),
          toKafka: text ? parseHistogram(text, 'cdc_commit_to_kafka_seconds') : (previous?.toKafka ?? emptyHistogram),
          events: text ? parseCounter(text, 'cdc_events_total', { result: 'ok' }) : (previous?.events ?? 0),
          lag: await this.lagOf(consumer.groupId, marks),
        };
      }),
    );
    const cpu: Record<string, number | null> = Object.fromEntries(treeCpu(this.processes()));
    // This process (load generator, probe, sampler) on its own: its tree holds the consumers.
    const own = process.cpuUsage();
    cpu.bench = own.user + own.system;
    const produced = [...marks.values()].reduce((sum, high) => sum + high, 0);
    const sample: Sample = { t, step, consumers, cpu, machine: machineCpu(), produced, orders: this.ordersSoFar() };
    this.samples.push(sample);
    return sample;
  }
}
