import { describe, expect, it } from 'vitest';
import { compareLsn, rowVersion } from '../../consumers/core/change-event.js';
import { fixtureEvent } from '../helpers/fixtures.js';

describe('rowVersion', () => {
  it('orders streamed changes by LSN', () => {
    expect(compareLsn(rowVersion('100', false), rowVersion('101', false))).toBeLessThan(0);
    expect(compareLsn(rowVersion('18446744073709551615', false), rowVersion('18446744073709551614', false))).toBeGreaterThan(0);
  });

  it('puts every snapshot row below every streamed change, whatever their LSNs', () => {
    // A transaction open across the snapshot's consistent point streams changes below it.
    const snapshotRow = rowVersion('5000000', true);
    const streamedBelow = rowVersion('4999000', false);
    expect(compareLsn(streamedBelow, snapshotRow)).toBeGreaterThan(0);
    expect(compareLsn(rowVersion('0', false), rowVersion('18446744073709551615', true))).toBeGreaterThan(0);
  });

  it('orders snapshot rows by LSN (a later re-snapshot wins)', () => {
    expect(compareLsn(rowVersion('200', true), rowVersion('300', true))).toBeLessThan(0);
  });

  it('refuses a negative LSN', () => {
    expect(() => rowVersion('-1', false)).toThrow(RangeError);
  });

  it('is what the decoder puts on real captured messages', () => {
    const snapshot = fixtureEvent('customers-snapshot-read');
    const streamed = fixtureEvent('customers-update');
    if (snapshot.op === 'tombstone' || streamed.op === 'tombstone') throw new Error('fixtures are row changes');
    expect(snapshot.source.version).toBe(snapshot.source.lsn);
    expect(streamed.source.version).toBe((BigInt(streamed.source.lsn) + (1n << 64n)).toString());
    expect(compareLsn(streamed.source.version, snapshot.source.version)).toBeGreaterThan(0);
  });
});

describe('compareLsn', () => {
  it.each([
    ['9', '10', -1],
    ['10', '9', 1],
    ['123', '123', 0],
    ['0', '1', -1],
    ['36893488147419103232', '36893488147419103231', 1], // beyond 2^65: no float rounding
    ['99999999999999999999', '100000000000000000000', -1],
    ['0012', '12', 0], // not canonical: compared as numbers (the BigInt path)
    ['0x10', '15', 1],
  ])('%s vs %s -> %i', (a, b, sign) => {
    expect(Math.sign(compareLsn(a, b))).toBe(sign);
  });
});
