/**
 * Dead letters as the operator sees them: every message in a consumer's dead-letter topic
 * (`<prefix>.dlq.<consumer>`, written by the runner, headers in consumers/core/dead-letter.ts),
 * joined with the replay records in `<dead-letter topic>.replayed`.
 *
 * Kafka topics are append-only, so nothing here deletes anything: a dead letter is `pending`
 * until a replay record says the consumer's sink settled it (`applied`, or `stale`: the sink
 * already held a newer version of the row), then `replayed`. A failed replay attempt is recorded
 * too and leaves it `pending`.
 *
 * Ids are `<consumer>:<partition>:<offset>` of the message in the dead-letter topic, e.g.
 * `redis:2:17`: stable for as long as the topic keeps the message.
 *
 * DeadLetterStore reads both topics from the beginning with a consumer group of its own that
 * never commits (an empty group without offsets disappears from the broker once it leaves), and
 * keeps them in memory: the CLI reads once and closes, the pipeline page keeps tailing.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Kafka, logLevel as KafkaLogLevel, Partitioners, type Admin, type Consumer, type IHeaders, type KafkaMessage, type Producer } from 'kafkajs';
import { DLQ_HEADER_PREFIX } from '../../consumers/core/dead-letter.js';
import type { Logger } from '../../consumers/core/logger.js';
import { kafkaLogCreator } from '../../consumers/core/runner.js';

/** What a replay attempt came to. `applied` and `stale` settle the dead letter. */
export type ReplayOutcome = 'applied' | 'stale' | 'failed';

/** One replay attempt, as recorded (JSON) in `<dead-letter topic>.replayed`, keyed by the id. */
export interface ReplayRecord {
  readonly id: string;
  readonly consumer: string;
  readonly outcome: ReplayOutcome;
  /** Why it failed (outcome `failed`). */
  readonly error?: string;
  /** Who asked: `--by`, or user@host of the CLI, or what the page's user typed. */
  readonly by: string;
  /** `cli` or `dashboard`. */
  readonly via: string;
  /** ISO-8601. */
  readonly at: string;
}

export type DeadLetterStatus = 'pending' | 'replayed';

export interface DeadLetter {
  readonly id: string;
  readonly consumer: string;
  /** Where it sits: the dead-letter topic, partition and offset. */
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** `decode` (not a Debezium event) or `sink` (the sink refused it). */
  readonly reason: string;
  readonly error: string;
  readonly attempts: number;
  /** When it was dead-lettered (ISO-8601). */
  readonly time: string;
  /** The source message it is a copy of. */
  readonly original: { readonly topic: string; readonly partition: number; readonly offset: string; readonly timestamp: string };
  /** Table of the source topic (`<prefix>.<schema>.<table>`). */
  readonly table: string;
  /** The row's primary key (the Debezium key's payload), or the raw key text if it is not JSON. */
  readonly key: unknown;
  /** The original message: key and value as text, its own headers (the dlq.* ones left out). */
  readonly message: { readonly key: string | null; readonly value: string | null; readonly headers: Readonly<Record<string, string>> };
  /** The raw bytes, for replay. */
  readonly raw: { readonly key: Buffer | null; readonly value: Buffer | null };
  readonly status: DeadLetterStatus;
  /** Every replay attempt, oldest first. */
  readonly replays: readonly ReplayRecord[];
}

export interface DeadLetterFilter {
  consumer?: string;
  status?: DeadLetterStatus;
  table?: string;
  reason?: string;
}

/** The topic holding the replay records of a dead-letter topic. */
export const replayedTopicOf = (deadLetterTopic: string): string => `${deadLetterTopic}.replayed`;

export function deadLetterId(consumer: string, partition: number, offset: string): string {
  return `${consumer}:${partition}:${offset}`;
}

/** Splits an id; throws a readable error for anything else. */
export function parseDeadLetterId(id: string): { consumer: string; partition: number; offset: string } {
  const match = /^([a-z][a-z0-9-]*):(\d+):(\d+)$/.exec(id.trim());
  if (!match) throw new Error(`'${id}' is not a dead-letter id (expected <consumer>:<partition>:<offset>, e.g. redis:0:12)`);
  return { consumer: match[1]!, partition: Number(match[2]), offset: match[3]! };
}

const SETTLED: ReadonlySet<ReplayOutcome> = new Set(['applied', 'stale']);

function headerText(headers: IHeaders | undefined, name: string): string {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? '' : first.toString();
}

