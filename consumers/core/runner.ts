/**
 * The batch runner: the ONLY code that talks to Kafka. It reads the consumer's topics in one
 * consumer group, decodes every message once, hands the events to the sink in Kafka order and
 * moves the committed offset only once the sink (or the dead-letter topic) holds everything up to
 * it. Delivery is therefore at least once; sinks make redelivery harmless with LSN guards.
 *
 * Contract, per partition (partitions run concurrently, up to `partitionsConsumedConcurrently`):
 * - Batches of a partition go through its lane, one after the other: while the sink writes one
 *   batch, the next is fetched and decoded (kafkajs fetches again only once every batch handed
 *   over is handled, so handing a batch over means: decoded, queued behind the one being
 *   written, and that one done). The fetch position moves past a queued batch; the committed
 *   offset never does before the sink holds it. At most two batches per partition are in memory.
 * - A batch is split into chunks of at most `maxEventsPerWrite` messages; each chunk is written
 *   with one `sink.write` call, in offset order.
 * - Decoding failures are permanent: the original message is dead-lettered.
 * - `ok` and `failed` results settle a message; the first `retry` (or a thrown write) stops the
 *   settled prefix. The runner dead-letters the `failed` ones of the prefix (waiting for the
 *   broker's ack), commits the offset after the prefix, backs off (capped exponential with
 *   jitter, heartbeating meanwhile) and hands the same events again from the retried one on.
 *   Nothing is skipped or reordered, however long the sink needs.
 * - A dead-letter publish that fails is retried the same way, never skipped. So is a commit that
 *   fails for any reason but the group's membership (a request timeout, a broker restart, a
 *   coordinator move): the same offset is committed again, which is harmless if the broker had
 *   applied the first one.
 * - Retrying stops only when the batch is no longer ours: the consumer is stopping, a rebalance
 *   took the partition away (a heartbeat or commit answers that the group is rebalancing, or a
 *   new generation joined), or a seek made the batch stale. Then nothing more is committed for it;
 *   the next owner reads it again from the last commit.
 * - Never past a gap: if a batch gives up while the partition is still ours (same generation),
 *   the runner seeks the partition back to its last commit and starts a new lane epoch. Batches
 *   queued before the seek are skipped (never written); the batches fetched from the last commit
 *   on are written normally, so one passing error costs a re-read, never the partition.
 * - A lane that keeps retrying (sink, dead-letter topic or commit) for longer than
 *   `stuckAfterMs` makes isReady() false; `cdc_lane_stuck_seconds` shows how long per partition.
 * - Offsets are committed only for partitions assigned in the generation the batch came from.
 * - `stop()` stops fetching, lets the batches handed over finish (or give up if they are waiting
 *   to retry), commits what the sink holds, leaves the group and disconnects.
 */
import {
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type Admin,
  type Batch,
  type Consumer,
  type EachBatchPayload,
  type KafkaMessage,
  type LogEntry,
  type Producer,
} from 'kafkajs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ChangeEvent } from './change-event.js';
import { backoffDelay, sleep, type BackoffPolicy } from './backoff.js';
import { mergeOutcomes, nextOffset, partitionLag, planSettlement, type DecodedEntry, type MessageOutcome } from './batch-plan.js';
import { buildDeadLetterMessage, groupBySize } from './dead-letter.js';
import { decodeMessage } from './debezium/decode.js';
import { registerLz4Codec } from './kafka-lz4-codec.js';
import { describeError, toError } from './errors.js';
import type { Logger } from './logger.js';
import { Metrics, type EventResult } from './metrics.js';
import type { Sink, WriteResult } from './sink.js';

