import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, maskPii, positionLogger } from '../../consumers/core/logger.js';

/** A logger writing JSON lines into an array. */
function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ consumer: 'notification', level: 'debug', destination }) };
}

describe('log redaction', () => {
  it('censors known personal fields at any usual depth', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        email: 'top@example.com',
        after: { id: 7, email: 'jane@example.com', phone: '+44 20 7946 0958', push_token: 'abc' },
        event: { before: { phone_number: '555-123-4567', name: 'Jane' } },
      },
      'customer changed',
    );
    const line = lines[0]!;
    expect(line.email).toBe('[redacted]');
    expect(line.after).toEqual({ id: 7, email: '[redacted]', phone: '[redacted]', push_token: '[redacted]' });
    expect(line.event).toEqual({ before: { phone_number: '[redacted]', name: 'Jane' } });
    expect(JSON.stringify(line)).not.toMatch(/example\.com|7946|123-4567/);
  });

  it('masks emails, phones and push tokens inside messages, strings and errors', () => {
    const { lines, logger } = capture();
    logger.warn({ detail: 'sent to bob@shop.io via +1 (415) 555-2671', nested: { list: ['call 212-555-0188'] } }, 'notify bob@shop.io failed');
    logger.error({ err: new Error('mapping rejected address alice@example.org') }, 'sink failed');
    logger.info({ note: 'token ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx] and dGVzdA12345:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx' }, 'push');
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/bob@shop\.io|alice@example\.org|555-2671|0188|ExponentPushToken\[x|APA91b/);
    expect(lines[0]!.msg).toBe('notify [redacted-email] failed');
    expect(lines[0]!.detail).toBe('sent to [redacted-email] via [redacted-phone]');
    expect((lines[1]!.err as { message: string; type: string }).message).toBe('mapping rejected address [redacted-email]');
    expect((lines[1]!.err as { type: string }).type).toBe('Error');
  });

  it('leaves LSNs, offsets, ids, dates and amounts alone', () => {
    const { lines, logger } = capture();
    logger.info({ lsn: '24023128', offset: '1048576', id: 12345678901, at: '2026-11-24T09:15:38.123456Z', date: '2026-11-24', total: '25000.00', ip: '127.0.0.1:9092' }, 'written');
    expect(lines[0]).toMatchObject({ lsn: '24023128', offset: '1048576', id: 12345678901, at: '2026-11-24T09:15:38.123456Z', date: '2026-11-24', total: '25000.00', ip: '127.0.0.1:9092' });
  });

  it.each([
    ['reach me at jane.doe+shop@mail.example.co.uk', 'reach me at [redacted-email]'],
    ['call +33 6 12 34 56 78 now', 'call [redacted-phone] now'],
    ['(212) 555-0188', '[redacted-phone]'],
    ['order ORD-TEST-001 total 25000.00', 'order ORD-TEST-001 total 25000.00'],
  ])('maskPii(%j)', (input, expected) => {
    expect(maskPii(input)).toBe(expected);
  });
});

describe('log fields', () => {
  it('carries consumer on every line and topic/partition/offset on position loggers', () => {
    const { lines, logger } = capture();
    positionLogger(logger, 'ecommerce.public.orders', 2, '41').debug('decoded');
    expect(lines[0]).toMatchObject({ consumer: 'notification', topic: 'ecommerce.public.orders', partition: 2, offset: '41', level: 'debug', msg: 'decoded' });
  });
});
