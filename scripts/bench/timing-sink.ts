/**
 * Sinks the throughput benches measure with: TimingSink wraps the sink under test and notes when
 * the first write started and when `target` events were settled (ok or failed for good); noopSink
 * accepts everything and writes nothing, so the Runner and the decoder alone set its rate.
 */
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import type { Sink, WriteResult } from '../../consumers/core/sink.js';

/** Accepts everything and writes nothing: what the Runner and the decoder manage on their own. */
export const noopSink: Sink = {
  name: 'noop',
  start: async () => {},
  isReady: async () => true,
  close: async () => {},
  write: async (events) => events.map(() => ({ status: 'ok' }) as const),
};

/** Passes writes through and notes when the first started and when `target` events were settled. */
export class TimingSink implements Sink {
  readonly name: string;
  firstWriteAt = 0;
  /** Events the sink applied: `ok` and not `stale` (into a fresh namespace every event must apply). */
  okCount = 0;
  settledCount = 0;
  writes = 0;
  /** Sum of time spent inside sink.write, ms (writes of different partitions may overlap). */
  writeMs = 0;
  private finish!: (at: number) => void;
  /** Resolves with performance.now() once `target` events were settled. */
  readonly done = new Promise<number>((resolvePromise) => (this.finish = resolvePromise));
  constructor(readonly inner: Sink, private readonly target: number) {
    this.name = inner.name;
  }
  start() { return this.inner.start(); }
  isReady() { return this.inner.isReady(); }
  close() { return this.inner.close(); }
  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    if (this.firstWriteAt === 0) this.firstWriteAt = performance.now();
    this.writes++;
    const started = performance.now();
    const results = await this.inner.write(events);
    this.writeMs += performance.now() - started;
    this.okCount += results.filter((result) => result.status === 'ok' && !result.stale).length;
    this.settledCount += results.filter((result) => result.status !== 'retry').length;
    if (this.settledCount >= this.target) this.finish(performance.now());
    return results;
  }
}
