/**
 * Small in-process sinks for the RUNNER's tests only (Kafka stays real; the real sinks have their
 * own contract suite). Each records what it HOLDS: the events for which it returned `ok`.
 */
import { appendFileSync } from 'node:fs';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { failed, ok, retry, stale, type Sink, type WriteResult } from '../../consumers/core/sink.js';

/** What a test sink remembers about an event it holds. */
export interface HeldEvent {
  /** JSON of the event key, e.g. '{"id":7}'. */
  key: string;
  /** LSN (decimal string); the runner tests produce increasing LSNs per key. */
  lsn: string | null;
  op: ChangeEvent['op'];
  partition: number;
  offset: string;
}

export function held(event: ChangeEvent): HeldEvent {
  return {
    key: JSON.stringify(event.key),
    lsn: event.op === 'tombstone' ? null : event.source.lsn,
    op: event.op,
    partition: event.kafka.partition,
    offset: event.kafka.offset,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Accepts everything, in order; remembers each event and every write call's size. */
export class RecordingSink implements Sink {
  readonly name: string = 'recording';
  /** Held events in the order held; pass `options.events` to share one log between sinks. */
  readonly events: HeldEvent[];
  readonly writeSizes: number[] = [];
  started = false;
  closed = 0;

  constructor(protected readonly options: { delayMs?: number; events?: HeldEvent[] } = {}) {
    this.events = options.events ?? [];
  }

  async start(): Promise<void> {
    this.started = true;
  }

  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    this.writeSizes.push(events.length);
    if (this.options.delayMs) await sleep(this.options.delayMs);
    return events.map((event) => this.decide(event));
  }

  /** The result for one event; subclasses refuse some. Only `ok` events are recorded. */
  protected decide(event: ChangeEvent): WriteResult {
    this.events.push(held(event));
    return ok;
  }

  async isReady(): Promise<boolean> {
    return this.started && this.closed === 0;
  }

  async close(): Promise<void> {
    this.closed++;
  }
}

export type TransientFailure = 'throw' | 'retry-all' | 'retry-second-half';

/**
 * Fails its first `failures` write calls transiently, cycling through the ways a sink can:
 * throwing, answering `retry` for every event, and accepting the first half of the events then
 * answering `retry` for the rest. After that it accepts everything.
 */
export class FlakySink extends RecordingSink {
  override readonly name = 'flaky';
  failuresLeft: number;
  readonly failuresSeen: TransientFailure[] = [];
  private readonly cycle: TransientFailure[];

  constructor(failures: number, options: { delayMs?: number; modes?: TransientFailure[] } = {}) {
    super(options);
    this.failuresLeft = failures;
    this.cycle = options.modes ?? ['throw', 'retry-all', 'retry-second-half'];
  }

  override async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    if (this.failuresLeft <= 0) return super.write(events);
    this.failuresLeft--;
    const mode = this.cycle[this.failuresSeen.length % this.cycle.length]!;
    this.failuresSeen.push(mode);
    this.writeSizes.push(events.length);
    const error = new Error(`transient failure ${this.failuresSeen.length} (${mode})`);
    if (mode === 'throw') throw error;
    const accepted = mode === 'retry-all' ? 0 : Math.floor(events.length / 2);
    return events.map((event, index) => (index < accepted ? this.decide(event) : retry(error)));
  }
}

/** Answers `stale` (as a sink already holding a newer version) for events matching `predicate`; accepts the rest. */
export class StaleAnsweringSink extends RecordingSink {
  override readonly name = 'stale-answering';
  readonly staleAnswers: HeldEvent[] = [];

  constructor(private readonly predicate: (event: ChangeEvent) => boolean) {
    super();
  }

  protected override decide(event: ChangeEvent): WriteResult {
    if (!this.predicate(event)) return super.decide(event);
    this.staleAnswers.push(held(event));
    return stale;
  }
}

/** Refuses for good (`failed`) every event matching `predicate`; accepts the rest. */
export class RejectingSink extends RecordingSink {
  override readonly name = 'rejecting';
  readonly rejected: HeldEvent[] = [];

  constructor(private readonly predicate: (event: ChangeEvent) => boolean, options: { delayMs?: number } = {}) {
    super(options);
  }

  protected override decide(event: ChangeEvent): WriteResult {
    if (!this.predicate(event)) return super.decide(event);
    this.rejected.push(held(event));
    return failed(new Error(`rejected ${JSON.stringify(event.key)} on purpose`));
  }
}

/**
 * For runner tests in a child process: appends one JSON line per held event to `path` before
 * answering `ok` (appendFileSync: the line is in the kernel before the runner may commit, so it
 * survives kill -9 of the process), then waits `delayMs` so a kill can land mid-batch.
 */
export class FileRecordingSink implements Sink {
  readonly name = 'file-recording';
  private closed = false;

  constructor(private readonly path: string, private readonly options: { run: string; delayMs?: number }) {}

  async start(): Promise<void> {}

  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    appendFileSync(this.path, events.map((event) => `${JSON.stringify({ run: this.options.run, ...held(event) })}\n`).join(''));
    if (this.options.delayMs) await sleep(this.options.delayMs);
    return events.map(() => ok);
  }

  async isReady(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
