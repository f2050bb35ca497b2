import { describe, expect, it } from 'vitest';
import {
  mergeOutcomes,
  nextOffset,
  partitionLag,
  planSettlement,
  SinkContractError,
  type DecodedEntry,
  type MessageOutcome,
} from '../../consumers/core/batch-plan.js';
import { failed, ok, retry, stale } from '../../consumers/core/sink.js';
import { create } from '../helpers/events.js';

const boom = new Error('engine down');
const bad = new Error('mapping rejected');
const O: MessageOutcome = { status: 'ok' };
const R: MessageOutcome = { status: 'retry', error: boom };
const F: MessageOutcome = { status: 'failed', error: bad, reason: 'sink' };
const D: MessageOutcome = { status: 'failed', error: bad, reason: 'decode' };

describe('planSettlement: what may be committed, dead-lettered, retried', () => {
  it.each<[string, MessageOutcome[], number, number[], number | null]>([
    ['all ok: commit everything', [O, O, O], 3, [], null],
    ['empty chunk', [], 0, [], null],
    ['retry first: commit nothing, retry from 0', [R, O, O], 0, [], 0],
    ['retry in the middle: commit the prefix only', [O, O, R, O], 2, [], 2],
    ['a later ok never moves the commit past a retry', [O, R, O, O, O], 1, [], 1],
    ['failed is settled once dead-lettered', [O, F, O], 3, [1], null],
    ['decode failure is dead-lettered in place', [D, O, D], 3, [0, 2], null],
    ['failed after a retry waits for the retry', [O, F, R, F], 2, [1], 2],
    ['all failed', [F, D], 2, [0, 1], null],
  ])('%s', (_label, outcomes, settled, deadLetter, retryIndex) => {
    const plan = planSettlement(outcomes);
    expect(plan.settled).toBe(settled);
    expect(plan.deadLetter).toEqual(deadLetter);
    expect(plan.retry?.index ?? null).toBe(retryIndex);
    if (plan.retry) expect(plan.retry.error).toBe(boom);
  });
});

describe('mergeOutcomes: lines sink results up with messages', () => {
  const event = (id: number): DecodedEntry => ({ event: create('orders', { id }, { id }, 100 + id) });
  const poison: DecodedEntry = { decodeError: new Error('not JSON') };

  it('skips undecodable messages when assigning sink results', () => {
    const outcomes = mergeOutcomes([event(1), poison, event(2), event(3)], [ok, failed(bad), retry(boom)]);
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'failed', 'failed', 'retry']);
    expect(outcomes[1]).toMatchObject({ reason: 'decode' });
    expect(outcomes[2]).toMatchObject({ reason: 'sink', error: bad });
    expect(planSettlement(outcomes)).toMatchObject({ settled: 3, deadLetter: [1, 2] });
  });

  it('keeps a stale answer (settled, counted apart by the runner)', () => {
    const outcomes = mergeOutcomes([event(1), event(2)], [stale, ok]);
    expect(outcomes).toEqual([{ status: 'ok', stale: true }, { status: 'ok' }]);
    expect(planSettlement(outcomes)).toMatchObject({ settled: 2, deadLetter: [], retry: null });
  });

  it('a thrown write retries every event but still dead-letters poison in place', () => {
    const outcomes = mergeOutcomes([poison, event(1), event(2)], null, boom);
    expect(outcomes).toEqual([
      { status: 'failed', error: poison.decodeError, reason: 'decode' },
      { status: 'retry', error: boom },
      { status: 'retry', error: boom },
    ]);
    expect(planSettlement(outcomes)).toMatchObject({ settled: 1, deadLetter: [0], retry: { index: 1 } });
  });

  it('a sink returning the wrong number of results is retried, never trusted', () => {
    const outcomes = mergeOutcomes([event(1), event(2)], [ok]);
    expect(outcomes.every((o) => o.status === 'retry')).toBe(true);
    expect((outcomes[0] as { error: Error }).error).toBeInstanceOf(SinkContractError);
  });

  it('a chunk of only poison needs no sink results', () => {
    expect(mergeOutcomes([poison, poison], []).map((o) => o.status)).toEqual(['failed', 'failed']);
  });
});

describe('offsets', () => {
  it('commits the offset after the last settled message, exactly beyond 2^53', () => {
    expect(nextOffset('0')).toBe('1');
    expect(nextOffset('9007199254740993')).toBe('9007199254740994');
  });

  it('lag is high watermark minus committed offset, never negative', () => {
    expect(partitionLag('100', '40')).toBe(60);
    expect(partitionLag('100', '100')).toBe(0);
    expect(partitionLag('5', '7')).toBe(0);
  });
});