export interface RunnerOptions {
  consumerName: string;
  brokers: string[];
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts: true = earliest (the snapshot). */
  fromBeginning: boolean;
  deadLetterTopic: string;
  sink: Sink;
  logger: Logger;
  clientId?: string;
  partitionsConsumedConcurrently?: number;
  retry?: BackoffPolicy;
  metrics?: Metrics;
  /**
   * Most messages per sink.write call; default 1000. Each chunk costs a commit round trip and a
   * reply turnaround during which the sink waits (Redis bench, 4 MiB fetches: 500 ~23k events/s,
   * 1000 ~26k).
   */
  maxEventsPerWrite?: number;
  /**
   * Most bytes one fetch brings per partition; default 4 MiB (kafkajs: 1 MiB). Bigger fetches
   * cost less per message, but kafkajs copies and parses a whole fetch response in one go, which
   * holds up everything else in the process (the sink's replies among them). Measured into Redis
   * with ~4.5 kB Debezium messages and the lanes: 4 MiB ~20-22k events/s, 16 MiB ~19k (before
   * the lanes 16 MiB was best). Up to two fetched batches per partition are held in memory.
   */
  fetchMaxBytesPerPartition?: number;
  /** Group session timeout (kafkajs default 30 s); heartbeats every third of it (at most 3 s). */
  sessionTimeoutMs?: number;
  /** Called once if kafkajs gives up on the consumer for good (it restarts it on its own otherwise). */
  onFatalError?: (error: Error) => void;
  /**
   * Tests only: sees each batch payload kafkajs hands over and may wrap it (e.g. make some
   * commits throw the way a broker timeout does), with the broker itself still real.
   */
  wrapPayload?: (payload: EachBatchPayload) => EachBatchPayload;
  /**
   * How long a lane may keep retrying (the same events, a dead letter or a commit) before
   * isReady() turns false; default 30 s: longer than a typical engine blip, short enough that an
   * orchestrator or an operator sees a partition that cannot move.
   */
  stuckAfterMs?: number;
}

const DEFAULT_RETRY: BackoffPolicy = { initialMs: 200, maxMs: 30_000 };
const DEFAULT_STUCK_AFTER_MS = 30_000;
/**
 * Errors of a commit or heartbeat that mean this member's place in the group is gone or moving
 * (a rebalance is under way, the generation is old, the coordinator forgot the member): the
 * batch gives up, kafkajs re-joins, and the next owner reads from the last commit. Any other
 * error (timeout, connection lost, coordinator moving) passes: the commit is tried again.
 */
const MEMBERSHIP_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);
const DEFAULT_MAX_EVENTS_PER_WRITE = 1000;
const DEFAULT_FETCH_MAX_BYTES_PER_PARTITION = 4 * 1024 * 1024;
/**
 * Messages decoded between two yields to the event loop. Decoding a 4 MiB batch takes ~10 ms;
 * yielding lets the sink's replies for the other partitions be handled meanwhile, so the sink
 * gets its next write sooner (Redis bench: machine busy 85% -> 90%, drain ~5% faster).
 */
const DECODE_SLICE = 100;
/** Longest single sleep while backing off: we heartbeat between sleeps. */
const HEARTBEAT_SLICE_MS = 1_000;
/** Bytes per dead-letter produce request (the broker's default message.max.bytes is 1 MB). */
const DLQ_REQUEST_BYTES = 512 * 1024;

/** One message of a chunk on its way through decode, sink and dead-letter. */
interface Entry {
  readonly message: KafkaMessage;
  readonly decoded: DecodedEntry;
  /** How many times the sink was given this message's event. */
  attempts: number;
}

/**
 * A partition's batches in order: `tail` settles once the last batch handed over is finished
 * (written, skipped or given up). Survives rebalances, so a new owner generation still waits for
 * the old generation's last write of the partition to finish.
 */
interface Lane {
  readonly topic: string;
  readonly partition: number;
  tail: Promise<void>;
  /** The generation of the last batch handed over. */
  tailGeneration: number;
  /** Where this member would read the partition again: the last commit (or where it started). */
  resumeOffset: string;
  /**
   * Bumped by every seek back to the last commit: a batch handed over in an older epoch was
   * fetched before the seek, past the gap, and is skipped.
   */
  epoch: number;
  /** Since when (epoch ms) the lane has been retrying without progress; null while it moves. */
  stuckSince: number | null;
}

/** What a batch handler needs to know about the batch it works on. */
interface BatchContext {
  readonly payload: EachBatchPayload;
  readonly batch: Batch;
  readonly generation: number;
  readonly log: Logger;
  readonly lane: Lane;
  /** The lane epoch the batch was handed over in. */
  readonly epoch: number;
}

