/**
 * Real-Kafka plumbing for the runner's integration tests: topics, producing, offsets, reading a
 * dead-letter topic back, a Runner on a test's topic, waiting, and removing everything a test
 * created.
 */
import { Kafka, logLevel, Partitioners, type Admin, type KafkaMessage, type Producer } from 'kafkajs';
import { Runner, type RunnerOptions } from '../../consumers/core/runner.js';
import { uniqueName } from './engines.js';

export interface Produced {
  key: Buffer;
  value: Buffer | null;
  headers?: Record<string, string>;
}

/** A test's own topic, consumer group and dead-letter topic. */
export interface TopicScenario {
  topic: string;
  groupId: string;
  deadLetterTopic: string;
}

export class TestKafka {
  readonly kafka: Kafka;
  private readonly brokers: string[];
  readonly admin: Admin;
  private producer: Producer | null = null;
  private readonly topics = new Set<string>();
  private readonly groups = new Set<string>();

  constructor(brokers: string) {
    this.brokers = brokers.split(',');
    this.kafka = new Kafka({ clientId: 'runner-tests', brokers: brokers.split(','), logLevel: logLevel.ERROR });
    this.admin = this.kafka.admin();
  }

  async connect(): Promise<void> {
    await this.admin.connect();
    this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await this.producer.connect();
  }

  /** Creates a topic (removed again by cleanup). */
  async createTopic(topic: string, partitions = 3): Promise<void> {
    this.topics.add(topic);
    await this.admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  }

  /** Remembers a topic or group created by the code under test, for cleanup. */
  track(kind: 'topic' | 'group', name: string): void {
    (kind === 'topic' ? this.topics : this.groups).add(name);
  }

  /**
   * Creates a fresh topic named after `name` (`partitions` partitions) and names its consumer
   * group and dead-letter topic; cleanup removes all three.
   */
  async scenario(name: string, partitions = 3): Promise<TopicScenario> {
    const topic = uniqueName(name);
    const scenario = { topic, groupId: uniqueName(`${name}-group`), deadLetterTopic: `${topic}.dlq` };
    await this.createTopic(topic, partitions);
    this.track('topic', scenario.deadLetterTopic);
    this.track('group', scenario.groupId);
    return scenario;
  }

  /**
   * A Runner (not started) named 'runner-test' on the scenario's topic, group and dead-letter
   * topic, from the beginning, 3 partitions at a time; `options` adds to or overrides that.
   */
  runner(scenario: TopicScenario, options: Pick<RunnerOptions, 'sink' | 'logger'> & Partial<RunnerOptions>): Runner {
    return new Runner({
      consumerName: 'runner-test',
      brokers: this.brokers,
      groupId: scenario.groupId,
      topics: [scenario.topic],
      fromBeginning: true,
      deadLetterTopic: scenario.deadLetterTopic,
      partitionsConsumedConcurrently: 3,
      ...options,
    });
  }

  /**
   * Produces in order, `chunk` messages per request, each to the partition the default
   * partitioner picks for its key (set explicitly so the test knows it); returns every message's
   * partition and offset.
   */
  async produce(topic: string, messages: Produced[], chunk = 200): Promise<{ partition: number; offset: string }[]> {
    const [metadata] = (await this.admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const partitions = metadata!.partitions.length;
    const positions: { partition: number; offset: string }[] = [];
    for (let start = 0; start < messages.length; start += chunk) {
      const slice = messages.slice(start, start + chunk).map((message) => ({ ...message, partition: defaultPartition(message.key, partitions) }));
      const acks = await this.producer!.send({ topic, acks: -1, messages: slice });
      // One base offset per partition; offsets within a partition follow the order sent.
      const next = new Map(acks.map((ack) => [ack.partition, BigInt(ack.baseOffset ?? '0')]));
      for (const message of slice) {
        const offset = next.get(message.partition)!;
        next.set(message.partition, offset + 1n);
        positions.push({ partition: message.partition, offset: offset.toString() });
      }
    }
    return positions;
  }

  /** High watermark per partition. */
  async endOffsets(topic: string): Promise<Map<number, string>> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, o.high]));
  }

  /** Committed offset per partition for `groupId` ("-1" when none). */
  async committed(groupId: string, topic: string): Promise<Map<number, string>> {
    const [result] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, p.offset]));
  }

  /** True when the group committed exactly the end of every partition. */
  async fullyCommitted(groupId: string, topic: string): Promise<boolean> {
    const [end, committed] = await Promise.all([this.endOffsets(topic), this.committed(groupId, topic)]);
    // An empty partition has nothing to commit: "-1" (never committed) is its end too.
    return [...end].every(([partition, high]) => committed.get(partition) === high || (high === '0' && committed.get(partition) === '-1'));
  }

  /** Reads `count` messages of a topic from the beginning (throws after `timeoutMs`). */
  async readAll(topic: string, count: number, timeoutMs = 30_000): Promise<(KafkaMessage & { partition: number })[]> {
    const groupId = `reader-${topic}-${Date.now()}`;
    this.groups.add(groupId);
    const consumer = this.kafka.consumer({ groupId });
    const messages: (KafkaMessage & { partition: number })[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message, partition }) => void messages.push({ ...message, partition }) });
      await waitFor(() => messages.length >= count, timeoutMs, `${count} messages in ${topic} (got ${messages.length})`);
    } finally {
      await consumer.disconnect();
    }
    return messages;
  }

  /** Deletes every topic and group this helper created or was told about. */
  async cleanup(): Promise<void> {
    if (this.groups.size > 0) await this.admin.deleteGroups([...this.groups]).catch(() => undefined);
    if (this.topics.size > 0) await this.admin.deleteTopics({ topics: [...this.topics] }).catch(() => undefined);
    await this.producer?.disconnect();
    await this.admin.disconnect();
  }
}

/** The partition Kafka's default (murmur2) partitioner gives `key`, as the runner's producers use. */
const partitioner = Partitioners.DefaultPartitioner();
function defaultPartition(key: Buffer, partitions: number): number {
  return partitioner({
    topic: 'any',
    partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })),
    message: { key, value: null },
  });
}

/** Polls `check` every 100 ms until true; throws naming `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
