import { describe, expect, it } from 'vitest';
import { rowVersion } from '../../consumers/core/change-event.js';
import { PermanentError } from '../../consumers/core/errors.js';
import { deletedDocument, documentId, externalVersion, keyOf, liveDocument, rowFromSource } from '../../consumers/elasticsearch/document.js';

describe('documentId', () => {
  it.each([
    [{ id: 42 }, '42'],
    [{ id: '9007199254740993' }, '9007199254740993'],
    [{ sku: 'SKU-1|A' }, 'SKU-1|A'],
    [{ order_id: 7, product_id: 3 }, '7|3'],
    [{ a: 'x|y', b: 'z' }, 'x\\|y|z'],
    [{ a: 'x', b: 'y|z' }, 'x|y\\|z'],
    [{ a: 'x\\', b: 'y' }, 'x\\\\|y'],
    [{ a: 'ü', b: '日本' }, 'ü|日本'],
  ])('%j -> %s', (key, id) => {
    expect(documentId(key)).toBe(id);
  });

  it('never gives two different composite keys the same id', () => {
    const keys = [{ a: 'x|y', b: 'z' }, { a: 'x', b: 'y|z' }, { a: 'x\\', b: '|z' }, { a: 'x\\|', b: 'z' }];
    expect(new Set(keys.map(documentId)).size).toBe(keys.length);
  });

  it('refuses an empty key and an id beyond 512 bytes, permanently', () => {
    expect(() => documentId({})).toThrow(PermanentError);
    expect(() => documentId({ id: 'é'.repeat(257) })).toThrow(/512 bytes/);
    expect(documentId({ id: 'é'.repeat(256) })).toHaveLength(256);
  });
});

describe('keyOf', () => {
  it('reads the key columns of a row, or null when one is missing', () => {
    expect(keyOf({ id: 5, name: 'x' }, { id: 6 })).toEqual({ id: 5 });
    expect(keyOf({ name: 'x' }, { id: 6 })).toBeNull();
  });
});

describe('externalVersion', () => {
  const streamed = (lsn: string) => rowVersion(lsn, false);
  it('maps snapshot rows to their LSN and streamed changes to 2^62 + LSN, exactly, also beyond 2^53', () => {
    expect(externalVersion(rowVersion('9007199254740993', true))).toBe('9007199254740993');
    expect(externalVersion(rowVersion('0', true))).toBe('0');
    expect(externalVersion(streamed('0'))).toBe('4611686018427387904');
    expect(externalVersion(streamed('9007199254740993'))).toBe('4620693217682128897');
    // The largest LSNs that fit: the streamed one is 2^63 - 1, the biggest long.
    expect(externalVersion(rowVersion('4611686018427387903', true))).toBe('4611686018427387903');
    expect(externalVersion(streamed('4611686018427387903'))).toBe('9223372036854775807');
  });
  it('keeps the order: every streamed change above every snapshot row, LSN order within each', () => {
    const versions = [rowVersion('5', true), rowVersion('900', true), streamed('3'), streamed('4')].map((v) => BigInt(externalVersion(v)));
    expect([...versions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(versions);
  });
  it.each([rowVersion('4611686018427387904', true), streamed('4611686018427387904'), streamed('18446744073709551615')])('refuses LSNs at or beyond 2^62 permanently, saying why (%s)', (version) => {
    expect(() => externalVersion(version)).toThrow(PermanentError);
    expect(() => externalVersion(version)).toThrow(/2\^62.*signed 64-bit/);
  });
  it.each(['-1', '12a', ''])('refuses %j permanently', (version) => {
    expect(() => externalVersion(version)).toThrow(PermanentError);
  });
});

describe('documents', () => {
  it('a live document is the row itself, exact strings kept', () => {
    const row = { id: 1, total_amount: '25000.00', notes: null, shipping_address: { city: 'Köln' } };
    expect(liveDocument(row)).toBe(row);
    expect(rowFromSource(row)).toEqual(row);
  });
  it('refuses a row with the reserved bookkeeping column', () => {
    expect(() => liveDocument({ id: 1, _cdc: 'x' })).toThrow(PermanentError);
  });
  it('a soft-delete marker reads back as no row', () => {
    const marker = deletedDocument('700', Date.UTC(2026, 2, 2, 8, 0, 0));
    expect(marker).toEqual({ _cdc: { deleted: true, lsn: '700', deleted_at: '2026-03-02T08:00:00.000Z' } });
    expect(rowFromSource(marker as unknown as Record<string, unknown>)).toBeNull();
    expect(rowFromSource(undefined)).toBeNull();
  });
});