export class Runner {
  private readonly options: RunnerOptions;
  private readonly retryPolicy: BackoffPolicy;
  private readonly maxEventsPerWrite: number;
  private readonly stuckAfterMs: number;
  private readonly metrics: Metrics;
  private readonly kafka: Kafka;
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  /** Aborted by stop(): wakes every backoff sleep at once. */
  private readonly stopSignal = new AbortController();
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private joined = false;
  /** Counts group joins; a batch may only commit in the generation it was fetched in. */
  private generation = 0;
  private assignment = new Map<string, Set<number>>();
  /** By "topic:partition". */
  private readonly lanes = new Map<string, Lane>();
  private readonly latencyByTable = new Map<string, { observe(seconds: number): void }>();

  constructor(options: RunnerOptions) {
    this.options = options;
    this.retryPolicy = options.retry ?? DEFAULT_RETRY;
    this.maxEventsPerWrite = options.maxEventsPerWrite ?? DEFAULT_MAX_EVENTS_PER_WRITE;
    this.stuckAfterMs = options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS;
    this.metrics = options.metrics ?? new Metrics(options.consumerName, { defaultMetrics: false });
    // kafkajs ships only gzip; an LZ4-compressed topic (a producer or topic setting) would crash it.
    registerLz4Codec();
    this.kafka = new Kafka({
      clientId: options.clientId ?? `cdc-${options.consumerName}`,
      brokers: options.brokers,
      logLevel: kafkaLevelFor(options.logger.level),
      logCreator: kafkaLogCreator(options.logger.child({ component: 'kafkajs' })),
    });
  }

