import { errors } from '@elastic/elasticsearch';
import { describe, expect, it } from 'vitest';
import { externalIndexOperation, splitIntoBulks } from '../../consumers/elasticsearch/bulk-body.js';
import { resultForBulkItem, resultForRequestError, worstOf } from '../../consumers/elasticsearch/bulk-results.js';
import { failed, ok, retry, stale } from '../../consumers/core/sink.js';

describe('externalIndexOperation', () => {
  it('writes the version as exact digits and the row as JSON', () => {
    const operation = externalIndexOperation(3, 'orders_v1', '7', '9007199254740993', { id: 7, total_amount: '25000.00', notes: 'naïve ☕' });
    const [action, source, rest] = operation.ndjson.split('\n');
    expect(action).toBe('{"index":{"_index":"orders_v1","_id":"7","version":9007199254740993,"version_type":"external"}}');
    expect(JSON.parse(source!)).toEqual({ id: 7, total_amount: '25000.00', notes: 'naïve ☕' });
    expect(rest).toBe('');
    expect(operation.owner).toBe(3);
    expect(operation.bytes).toBe(Buffer.byteLength(operation.ndjson));
  });
  it('escapes ids', () => {
    const operation = externalIndexOperation(0, 'x', 'a"b\\|c', '1', {});
    expect(JSON.parse(operation.ndjson.split('\n')[0]!).index._id).toBe('a"b\\|c');
  });
  it('refuses a version that is not digits', () => {
    expect(() => externalIndexOperation(0, 'x', '1', '1e3', {})).toThrow();
  });
});

describe('splitIntoBulks', () => {
  const ops = (...sizes: number[]) => sizes.map((bytes, index) => ({ bytes, index }));
  const shape = (bulks: { index: number }[][]) => bulks.map((bulk) => bulk.map((op) => op.index));

  it.each([
    ['fits in one', ops(10, 10, 10), { maxDocs: 10, maxBytes: 100 }, [[0, 1, 2]]],
    ['by count', ops(1, 1, 1, 1, 1), { maxDocs: 2, maxBytes: 100 }, [[0, 1], [2, 3], [4]]],
    ['by bytes', ops(40, 40, 40, 10), { maxDocs: 100, maxBytes: 90 }, [[0, 1], [2, 3]]],
    ['exactly at the byte limit', ops(45, 45, 1), { maxDocs: 100, maxBytes: 90 }, [[0, 1], [2]]],
    ['an oversized one goes alone', ops(10, 500, 10), { maxDocs: 100, maxBytes: 90 }, [[0], [1], [2]]],
    ['nothing', ops(), { maxDocs: 1, maxBytes: 1 }, []],
  ])('%s', (_name, operations, limits, expected) => {
    const bulks = splitIntoBulks(operations, limits);
    expect(shape(bulks)).toEqual(expected);
    expect(bulks.flat()).toEqual(operations); // order kept, nothing lost
  });
});

describe('resultForBulkItem', () => {
  it.each([
    [{ status: 201 }, 'ok'],
    [{ status: 200 }, 'ok'],
    [{ status: 409, error: { type: 'version_conflict_engine_exception', reason: 'current version [5] is higher' } }, 'stale'],
    [{ status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } }, 'retry'],
    [{ status: 503, error: { type: 'unavailable_shards_exception', reason: 'primary shard is not active' } }, 'retry'],
    [{ status: 500 }, 'retry'],
    [{ status: 404, error: { type: 'index_not_found_exception', reason: 'no such index' } }, 'retry'],
    [{ status: 400, error: { type: 'document_parsing_exception', reason: 'failed to parse field [created_at]', caused_by: { type: 'illegal_argument_exception', reason: 'bad date' } } }, 'failed'],
    [{ status: 400, error: { type: 'mapper_parsing_exception', reason: 'x' } }, 'failed'],
  ])('%j -> %s', (item, status) => {
    const result = resultForBulkItem(item);
    expect(result.status === 'ok' && result.stale ? 'stale' : result.status).toBe(status);
  });

  it('says why a document was refused', () => {
    const result = resultForBulkItem({ status: 400, error: { type: 'document_parsing_exception', reason: 'failed to parse field [created_at]', caused_by: { type: 'illegal_argument_exception', reason: 'bad date' } } });
    expect(result.status === 'failed' && result.error.message).toMatch(/HTTP 400.*document_parsing_exception.*created_at.*bad date/);
  });
});

describe('resultForRequestError', () => {
  const response = (statusCode: number) =>
    new errors.ResponseError({ body: { error: { type: 'x' } }, statusCode, headers: {}, warnings: null, meta: {} as never });

  it.each([
    [new errors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200'), 'retry'],
    [new errors.TimeoutError('Request timed out'), 'retry'],
    [new errors.NoLivingConnectionsError('no living connections', {} as never), 'retry'],
    [response(503), 'retry'],
    [response(429), 'retry'],
    [response(401), 'retry'],
    [response(403), 'retry'],
    [response(413), 'failed'],
    [response(400), 'failed'],
    [new Error('socket hang up'), 'retry'],
  ])('%s -> %s', (error, status) => {
    expect(resultForRequestError(error).status).toBe(status);
  });
});

describe('worstOf', () => {
  it('retry beats failed beats ok', () => {
    const r = retry(new Error('r'));
    const f = failed(new Error('f'));
    expect(worstOf(ok, f)).toBe(f);
    expect(worstOf(f, ok)).toBe(f);
    expect(worstOf(f, r)).toBe(r);
    expect(worstOf(r, f)).toBe(r);
    expect(worstOf(ok, ok)).toBe(ok);
  });

  it('two oks are stale only when both writes were refused', () => {
    expect(worstOf(stale, stale)).toBe(stale);
    expect(worstOf(stale, ok)).toBe(ok);
    expect(worstOf(ok, stale)).toBe(ok);
    const f = failed(new Error('f'));
    expect(worstOf(stale, f)).toBe(f);
  });
});
