/**
 * Dead letters as the tools show them, from messages built by the runner's own
 * buildDeadLetterMessage around a real captured Debezium message: headers read back, table and
 * key found, the status decided by the replay records, ids, filters and replay order.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDeadLetterMessage } from '../../consumers/core/dead-letter.js';
import {
  bySourcePosition, matchesFilter, parseDeadLetterId, replayedTopicOf, toDeadLetter, type ReplayRecord,
} from '../../scripts/operator/dead-letters.js';

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/debezium/orders-create.json'), 'utf8')) as {
  topic: string; partition: number; offset: string; key: unknown; value: unknown;
};

function deadLettered(originalOffset: string, options: { reason?: 'decode' | 'sink'; headers?: Record<string, string>; value?: Buffer | null } = {}) {
  const built = buildDeadLetterMessage(
    {
      topic: fixture.topic,
      partition: fixture.partition,
      offset: originalOffset,
      timestamp: '1764620000000',
      key: Buffer.from(JSON.stringify(fixture.key)),
      value: options.value === undefined ? Buffer.from(JSON.stringify(fixture.value)) : options.value,
      headers: { traceparent: '00-abc-01', ...options.headers },
    },
    { consumer: 'redis', error: new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), reason: options.reason ?? 'sink', attempts: 1, now: new Date('2026-12-01T10:00:00.000Z') },
  );
  // As kafkajs hands a consumed message over: header values are Buffers.
  const headers = Object.fromEntries(Object.entries(built.headers).map(([name, value]) => [name, Buffer.from(String(value))]));
  return { key: built.key, value: built.value, headers, offset: '7' };
}

const record = (outcome: ReplayRecord['outcome'], at: string): ReplayRecord => ({ id: 'redis:1:7', consumer: 'redis', outcome, by: 'alice', via: 'cli', at });

describe('toDeadLetter', () => {
  it('reads back everything the runner wrote, and the original message without the dlq.* headers', () => {
    const d = toDeadLetter('redis', { topic: 'ecommerce.dlq.redis', partition: 1 }, deadLettered('97'));
    expect(d).toMatchObject({
      id: 'redis:1:7',
      consumer: 'redis',
      topic: 'ecommerce.dlq.redis',
      partition: 1,
      offset: '7',
      reason: 'sink',
      attempts: 1,
      time: '2026-12-01T10:00:00.000Z',
      original: { topic: 'ecommerce.public.orders', partition: fixture.partition, offset: '97', timestamp: '1764620000000' },
      table: 'orders',
      key: { id: 303 },
      status: 'pending',
      replays: [],
    });
    expect(d.error).toMatch(/WRONGTYPE/);
    expect(d.message.headers).toEqual({ traceparent: '00-abc-01' });
    expect(JSON.parse(d.message.value!)).toEqual(fixture.value);
    expect(d.raw.value?.toString()).toBe(d.message.value);
  });

  it('keeps a key that is not JSON as text, and a tombstone value as null', () => {
    const message = { ...deadLettered('5', { reason: 'decode', value: null }), key: Buffer.from('not json') };
    const d = toDeadLetter('redis', { topic: 'ecommerce.dlq.redis', partition: 0 }, message);
    expect(d.key).toBe('not json');
    expect(d.message.value).toBeNull();
    expect(d.reason).toBe('decode');
  });

  it.each([
    [[], 'pending'],
    [[record('failed', '2026-12-01T10:01:00Z')], 'pending'],
    [[record('failed', '2026-12-01T10:01:00Z'), record('applied', '2026-12-01T10:02:00Z')], 'replayed'],
    [[record('stale', '2026-12-01T10:01:00Z')], 'replayed'],
  ] as const)('with replays %j it is %s', (replays, status) => {
    expect(toDeadLetter('redis', { topic: 't', partition: 1 }, deadLettered('97'), replays).status).toBe(status);
  });
});

describe('ids, filters and order', () => {
  it('parses ids and refuses anything else', () => {
    expect(parseDeadLetterId('elasticsearch:2:1234')).toEqual({ consumer: 'elasticsearch', partition: 2, offset: '1234' });
    for (const bad of ['redis', 'redis:1', 'redis:a:1', ':1:2', 'Redis:1:2']) expect(() => parseDeadLetterId(bad)).toThrow(/not a dead-letter id/);
  });

  it('names the replay-record topic after the dead-letter topic', () => {
    expect(replayedTopicOf('ecommerce.dlq.redis')).toBe('ecommerce.dlq.redis.replayed');
  });

  it('filters by consumer, status, table and reason', () => {
    const d = toDeadLetter('redis', { topic: 't', partition: 1 }, deadLettered('97'));
    expect(matchesFilter(d, {})).toBe(true);
    expect(matchesFilter(d, { consumer: 'redis', status: 'pending', table: 'orders', reason: 'sink' })).toBe(true);
    expect(matchesFilter(d, { consumer: 'elasticsearch' })).toBe(false);
    expect(matchesFilter(d, { status: 'replayed' })).toBe(false);
    expect(matchesFilter(d, { table: 'customers' })).toBe(false);
    expect(matchesFilter(d, { reason: 'decode' })).toBe(false);
  });

  it('replays oldest source position first (offsets compared as numbers)', () => {
    // Dead-letter offsets in the opposite order: the source position decides.
    const at = (offset: string, dlqOffset: string) => toDeadLetter('redis', { topic: 't', partition: 0 }, { ...deadLettered(offset), offset: dlqOffset });
    const sorted = [at('100', '1'), at('20', '2'), at('3', '3'), at('9', '4')].sort(bySourcePosition).map((d) => d.original.offset);
    expect(sorted).toEqual(['3', '9', '20', '100']);
  });
});
