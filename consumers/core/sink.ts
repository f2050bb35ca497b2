import type { ChangeEvent } from './change-event.js';

/**
 * What a sink says about one event it was given.
 * - `ok`: the sink now holds the effect of this event (or deliberately ignores it, e.g. a
 *   tombstone). A sink that refused the event because it already holds a newer version of the
 *   row (by `source.version`) answers `stale` (an `ok` with `stale: true`), so refusals are counted.
 * - `retry`: a transient problem (engine down, 429, timeout). The runner backs off and hands the
 *   same event (and everything after it in the partition) to the sink again; it is never skipped.
 * - `failed`: this event can never be written (bad data, mapping error). The runner publishes the
 *   original Kafka message to the dead-letter topic and moves on.
 */
export type WriteResult =
  | { readonly status: 'ok'; readonly stale?: true }
  | { readonly status: 'retry'; readonly error: Error }
  | { readonly status: 'failed'; readonly error: Error };

/**
 * A destination for change events. The contract:
 * - `start()` connects and creates what the sink needs (indexes, templates, scripts). Throwing
 *   stops the consumer at start-up with that error.
 * - `write(events)` receives events of ONE partition, in Kafka order, and returns exactly one
 *   result per event, in the same order. It may throw only for a whole-batch transient failure,
 *   which the runner treats as `retry` for every event. Writes must be idempotent and guarded by
 *   the event's LSN, so that replays, redeliveries and reordering never roll data back.
 * - A sink never commits offsets and never sees Kafka: the runner owns both.
 * - `isReady()` tells the health endpoint whether the engine is reachable right now.
 * - `close()` releases connections; it is safe to call twice.
 */
export interface Sink {
  readonly name: string;
  start(): Promise<void>;
  write(events: readonly ChangeEvent[]): Promise<WriteResult[]>;
  isReady(): Promise<boolean>;
  close(): Promise<void>;
}

export const ok: WriteResult = Object.freeze({ status: 'ok' });
/** Settled without effect: the sink already holds a newer version of the row (or table). */
export const stale: WriteResult = Object.freeze({ status: 'ok', stale: true });
export const retry = (error: Error): WriteResult => ({ status: 'retry', error });
export const failed = (error: Error): WriteResult => ({ status: 'failed', error });