  /**
   * Ensures the dead-letter topic exists, connects the producer, joins the group and starts
   * consuming. Resolves once the first join attempt finished (see isReady for the state).
   * Throws if the broker cannot be reached or the topic cannot be created.
   */
  async start(): Promise<void> {
    const { logger, topics, groupId, fromBeginning, deadLetterTopic } = this.options;
    await this.ensureTopics([deadLetterTopic, ...topics]);

    this.producer = this.kafka.producer({
      // Idempotent: kafkajs' own retries of a produce request never write a dead letter twice.
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await this.producer.connect();

    const maxBytesPerPartition = this.options.fetchMaxBytesPerPartition ?? DEFAULT_FETCH_MAX_BYTES_PER_PARTITION;
    const sessionTimeout = this.options.sessionTimeoutMs ?? 30_000;
    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      allowAutoTopicCreation: false,
      maxBytesPerPartition,
      // The whole fetch response must hold a full batch of every partition consumed concurrently.
      maxBytes: Math.max(10 * 1024 * 1024, maxBytesPerPartition * 4),
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.generation++;
      this.assignment = new Map(Object.entries(payload.memberAssignment).map(([topic, partitions]) => [topic, new Set(partitions)]));
      this.joined = true;
      logger.info({ generation: this.generation, assignment: payload.memberAssignment }, 'joined consumer group');
    });
    consumer.on(consumer.events.REBALANCING, () => {
      this.joined = false;
      logger.info('consumer group is rebalancing');
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.joined = false;
      if (payload.restart) {
        logger.warn({ err: payload.error }, 'kafka consumer crashed; kafkajs restarts it');
      } else if (!this.stopping) {
        logger.error({ err: payload.error }, 'kafka consumer crashed for good');
        this.options.onFatalError?.(toError(payload.error));
      }
    });

    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.handleBatch(this.options.wrapPayload ? this.options.wrapPayload(payload) : payload),
    });
    logger.info({ groupId, topics, deadLetterTopic }, 'runner started');
  }

  /** Joined the consumer group, not stopping, and no lane stuck for longer than `stuckAfterMs`. */
  isReady(): boolean {
    return this.joined && !this.stopping && this.stuckLanes().every((lane) => lane.seconds * 1000 < this.stuckAfterMs);
  }

  /** Lanes retrying without progress right now, with how long (for /ready and logs). */
  stuckLanes(): { topic: string; partition: number; seconds: number }[] {
    const now = Date.now();
    return [...this.lanes.values()]
      .filter((lane) => lane.stuckSince !== null)
      .map((lane) => ({ topic: lane.topic, partition: lane.partition, seconds: (now - lane.stuckSince!) / 1000 }));
  }

  /**
   * Lets the batches in progress finish (a batch waiting to retry gives up at once, without
   * committing), commits what the sink holds, leaves the group, disconnects. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.stopSignal.abort();
      try {
        try {
          this.consumer?.pause(this.options.topics.map((topic) => ({ topic })));
        } catch {
          // not running (yet, or any more): nothing is fetched anyway
        }
        // Commits need the group: let the batches handed over finish before leaving it.
        await Promise.allSettled([...this.lanes.values()].map((lane) => lane.tail));
        await this.consumer?.disconnect();
      } finally {
        await this.producer?.disconnect();
        this.options.logger.info('runner stopped');
      }
    })();
    return this.stopped;
  }

  /**
   * Creates the dead-letter topic, and any source topic Debezium has not created yet (it creates
   * one on a table's first change, so an empty table has none and subscribing would fail). Both
   * get the broker's defaults, exactly what the broker's own auto-creation would give them.
   */
  private async ensureTopics(topics: string[]): Promise<void> {
    const admin: Admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = [...new Set(topics)].filter((topic) => !existing.has(topic));
      if (missing.length === 0) return;
      await admin.createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true });
      this.options.logger.info({ topics: missing }, 'created missing topics with the broker defaults');
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Decodes the batch (yielding to the event loop every DECODE_SLICE messages), queues it in its
   * partition's lane, moves the fetch position past it and returns once the batch before it in
   * the lane is done: kafkajs then fetches the next batch while this one is written.
   */
  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    // A stale batch was fetched before a seek (ours, back to the last commit): it is read again.
    if (this.stopping || payload.isStale() || batch.messages.length === 0) return;
    const lane = this.laneOf(batch, this.generation);
    const context: BatchContext = {
      payload,
      batch,
      generation: this.generation,
      log: this.options.logger.child({ topic: batch.topic, partition: batch.partition }),
      lane,
      epoch: lane.epoch,
    };
    this.metrics.batchSize.observe({ topic: batch.topic }, batch.messages.length);
    // Until the first commit of this batch, the committed offset is where the batch starts.
    this.recordLag(batch, batch.firstOffset() ?? batch.highWatermark);

    const entries: Entry[] = [];
    for (const message of batch.messages) {
      entries.push({ message, decoded: this.decode(message, batch), attempts: 0 });
      if (entries.length % DECODE_SLICE === 0) await yieldToEventLoop();
    }
    // Stopping or a seek may have come while decoding: then the batch is read again later.
    if (this.stopping || payload.isStale() || lane.epoch !== context.epoch) return;
    const previous = lane.tail;
    lane.tail = previous.then(() => this.runBatch(entries, context));
    lane.tailGeneration = context.generation;
    payload.resolveOffset(batch.lastOffset());
    await previous;
  }

  /** The batch's turn in its lane: written, skipped (fetched past a gap, or no longer ours) or given up. */
  private async runBatch(entries: Entry[], context: BatchContext): Promise<void> {
    const { lane, log } = context;
    if (lane.epoch !== context.epoch) {
      log.debug({ offset: context.batch.firstOffset() }, 'batch fetched before the seek back to the last commit: skipped, it is read again');
      return;
    }
    if (!this.stillOurs(context)) return; // the next owner (or generation) reads it from the last commit
    let finished = false;
    try {
      finished = await this.processBatch(entries, context);
    } catch (error) {
      // A heartbeat or commit that answered that the group is rebalancing, or a bug.
      log.info({ reason: describeError(error) }, 'batch abandoned without committing the rest; it is read again from the last commit');
    } finally {
      lane.stuckSince = null;
      this.metrics.laneStuckSeconds.set({ topic: lane.topic, partition: String(lane.partition) }, 0);
    }
    if (!finished) this.rewind(context);
  }

  private laneOf(batch: Batch, generation: number): Lane {
    const key = `${batch.topic}:${batch.partition}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = {
        topic: batch.topic,
        partition: batch.partition,
        tail: Promise.resolve(),
        tailGeneration: generation,
        resumeOffset: batch.firstOffset() ?? '0',
        epoch: 0,
        stuckSince: null,
      };
      this.lanes.set(key, lane);
    } else if (lane.tailGeneration !== generation) {
      // First batch of a new generation: it starts at the group's committed offset.
      lane.resumeOffset = batch.firstOffset() ?? lane.resumeOffset;
    }
    return lane;
  }

  /**
   * The batch gave up before all of it was settled. If the partition is still ours in the same
   * generation, nothing after the gap may be written: seek back to the last commit and start a
   * new epoch, so the batches already queued are skipped and the re-read ones are written.
   * (If it is no longer ours, the next owner reads from the last commit anyway.)
   */
  private rewind(context: BatchContext): void {
    const { lane, log } = context;
    if (this.stopping || !this.owns(context) || lane.epoch !== context.epoch) return;
    lane.epoch++;
    log.warn({ offset: lane.resumeOffset }, 'a batch of this partition was not written to its end: reading again from the last commit');
    try {
      this.consumer?.seek({ topic: lane.topic, partition: lane.partition, offset: lane.resumeOffset });
    } catch (error) {
      log.warn({ err: error }, 'could not seek back; the next rebalance or restart reads from the last commit');
    }
  }

  /** Writes the batch chunk by chunk. False when it stopped being ours before all was settled. */
  private async processBatch(entries: Entry[], context: BatchContext): Promise<boolean> {
    for (let start = 0; start < entries.length; start += this.maxEventsPerWrite) {
      if (context.payload.isStale()) return false; // a seek moved this partition: the rest is fetched again
      if (!(await this.processChunk(entries.slice(start, start + this.maxEventsPerWrite), context))) return false;
      // Keeps the group session alive through long batches (kafkajs sends one only when due).
      await this.heartbeat(context);
    }
    return true;
  }

  /** Writes one chunk until every message is settled. False when the batch stopped being ours. */
  private async processChunk(chunk: Entry[], context: BatchContext): Promise<boolean> {
    let pending: Entry[] = chunk;
    let round = 0;
    while (pending.length > 0) {
      const outcomes = await this.writeRound(pending);
      const plan = planSettlement(outcomes);

      const deadLetters = plan.deadLetter.map((index) => ({ entry: pending[index]!, outcome: outcomes[index]! }));
      const firstDead = plan.deadLetter[0];
      if (firstDead !== undefined) {
        // Commit what the sink holds before the first dead letter: if publishing it blocks
        // (dead-letter topic unavailable), a restart resumes exactly there.
        if (firstDead > 0 && !(await this.commit(pending[firstDead - 1]!.message.offset, context))) return false;
        if (!(await this.publishDeadLetters(deadLetters, context))) return false;
      }
      this.recordSettled(pending.slice(0, plan.settled), outcomes);
      if (plan.settled > 0 && !(await this.commit(pending[plan.settled - 1]!.message.offset, context))) return false;
      if (plan.retry === null) return true;

      // Progress resets the backoff; a sink that keeps refusing waits longer each round.
      round = plan.settled > 0 ? 1 : round + 1;
      pending = pending.slice(plan.settled);
      this.metrics.retries.inc({ stage: 'sink' });
      const delayMs = backoffDelay(round, this.retryPolicy);
      context.log.warn(
        { offset: pending[0]!.message.offset, attempt: pending[0]!.attempts, delayMs, err: plan.retry.error },
        'sink asked to retry; backing off, then writing the same events again',
      );
      if (!(await this.backOff(delayMs, context))) return false;
    }
    return true;
  }

  /** One sink.write for the pending events; its results lined up with the pending messages. */
  private async writeRound(pending: Entry[]): Promise<MessageOutcome[]> {
    const events: ChangeEvent[] = [];
    for (const entry of pending) {
      if ('event' in entry.decoded) {
        events.push(entry.decoded.event);
        entry.attempts++;
      }
    }
    if (events.length === 0) return mergeOutcomes(pending.map((entry) => entry.decoded), []);

    const started = process.hrtime.bigint();
    let results: WriteResult[] | null = null;
    let thrown: Error | undefined;
    try {
      results = await this.options.sink.write(events);
    } catch (error) {
      thrown = toError(error);
    }
    const outcomes = mergeOutcomes(pending.map((entry) => entry.decoded), results, thrown);
    const outcome = thrown ? 'error' : outcomes.some((o) => o.status === 'retry') ? 'retry' : 'ok';
    this.metrics.sinkWriteSeconds.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    return outcomes;
  }

  private decode(message: KafkaMessage, batch: Batch): DecodedEntry {
    try {
      return {
        event: decodeMessage({ topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key, value: message.value }),
      };
    } catch (error) {
      // Decoding is a pure function of the bytes: whatever it throws, it will throw again.
      return { decodeError: toError(error) };
    }
  }

  /** Publishes the originals and waits for the broker's ack; retries until acked or no longer ours. */
  private async publishDeadLetters(items: { entry: Entry; outcome: MessageOutcome }[], context: BatchContext): Promise<boolean> {
    const { batch, log } = context;
    const messages = items.map(({ entry, outcome }) => {
      const failure = outcome as Extract<MessageOutcome, { status: 'failed' }>;
      return buildDeadLetterMessage(
        { topic: batch.topic, partition: batch.partition, offset: entry.message.offset, timestamp: entry.message.timestamp, key: entry.message.key, value: entry.message.value, headers: entry.message.headers },
        { consumer: this.options.consumerName, error: failure.error, reason: failure.reason, attempts: entry.attempts },
      );
    });
    // One produce request per group of at most DLQ_REQUEST_BYTES: kafkajs puts a request's
    // messages for a partition into one record batch, which the broker refuses above 1 MB.
    const requests = groupBySize(messages, DLQ_REQUEST_BYTES);
    for (let round = 1, sent = 0; sent < requests.length; ) {
      try {
        await this.producer!.send({ topic: this.options.deadLetterTopic, messages: requests[sent]!, acks: -1 });
        sent++; // acked: a retry after a later failure does not publish this group again
      } catch (error) {
        this.metrics.retries.inc({ stage: 'dead_letter' });
        const delayMs = backoffDelay(round, this.retryPolicy);
        log.error({ err: error, delayMs, deadLetterTopic: this.options.deadLetterTopic }, 'dead-letter publish failed; backing off, then publishing again');
        if (!(await this.backOff(delayMs, context))) return false;
        round++;
      }
    }
    for (const { entry, outcome } of items) {
      const failure = outcome as Extract<MessageOutcome, { status: 'failed' }>;
      this.metrics.deadLettered.inc({ topic: batch.topic, reason: failure.reason });
      log.error(
        { offset: entry.message.offset, reason: failure.reason, attempts: entry.attempts, error: describeError(failure.error), deadLetterTopic: this.options.deadLetterTopic },
        'message dead-lettered',
      );
    }
    return true;
  }

  /** Counts settled events (one counter update per table/op/result, not per event) and their commit-to-sink latency. */
  private recordSettled(settled: Entry[], outcomes: MessageOutcome[]): void {
    const now = Date.now();
    const counts = new Map<string, { labels: { table: string; op: string; result: EventResult }; count: number }>();
    settled.forEach((entry, index) => {
      const result: EventResult = outcomes[index]!.status === 'ok' ? 'ok' : 'dead_lettered';
      const event = 'event' in entry.decoded ? entry.decoded.event : null;
      const table = event?.table ?? 'unknown';
      const op = event?.op ?? 'unknown';
      const key = `${table}\u0000${op}\u0000${result}`;
      const counted = counts.get(key);
      if (counted) counted.count++;
      else counts.set(key, { labels: { table, op, result }, count: 1 });
      if (event && result === 'ok' && event.op !== 'tombstone') {
        this.latencyFor(table).observe(Math.max(0, now - event.source.commitTimeMs) / 1000);
      }
    });
    for (const { labels, count } of counts.values()) this.metrics.events.inc(labels, count);
  }

  /** The latency histogram's child for a table, looked up once (label hashing per event is costly). */
  private latencyFor(table: string): { observe(seconds: number): void } {
    let child = this.latencyByTable.get(table);
    if (!child) {
      child = this.metrics.commitToSinkSeconds.labels({ table });
      this.latencyByTable.set(table, child);
    }
    return child;
  }

  /**
   * Commits the offset after `offset`, only while the partition is ours. A commit that fails for
   * a reason other than the group's membership is tried again (backing off, heartbeating) until
   * it passes or the batch is no longer ours. False when it was not committed; throws when the
   * group answered that this member must re-join.
   */
  private async commit(offset: string, context: BatchContext): Promise<boolean> {
    const { payload, batch, log, lane } = context;
    const next = nextOffset(offset);
    for (let round = 1; ; round++) {
      if (!this.owns(context)) {
        log.warn({ offset }, 'partition no longer assigned to this member: not committing');
        return false;
      }
      try {
        // Only the commit: the fetch position moved past the whole batch when it was queued.
        await payload.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
        break;
      } catch (error) {
        if (isMembershipError(error)) throw error;
        this.metrics.retries.inc({ stage: 'commit' });
        const delayMs = backoffDelay(round, this.retryPolicy);
        log.warn({ offset: next, delayMs, err: error }, 'commit failed; backing off, then committing the same offset again');
        if (!(await this.backOff(delayMs, context))) return false;
      }
    }
    lane.resumeOffset = next;
    lane.stuckSince = null;
    this.metrics.laneStuckSeconds.set({ topic: lane.topic, partition: String(lane.partition) }, 0);
    this.recordLag(batch, next);
    log.debug({ offset: next }, 'committed');
    return true;
  }

  /**
   * Heartbeats if due (kafkajs sends one only when the interval has passed). Throws when the
   * group is rebalancing or forgot this member (the batch then gives up); any other failure is
   * logged and passes: the next heartbeat, kafkajs' own included, tries again.
   */
  private async heartbeat(context: BatchContext): Promise<void> {
    if (this.stopping) return;
    try {
      await context.payload.heartbeat();
    } catch (error) {
      if (isMembershipError(error)) throw error;
      context.log.warn({ err: error }, 'heartbeat failed; carrying on (the next one tries again)');
    }
  }

  /**
   * Sleeps `delayMs` in slices, heartbeating between them; the lane counts as stuck from the first
   * backoff until its next commit. False when the batch is no longer ours.
   */
  private async backOff(delayMs: number, context: BatchContext): Promise<boolean> {
    const { lane } = context;
    lane.stuckSince ??= Date.now();
    const stuckGauge = this.metrics.laneStuckSeconds.labels({ topic: lane.topic, partition: String(lane.partition) });
    const until = Date.now() + delayMs;
    for (;;) {
      stuckGauge.set((Date.now() - lane.stuckSince) / 1000);
      if (!this.stillOurs(context)) {
        context.log.info('batch no longer ours (stopping, rebalanced or stale): giving up without committing');
        return false;
      }
      const left = until - Date.now();
      if (left <= 0) return true;
      await sleep(Math.min(left, HEARTBEAT_SLICE_MS), this.stopSignal.signal);
      // Keeps the group session alive while we wait; throws if the group is rebalancing, which
      // ends this batch without a commit (kafkajs then re-joins and fetches from the last commit).
      await this.heartbeat(context);
    }
  }

  private stillOurs(context: BatchContext): boolean {
    return !this.stopping && context.payload.isRunning() && !context.payload.isStale() && context.lane.epoch === context.epoch && this.owns(context);
  }

  private owns(context: BatchContext): boolean {
    return context.generation === this.generation && (this.assignment.get(context.batch.topic)?.has(context.batch.partition) ?? false);
  }

  private recordLag(batch: Batch, committedOffset: string): void {
    this.metrics.partitionLag.set({ topic: batch.topic, partition: String(batch.partition) }, partitionLag(batch.highWatermark, committedOffset));
  }
}

/** A commit or heartbeat error that means this member must re-join the group (see MEMBERSHIP_ERRORS). */
function isMembershipError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && MEMBERSHIP_ERRORS.has(String((error as { type?: unknown }).type));
}

/** kafkajs log level matching the pino level (kafkajs has no trace/fatal). */
function kafkaLevelFor(level: string): KafkaLogLevel {
  switch (level) {
    case 'trace':
    case 'debug':
      return KafkaLogLevel.DEBUG;
    case 'info':
      return KafkaLogLevel.INFO;
    case 'warn':
      return KafkaLogLevel.WARN;
    case 'silent':
      return KafkaLogLevel.NOTHING;
    default:
      return KafkaLogLevel.ERROR;
  }
}

/** Routes kafkajs' own log lines into pino, structured, with their kafkajs namespace. */
export function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ namespace, level, log }: LogEntry): void => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      const line = { namespace, ...fields };
      if (level === KafkaLogLevel.ERROR) logger.error(line, message);
      else if (level === KafkaLogLevel.WARN) logger.warn(line, message);
      else if (level === KafkaLogLevel.INFO) logger.info(line, message);
      else logger.debug(line, message);
    };
}