/** The row key shown for a dead letter: the Debezium key's payload, else the raw text. */
function keyOf(text: string | null): unknown {
  if (text === null) return null;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && 'payload' in parsed) return (parsed as { payload: unknown }).payload;
    return parsed;
  } catch {
    return text;
  }
}

/**
 * A dead-letter topic message as a DeadLetter (status from `replays`). Pure: the unit tests feed
 * it messages built by the runner's own buildDeadLetterMessage.
 */
export function toDeadLetter(
  consumer: string,
  position: { topic: string; partition: number },
  message: Pick<KafkaMessage, 'key' | 'value' | 'headers' | 'offset'>,
  replays: readonly ReplayRecord[] = [],
): DeadLetter {
  const headers = message.headers ?? {};
  const originalTopic = headerText(headers, 'dlq.original.topic');
  const own: Record<string, string> = {};
  for (const name of Object.keys(headers)) if (!name.startsWith(DLQ_HEADER_PREFIX)) own[name] = headerText(headers, name);
  const keyText = message.key === null ? null : message.key.toString('utf8');
  return {
    id: deadLetterId(consumer, position.partition, message.offset),
    consumer: headerText(headers, 'dlq.consumer') || consumer,
    topic: position.topic,
    partition: position.partition,
    offset: message.offset,
    reason: headerText(headers, 'dlq.reason'),
    error: headerText(headers, 'dlq.error'),
    attempts: Number(headerText(headers, 'dlq.attempts') || 0),
    time: headerText(headers, 'dlq.timestamp'),
    original: {
      topic: originalTopic,
      partition: Number(headerText(headers, 'dlq.original.partition') || 0),
      offset: headerText(headers, 'dlq.original.offset'),
      timestamp: headerText(headers, 'dlq.original.timestamp'),
    },
    table: originalTopic.split('.').at(-1) ?? '',
    key: keyOf(keyText),
    message: { key: keyText, value: message.value === null ? null : message.value.toString('utf8'), headers: own },
    raw: { key: message.key, value: message.value },
    status: replays.some((record) => SETTLED.has(record.outcome)) ? 'replayed' : 'pending',
    replays,
  };
}

export function matchesFilter(deadLetter: DeadLetter, filter: DeadLetterFilter): boolean {
  return (
    (filter.consumer === undefined || deadLetter.consumer === filter.consumer) &&
    (filter.status === undefined || deadLetter.status === filter.status) &&
    (filter.table === undefined || deadLetter.table === filter.table) &&
    (filter.reason === undefined || deadLetter.reason === filter.reason)
  );
}

/** Oldest source position first: replays go in the order the changes were made. */
export function bySourcePosition(a: DeadLetter, b: DeadLetter): number {
  return (
    a.consumer.localeCompare(b.consumer) ||
    a.original.topic.localeCompare(b.original.topic) ||
    a.original.partition - b.original.partition ||
    Number(BigInt(a.original.offset || '0') - BigInt(b.original.offset || '0')) ||
    a.id.localeCompare(b.id)
  );
}

export interface StoreConsumer {
  readonly name: string;
  readonly deadLetterTopic: string;
}

export interface DeadLetterStoreOptions {
  brokers: string[];
  consumers: readonly StoreConsumer[];
  logger: Logger;
}

interface StoredMessage {
  readonly consumer: string;
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

/**
 * Reads the dead-letter and replay-record topics of the given consumers. Creates the topics that
 * do not exist yet, with the broker's defaults (what the consumer's runner does at its start;
 * kafkajs cannot subscribe to a topic that is not there).
 */
export class DeadLetterStore {
  private readonly kafka: Kafka;
  private admin: Admin | null = null;
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  /** Dead-letter messages by id. */
  private readonly messages = new Map<string, StoredMessage>();
  private readonly replays = new Map<string, ReplayRecord[]>();
  /** Highest offset seen per "topic:partition". */
  private readonly seen = new Map<string, bigint>();
  private readonly consumerByTopic = new Map<string, { name: string; replayed: boolean }>();

  constructor(private readonly options: DeadLetterStoreOptions) {
    this.kafka = new Kafka({
      clientId: 'cdc-operator',
      brokers: options.brokers,
      logLevel: KafkaLogLevel.WARN,
      logCreator: kafkaLogCreator(options.logger.child({ component: 'kafkajs' })),
    });
    for (const { name, deadLetterTopic } of options.consumers) {
      this.consumerByTopic.set(deadLetterTopic, { name, replayed: false });
      this.consumerByTopic.set(replayedTopicOf(deadLetterTopic), { name, replayed: true });
    }
  }

