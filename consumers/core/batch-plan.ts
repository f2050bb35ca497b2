/**
 * The runner's bookkeeping as pure functions: given what happened to each message of a chunk,
 * what may be committed, what goes to the dead-letter topic and where retrying starts.
 *
 * The rule (design.md, "Runner"): an offset is committed only once the sink or the dead-letter
 * topic holds every message up to it. So the committable part of a chunk is its longest PREFIX
 * of messages that are `ok` (the sink holds them) or `failed` (they will be dead-lettered before
 * the commit). The first `retry` ends the prefix: that message and everything after it are handed
 * to the sink again, in the same order, even those the sink already accepted (writes are
 * idempotent and LSN-guarded, so that is harmless; skipping or reordering would not be).
 */
import type { ChangeEvent } from './change-event.js';
import type { WriteResult } from './sink.js';

/** What happened to one Kafka message in one round. */
export type MessageOutcome =
  | { readonly status: 'ok'; readonly stale?: true }
  | { readonly status: 'retry'; readonly error: Error }
  | { readonly status: 'failed'; readonly error: Error; readonly reason: 'decode' | 'sink' };

export interface SettlementPlan {
  /** How many leading messages are settled: commit the offset after message `settled - 1`. */
  readonly settled: number;
  /** Indices (all < settled, ascending) whose original message must be dead-lettered first. */
  readonly deadLetter: readonly number[];
  /** The first message to retry (its index equals `settled`) and why; null when all settled. */
  readonly retry: { readonly index: number; readonly error: Error } | null;
}

export function planSettlement(outcomes: readonly MessageOutcome[]): SettlementPlan {
  const deadLetter: number[] = [];
  for (let index = 0; index < outcomes.length; index++) {
    const outcome = outcomes[index]!;
    if (outcome.status === 'retry') return { settled: index, deadLetter, retry: { index, error: outcome.error } };
    if (outcome.status === 'failed') deadLetter.push(index);
  }
  return { settled: outcomes.length, deadLetter, retry: null };
}

/** A message of the chunk after decoding: either an event for the sink or a decode failure. */
export type DecodedEntry = { readonly event: ChangeEvent } | { readonly decodeError: Error };

/** Thrown when a sink breaks its contract (wrong number of results); the runner retries. */
export class SinkContractError extends Error {
  override readonly name = 'SinkContractError';
}

/**
 * Lines the sink's results (one per EVENT it was given) back up with the chunk's MESSAGES, where
 * undecodable messages never reached the sink and are permanent failures in place.
 * `sinkResults` null means the write threw: every event is to be retried with `thrown`.
 */
export function mergeOutcomes(
  entries: readonly DecodedEntry[],
  sinkResults: readonly WriteResult[] | null,
  thrown?: Error,
): MessageOutcome[] {
  const eventCount = entries.filter((entry) => 'event' in entry).length;
  let results = sinkResults;
  let error = thrown ?? new Error('sink write failed');
  if (results !== null && results.length !== eventCount) {
    error = new SinkContractError(`sink returned ${results.length} results for ${eventCount} events; retrying the chunk`);
    results = null;
  }
  let next = 0;
  return entries.map((entry): MessageOutcome => {
    if ('decodeError' in entry) return { status: 'failed', error: entry.decodeError, reason: 'decode' };
    const result = results === null ? undefined : results[next++];
    if (result === undefined) return { status: 'retry', error };
    if (result.status === 'failed') return { status: 'failed', error: result.error, reason: 'sink' };
    return result;
  });
}

/** The offset to commit after the message at `offset`: Kafka commits the NEXT offset to read. */
export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/** Messages not yet committed: high watermark minus committed offset, never negative. */
export function partitionLag(highWatermark: string, committedOffset: string): number {
  const lag = BigInt(highWatermark) - BigInt(committedOffset);
  return lag > 0n ? Number(lag) : 0;
}
