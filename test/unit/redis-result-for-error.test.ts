import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { PermanentError, RetriableError } from '../../consumers/core/errors.js';
import { resultForError, resultForScriptReply } from '../../consumers/redis/redis-sink.js';

describe('resultForError: what a per-event Redis error means', () => {
  it.each([
    'BADEVENT stock_quantity is not an integer: lots',
    'WRONGTYPE Operation against a key holding the wrong kind of value',
    'ERR user_script:12: Script attempted to access nonexistent global variable',
  ])('%s -> failed (the same event fails the same way every time)', (message) => {
    const result = resultForError(new ReplyError(message));
    expect(result.status).toBe('failed');
    expect(result.status === 'failed' && result.error).toBeInstanceOf(PermanentError);
    expect(result.status === 'failed' && result.error.message).toContain(message);
  });

  it.each([
    'LOADING Redis is loading the dataset in memory',
    'BUSY Redis is busy running a script',
    "OOM command not allowed when used memory > 'maxmemory'.",
    'NOSCRIPT No matching script. Please use EVAL.',
    'READONLY You can\'t write against a read only replica.',
    'MASTERDOWN Link with MASTER is down',
  ])('%s -> retry (Redis cannot do it right now)', (message) => {
    const result = resultForError(new ReplyError(message));
    expect(result.status).toBe('retry');
    expect(result.status === 'retry' && result.error).toBeInstanceOf(RetriableError);
  });

  it.each(['Connection is closed.', 'Command timed out', "Stream isn't writeable and enableOfflineQueue options is false"])(
    'a client-side error (%s) -> retry',
    (message) => {
      expect(resultForError(new Error(message)).status).toBe('retry');
    },
  );
});

describe('resultForScriptReply: one event\'s answer from the batch script', () => {
  it('applied and stale are ok (stale: Redis already holds something newer)', () => {
    expect(resultForScriptReply('applied').status).toBe('ok');
    expect(resultForScriptReply('stale').status).toBe('ok');
  });
  it('an error answer is judged like an error reply', () => {
    expect(resultForScriptReply('!BADEVENT row is not a JSON object').status).toBe('failed');
    expect(resultForScriptReply('!WRONGTYPE Operation against a key holding the wrong kind of value').status).toBe('failed');
    expect(resultForScriptReply("!OOM command not allowed when used memory > 'maxmemory'.").status).toBe('retry');
  });
  it('no answer for the event is retry, never ok', () => {
    expect(resultForScriptReply(undefined).status).toBe('retry');
    expect(resultForScriptReply(null).status).toBe('retry');
  });
});