  private get topics(): string[] {
    return [...this.consumerByTopic.keys()];
  }

  /** Creates missing topics, then starts reading everything from the beginning. */
  async start(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    const existing = new Set(await this.admin.listTopics());
    const missing = this.topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      // Replay records are the audit trail of operator actions: kept for good (retention.ms=-1).
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          ...(this.consumerByTopic.get(topic)!.replayed ? { numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] } : {}),
        })),
      });
    }
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();

    const groupId = `cdc-operator-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    // Short fetch waits: the CLI's disconnect waits for the fetch in flight (kafkajs default 5 s).
    this.consumer = this.kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => this.add(topic, partition, message),
    });
  }

  private add(topic: string, partition: number, message: KafkaMessage): void {
    const owner = this.consumerByTopic.get(topic);
    this.seen.set(`${topic}:${partition}`, BigInt(message.offset));
    if (!owner) return;
    if (!owner.replayed) {
      this.messages.set(deadLetterId(owner.name, partition, message.offset), { consumer: owner.name, topic, partition, message });
      return;
    }
    try {
      const record = JSON.parse(message.value?.toString('utf8') ?? '') as ReplayRecord;
      this.addRecord(record);
    } catch (error) {
      this.options.logger.warn({ err: error, topic, partition, offset: message.offset }, 'unreadable replay record: ignored');
    }
  }

  private addRecord(record: ReplayRecord): void {
    const list = this.replays.get(record.id) ?? [];
    // The record this process produced is applied at once; reading it back must not add it twice.
    if (!list.some((known) => known.at === record.at && known.by === record.by && known.outcome === record.outcome)) list.push(record);
    this.replays.set(record.id, list);
  }

  /**
   * Resolves once everything that was in the topics when called has been read. Throws after
   * `timeoutMs` naming the partitions still behind.
   */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    const admin = this.requireStarted();
    const marks: [string, bigint][] = [];
    for (const topic of this.topics) {
      for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(high) > BigInt(low)) marks.push([`${topic}:${partition}`, BigInt(high) - 1n]);
      }
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind = marks.filter(([at, last]) => (this.seen.get(at) ?? -1n) < last);
      if (behind.length === 0) return;
      if (Date.now() > deadline) throw new Error(`dead-letter topics not read to their end within ${timeoutMs} ms: ${behind.map(([at]) => at).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Every dead letter matching the filter, oldest source position first. */
  list(filter: DeadLetterFilter = {}): DeadLetter[] {
    return [...this.messages.entries()]
      .map(([id, stored]) => toDeadLetter(stored.consumer, stored, stored.message, this.replays.get(id) ?? []))
      .filter((deadLetter) => matchesFilter(deadLetter, filter))
      .sort(bySourcePosition);
  }

  get(id: string): DeadLetter | undefined {
    const stored = this.messages.get(id);
    return stored && toDeadLetter(stored.consumer, stored, stored.message, this.replays.get(id) ?? []);
  }

  /** Counts per consumer (every configured consumer appears, with zeros when it has none). */
  counts(): Record<string, { total: number; pending: number; replayed: number }> {
    const counts: Record<string, { total: number; pending: number; replayed: number }> = {};
    for (const { name } of this.options.consumers) counts[name] = { total: 0, pending: 0, replayed: 0 };
    for (const deadLetter of this.list()) {
      const count = (counts[deadLetter.consumer] ??= { total: 0, pending: 0, replayed: 0 });
      count.total++;
      count[deadLetter.status]++;
    }
    return counts;
  }

  /** Publishes a replay record (waits for the broker's ack) and applies it to the index. */
  async record(record: ReplayRecord): Promise<void> {
    this.requireStarted();
    const topic = this.options.consumers.find((consumer) => consumer.name === record.consumer)?.deadLetterTopic;
    if (!topic) throw new Error(`no dead-letter topic known for consumer '${record.consumer}'`);
    await this.producer!.send({ topic: replayedTopicOf(topic), acks: -1, messages: [{ key: record.id, value: JSON.stringify(record) }] });
    this.addRecord(record);
  }

  async close(): Promise<void> {
    const [consumer, producer, admin] = [this.consumer, this.producer, this.admin];
    this.consumer = this.producer = this.admin = null;
    await Promise.allSettled([consumer?.disconnect(), producer?.disconnect(), admin?.disconnect()]);
  }

  private requireStarted(): Admin {
    if (!this.admin) throw new Error('DeadLetterStore is not started');
    return this.admin;
  }
}
