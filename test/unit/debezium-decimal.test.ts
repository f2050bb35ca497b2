/**
 * NUMERIC encodings of every decimal.handling.mode, on values whose encodings are worked out by
 * hand (two's-complement big-endian bytes, as Java's BigInteger.toByteArray writes them).
 * The captured-message tests in debezium-decode.test.ts cover the same paths on real output.
 */
import { describe, expect, it } from 'vitest';
import {
  decimalFromBytes,
  decimalFromNumberText,
  decimalFromVariableScale,
  formatDecimal,
  unscaledFromBase64,
} from '../../consumers/core/debezium/decimal.js';

describe('unscaledFromBase64', () => {
  it.each([
    ['', 0n],
    ['AA==', 0n],
    ['AQ==', 1n],
    ['/w==', -1n], // 0xff
    ['AIA=', 128n], // 0x00 0x80: the leading zero byte keeps it positive
    ['gA==', -128n], // 0x80
    ['JiWg', 2_500_000n], // 0x26 0x25 0xa0
    ['AJvTCjxkWUPdFpCgOhQ=', 12345678901234567890123456789012n],
  ])('%s -> %s', (base64, expected) => {
    expect(unscaledFromBase64(base64)).toBe(expected);
  });

  it('rejects text that is not base64', () => {
    expect(() => unscaledFromBase64('25000.00')).toThrow(/not base64/);
  });
});

describe('formatDecimal', () => {
  it.each([
    [2_500_000n, 2, '25000.00'],
    [-5n, 3, '-0.005'],
    [5n, 1, '0.5'],
    [0n, 2, '0.00'],
    [123n, 0, '123'],
    [12n, -3, '12000'], // PostgreSQL 15 NUMERIC(2,-3)
    [12345678901234567890123456789012n, 2, '123456789012345678901234567890.12'],
  ])('%s scale %s -> %s', (unscaled, scale, expected) => {
    expect(formatDecimal(unscaled, scale)).toBe(expected);
  });
});

describe('decimalFromBytes (org.apache.kafka.connect.data.Decimal)', () => {
  it('applies the scale parameter exactly', () => {
    expect(decimalFromBytes('JiWg', '2')).toBe('25000.00');
    expect(decimalFromBytes('/w==', '2')).toBe('-0.01');
  });

  it('refuses a schema without an integer scale', () => {
    expect(() => decimalFromBytes('JiWg', undefined)).toThrow(/scale/);
    expect(() => decimalFromBytes('JiWg', 'two')).toThrow(/scale/);
  });
});

describe('decimalFromVariableScale (io.debezium.data.VariableScaleDecimal)', () => {
  it('uses the scale carried by the value', () => {
    expect(decimalFromVariableScale(3, 'JiWg')).toBe('2500.000');
    expect(decimalFromVariableScale(0, 'JiWg')).toBe('2500000');
  });
});

describe('decimalFromNumberText (decimal.handling.mode=double)', () => {
  it.each([
    ['25000.0', '25000.0'],
    ['1.0E10', '10000000000'],
    ['1E+2', '100'],
    ['-2.5e-7', '-0.00000025'],
    ['0', '0'],
  ])('%s -> %s', (text, expected) => {
    expect(decimalFromNumberText(text)).toBe(expected);
  });

  it('refuses non-numbers', () => {
    expect(() => decimalFromNumberText('NaN')).toThrow(/not a decimal number/);
  });
});
