/**
 * Replay: a dead letter goes back through the SAME consumer's sink code (its definition.ts builds
 * the sink from the same configuration), never back onto the source topic, which every other
 * consumer would read again.
 *
 * Why this is safe:
 * - Every sink write is guarded by the row version (source.version): if the consumer has written
 *   a newer version of the row since, the replayed event is refused as `stale` and nothing changes.
 *   A replay that runs twice (two operators, a retry after a crash before the record was written)
 *   changes nothing the second time either.
 * - The notification consumer claims every send in its durable ledger keyed by (rule, table, key,
 *   LSN, channel) before sending, so a replayed event whose notification was already sent is not
 *   sent again; one that was never sent (the usual case: it was dead-lettered instead) is sent once.
 *
 * The contract:
 * - Each attempt is recorded in `<dead-letter topic>.replayed` (who, how, when, outcome) before the
 *   next one starts; only `applied` or `stale` mark the dead letter replayed. A decode failure, a
 *   sink refusal or an engine that does not answer is recorded as `failed` and leaves it pending.
 * - Nothing is ever deleted: the dead-letter topic is append-only, the list shows what is pending.
 * - Dead letters are replayed one at a time, oldest source position first.
 */
import { hostname, userInfo } from 'node:os';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { decodeMessage } from '../../consumers/core/debezium/decode.js';
import { describeError, toError } from '../../consumers/core/errors.js';
import type { Logger } from '../../consumers/core/logger.js';
import { Metrics } from '../../consumers/core/metrics.js';
import type { Sink, WriteResult } from '../../consumers/core/sink.js';
import { bySourcePosition, type DeadLetter, type DeadLetterStore, type ReplayOutcome, type ReplayRecord } from './dead-letters.js';
import type { ConsumerTarget } from './targets.js';

export interface ReplayResult {
  readonly id: string;
  /** `skipped`: already replayed (and `again` was not asked for), or unknown id. */
  readonly outcome: ReplayOutcome | 'skipped';
  readonly detail: string;
}

export interface ReplayerOptions {
  store: DeadLetterStore;
  targets: readonly ConsumerTarget[];
  logger: Logger;
  /** `cli` or `dashboard`. */
  via: string;
}

/** The default "who": user@host of the process. */
export function defaultActor(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep $USER
  }
  return `${user}@${hostname()}`;
}

export class Replayer {
  private readonly sinks = new Map<string, Promise<Sink>>();
  /** One replay at a time per process: keeps the per-consumer order and the records in step. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ReplayerOptions) {}

  /** Replays the dead letters with these ids (in source order), recording each attempt. */
  replay(ids: readonly string[], by: string, again = false): Promise<ReplayResult[]> {
    const run = this.queue.then(() => this.replayNow(ids, by, again));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async replayNow(ids: readonly string[], by: string, again: boolean): Promise<ReplayResult[]> {
    const results: ReplayResult[] = [];
    const found: DeadLetter[] = [];
    for (const id of ids) {
      const deadLetter = this.options.store.get(id);
      if (!deadLetter) results.push({ id, outcome: 'skipped', detail: 'no such dead letter' });
      else if (deadLetter.status === 'replayed' && !again) results.push({ id, outcome: 'skipped', detail: 'already replayed' });
      else found.push(deadLetter);
    }
    for (const deadLetter of found.sort(bySourcePosition)) results.push(await this.replayOne(deadLetter, by));
    return results;
  }

  private async replayOne(deadLetter: DeadLetter, by: string): Promise<ReplayResult> {
    const { outcome, detail } = await this.attempt(deadLetter);
    const record: ReplayRecord = {
      id: deadLetter.id,
      consumer: deadLetter.consumer,
      outcome,
      ...(outcome === 'failed' ? { error: detail } : {}),
      by,
      via: this.options.via,
      at: new Date().toISOString(),
    };
    await this.options.store.record(record);
    this.options.logger.info({ id: deadLetter.id, outcome, by, via: this.options.via }, `dead letter ${deadLetter.id}: ${outcome}`);
    return { id: deadLetter.id, outcome, detail };
  }

  private async attempt(deadLetter: DeadLetter): Promise<{ outcome: ReplayOutcome; detail: string }> {
    let event: ChangeEvent;
    try {
      event = decodeMessage({
        topic: deadLetter.original.topic,
        partition: deadLetter.original.partition,
        offset: deadLetter.original.offset,
        key: deadLetter.raw.key,
        value: deadLetter.raw.value,
      });
    } catch (error) {
      return { outcome: 'failed', detail: `still not decodable: ${describeError(error)}` };
    }
    let result: WriteResult;
    try {
      const sink = await this.sinkFor(deadLetter.consumer);
      result = (await sink.write([event]))[0] ?? { status: 'retry', error: new Error('the sink gave no result') };
    } catch (error) {
      result = { status: 'retry', error: toError(error) };
    }
    if (result.status === 'ok') {
      return result.stale
        ? { outcome: 'stale', detail: 'the sink already holds a newer version of the row: nothing to change' }
        : { outcome: 'applied', detail: 'written by the sink' };
    }
    const why = describeError(result.error);
    return { outcome: 'failed', detail: result.status === 'failed' ? `the sink refused it again: ${why}` : `the sink could not write it now (try again): ${why}` };
  }

  /** The consumer's own sink, built from its definition and configuration, started once. */
  private sinkFor(consumer: string): Promise<Sink> {
    let sink = this.sinks.get(consumer);
    if (!sink) {
      const target = this.options.targets.find((candidate) => candidate.entry.name === consumer);
      if (!target) return Promise.reject(new Error(`consumer '${consumer}' is not in the consumer list`));
      sink = (async () => {
        const definition = await target.entry.load();
        const logger = this.options.logger.child({ consumer, component: 'replay-sink' });
        const built = await definition.createSink(target.config, logger, new Metrics(consumer, { defaultMetrics: false }));
        await built.start();
        return built;
      })();
      this.sinks.set(consumer, sink);
      // A sink that failed to start is built again by the next replay (the engine may be back).
      sink.catch(() => this.sinks.delete(consumer));
    }
    return sink;
  }

  async close(): Promise<void> {
    await this.queue;
    const sinks = [...this.sinks.values()];
    this.sinks.clear();
    await Promise.allSettled(sinks.map(async (sink) => (await sink).close()));
  }
}
