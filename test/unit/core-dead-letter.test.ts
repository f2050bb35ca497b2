import { describe, expect, it } from 'vitest';
import { buildDeadLetterMessage, groupBySize } from '../../consumers/core/dead-letter.js';
import { PermanentError } from '../../consumers/core/errors.js';

const original = {
  topic: 'ecommerce.public.orders',
  partition: 2,
  offset: '41',
  timestamp: '1795512473094',
  key: Buffer.from('{"id":7}'),
  value: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
  headers: { traceparent: '00-abc-def-01', 'dlq.error': 'from an earlier trip' },
};

describe('buildDeadLetterMessage', () => {
  it('keeps the original bytes and headers and says why', () => {
    const error = new PermanentError('mapping rejected', { cause: new Error('field [total] is not a number') });
    const message = buildDeadLetterMessage(original, { consumer: 'warehouse', error, reason: 'sink', attempts: 3, now: new Date('2026-11-24T10:00:00.000Z') });
    expect(message.key).toBe(original.key);
    expect(message.value).toBe(original.value);
    expect(message.headers).toEqual({
      traceparent: '00-abc-def-01',
      'dlq.error': 'PermanentError: mapping rejected <- Error: field [total] is not a number',
      'dlq.reason': 'sink',
      'dlq.consumer': 'warehouse',
      'dlq.original.topic': 'ecommerce.public.orders',
      'dlq.original.partition': '2',
      'dlq.original.offset': '41',
      'dlq.original.timestamp': '1795512473094',
      'dlq.attempts': '3',
      'dlq.timestamp': '2026-11-24T10:00:00.000Z',
    });
  });

  it('bounds the error header to 4 KiB', () => {
    const message = buildDeadLetterMessage(original, { consumer: 'redis', error: new Error('x'.repeat(10_000)), reason: 'decode', attempts: 0 });
    const header = message.headers['dlq.error'] as string;
    expect(Buffer.byteLength(header)).toBeLessThanOrEqual(4096);
    expect(header.endsWith('...')).toBe(true);
  });
});

describe('groupBySize (dead-letter produce requests stay under the broker limit)', () => {
  const message = (bytes: number) => ({ key: Buffer.alloc(10), value: Buffer.alloc(bytes), headers: {} });

  it('keeps order and splits before a group would exceed the limit', () => {
    const messages = [message(300), message(300), message(300), message(100), message(2_000), message(50)];
    const groups = groupBySize(messages, 1_000);
    expect(groups.map((group) => group.length)).toEqual([3, 1, 1, 1]);
    expect(groups.flat()).toEqual(messages);
  });

  it('sends a message bigger than the limit alone rather than dropping it', () => {
    expect(groupBySize([message(5_000)], 1_000)).toHaveLength(1);
    expect(groupBySize([], 1_000)).toEqual([]);
  });
});
