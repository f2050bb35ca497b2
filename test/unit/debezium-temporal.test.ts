/**
 * Debezium temporal encodings to ISO strings. Expected values are written out by hand; the
 * captured-message tests in debezium-decode.test.ts check the same paths on real output.
 */
import { describe, expect, it } from 'vitest';
import {
  dateFromEpochDays,
  isoFromEpochMicros,
  isoFromEpochMillis,
  isoFromEpochNanos,
  normaliseZonedTimestamp,
  timeFromMicros,
  timeFromMillis,
  timeFromNanos,
} from '../../consumers/core/debezium/temporal.js';

// 2026-11-24T09:15:38Z is 1795511738 seconds after the epoch.
const SECONDS = 1_795_511_738n;

describe('timestamps without zone (epoch units, read as UTC)', () => {
  it.each([
    ['micros', isoFromEpochMicros(SECONDS * 1_000_000n + 123_456n), '2026-11-24T09:15:38.123456Z'],
    ['micros, whole second', isoFromEpochMicros(SECONDS * 1_000_000n), '2026-11-24T09:15:38.000000Z'],
    ['micros, before 1970', isoFromEpochMicros(-1n), '1969-12-31T23:59:59.999999Z'],
    ['millis', isoFromEpochMillis(SECONDS * 1_000n + 123n), '2026-11-24T09:15:38.123000Z'],
    ['nanos, microsecond precision', isoFromEpochNanos(SECONDS * 1_000_000_000n + 123_456_000n), '2026-11-24T09:15:38.123456Z'],
    ['nanos, sub-microsecond', isoFromEpochNanos(1n), '1970-01-01T00:00:00.000000001Z'],
  ])('%s', (_case, actual, expected) => {
    expect(actual).toBe(expected);
  });

  it('keeps precision beyond 2^53 micros (no double rounding)', () => {
    // 9007199254740993 µs is not representable as a double; the result must end in ...993.
    expect(isoFromEpochMicros(9_007_199_254_740_993n)).toBe('2255-06-05T23:47:34.740993Z');
  });

  it('maps values beyond any calendar (how Debezium carries PostgreSQL infinity) to infinity', () => {
    expect(isoFromEpochMicros(9_223_372_036_854_775_807n)).toBe('infinity');
    expect(isoFromEpochMicros(-9_223_372_036_854_775_808n)).toBe('-infinity');
  });
});

describe('normaliseZonedTimestamp (timestamptz)', () => {
  it.each([
    ['2026-11-24T09:15:38.123456Z', '2026-11-24T09:15:38.123456Z'],
    ['2026-11-24T09:15:38.1234Z', '2026-11-24T09:15:38.123400Z'],
    ['2026-11-24T09:15:38Z', '2026-11-24T09:15:38.000000Z'],
    ['2026-11-24T10:15:38.5+01:00', '2026-11-24T09:15:38.500000Z'],
    ['2026-11-24T00:15:38.000001-09:00', '2026-11-24T09:15:38.000001Z'],
    ['infinity', 'infinity'],
    ['-infinity', '-infinity'],
  ])('%s -> %s', (text, expected) => {
    expect(normaliseZonedTimestamp(text)).toBe(expected);
  });

  it('returns Debezium\'s usual UTC form unchanged, exactly as the full path (via +00:00) writes it', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const texts = ['0000-01-01T00:00:00.000000Z', '2000-02-29T12:00:00.000001Z', '2024-02-29T23:59:59.999999Z', '9999-12-31T23:59:59.999999999Z'];
    for (let i = 0; i < 2000; i++) {
      const millis = Math.floor(random() * 253_402_300_800_000) - 62_135_596_800_000 * (random() < 0.1 ? 1 : 0);
      const micros = String(Math.floor(random() * 1000)).padStart(3, '0');
      texts.push(new Date(millis).toISOString().replace('Z', `${micros}Z`));
    }
    for (const text of texts) {
      expect(normaliseZonedTimestamp(text)).toBe(text);
      expect(normaliseZonedTimestamp(text.replace('Z', '+00:00'))).toBe(text);
    }
  });

  it.each([
    ['2025-02-29T00:00:00.000000Z', '2025-03-01T00:00:00.000000Z'], // no leap year: Date rolls over, as before
    ['1900-02-29T00:00:00.000000Z', '1900-03-01T00:00:00.000000Z'],
    ['2025-04-31T00:00:00.000000Z', '2025-05-01T00:00:00.000000Z'],
    ['2025-01-01T24:00:00.000000Z', '2025-01-02T00:00:00.000000Z'],
  ])('an instant that is not a calendar one takes the full path: %s -> %s', (text, expected) => {
    expect(normaliseZonedTimestamp(text)).toBe(expected);
    expect(normaliseZonedTimestamp(text.replace('Z', '+00:00'))).toBe(expected);
  });

  it('refuses what is not an ISO timestamp with offset', () => {
    expect(() => normaliseZonedTimestamp('2026-11-24 09:15:38')).toThrow(/ZonedTimestamp/);
  });
});

describe('dates and times of day', () => {
  it.each([
    [dateFromEpochDays(0n), '1970-01-01'],
    [dateFromEpochDays(-1n), '1969-12-31'],
    [dateFromEpochDays(20_781n), '2026-11-24'],
    [timeFromMicros(33_338_123_456n), '09:15:38.123456'],
    [timeFromMicros(86_400_000_000n), '24:00:00.000000'], // PostgreSQL allows 24:00
    [timeFromMillis(1n), '00:00:00.001000'],
    [timeFromNanos(33_338_123_456_789n), '09:15:38.123456789'],
  ])('%s', (actual, expected) => {
    expect(actual).toBe(expected);
  });
});
