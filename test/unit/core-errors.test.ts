import { describe, expect, it } from 'vitest';
import { classifyError, describeError, PermanentError, resultForError, RetriableError } from '../../consumers/core/errors.js';

describe('classifyError', () => {
  it.each<[string, unknown, 'retriable' | 'permanent']>([
    ['PermanentError', new PermanentError('bad row'), 'permanent'],
    ['RetriableError', new RetriableError('timeout'), 'retriable'],
    ['wrapped permanent', new Error('outer', { cause: new PermanentError('inner') }), 'permanent'],
    ['connection refused', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), 'retriable'],
    ['HTTP 429', Object.assign(new Error('too many'), { statusCode: 429 }), 'retriable'],
    ['HTTP 503', Object.assign(new Error('unavailable'), { statusCode: 503 }), 'retriable'],
    ['HTTP 400', Object.assign(new Error('mapper_parsing_exception'), { statusCode: 400 }), 'permanent'],
    ['kafkajs retriable flag false', Object.assign(new Error('x'), { retriable: false }), 'permanent'],
    ['unknown error', new Error('who knows'), 'retriable'],
    ['not even an error', 'oops', 'retriable'],
  ])('%s', (_label, error, kind) => {
    expect(classifyError(error)).toBe(kind);
  });

  it('turns a caught error into the matching write result', () => {
    expect(resultForError(new PermanentError('bad'))).toMatchObject({ status: 'failed' });
    expect(resultForError(new RetriableError('later'))).toMatchObject({ status: 'retry' });
  });

  it('describes the cause chain on one line', () => {
    expect(describeError(new RetriableError('write failed', { cause: new Error('socket hang up') }))).toBe('RetriableError: write failed <- Error: socket hang up');
  });
});
