/**
 * Credentials inside URLs never reach a log line, an error message or a dead-letter header: one
 * helper (consumers/core/mask-credentials.ts) masks them, and the logger, describeError and the
 * configuration errors use it.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../consumers/core/config.js';
import { describeError } from '../../consumers/core/errors.js';
import { createLogger } from '../../consumers/core/logger.js';
import { maskUrlCredentials } from '../../consumers/core/mask-credentials.js';
import { redisConfigFromEnv } from '../../consumers/redis/redis-config.js';

describe('maskUrlCredentials', () => {
  it.each([
    ['postgres://postgres:s3cret@127.0.0.1:5432/ecommerce', 'postgres://postgres:***@127.0.0.1:5432/ecommerce'],
    ['redis://:hunter2@cache.internal:6379/0', 'redis://:***@cache.internal:6379/0'],
    ['mongodb://admin:admin123@mongo:27017/?authSource=admin', 'mongodb://admin:***@mongo:27017/?authSource=admin'],
    ['connect to https://elastic:p%40ss:w0rd@es.example.com:9200 failed', 'connect to https://elastic:***@es.example.com:9200 failed'],
    ['two: amqp://a:b@h1 and smtp://user:pw@mail:25.', 'two: amqp://a:***@h1 and smtp://user:***@mail:25.'],
  ])('%s', (text, masked) => {
    expect(maskUrlCredentials(text)).toBe(masked);
  });

  it.each([
    'http://127.0.0.1:9200/_bulk',
    'redis://127.0.0.1:6379',
    'user@example.com wrote at 10:15',
    'topic ecommerce.public.orders partition 1 offset 42',
  ])('leaves text without URL credentials alone: %s', (text) => {
    expect(maskUrlCredentials(text)).toBe(text);
  });
});

describe('where credentials could leak', () => {
  it('log messages, fields and errors', () => {
    const lines: string[] = [];
    const destination = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
    const logger = createLogger({ consumer: 'redis', level: 'info', destination });
    logger.info({ url: 'redis://:hunter2@cache:6379', nested: { dsn: 'postgres://u:s3cret@db/x' } }, 'connecting to mongodb://admin:admin123@mongo:27017');
    logger.error({ err: new Error('ECONNREFUSED postgres://u:s3cret@db:5432/x') }, 'failed');
    const text = lines.join('');
    expect(text).toContain('redis://:***@cache:6379');
    expect(text).not.toMatch(/hunter2|s3cret|admin123/);
  });

  it('describeError (logs and dead-letter headers)', () => {
    const error = new Error('outer https://elastic:changeme@es:9200', { cause: new Error('inner redis://:hunter2@cache') });
    expect(describeError(error)).toBe('Error: outer https://elastic:***@es:9200 <- Error: inner redis://:***@cache');
  });

  it('configuration errors that quote a bad value', () => {
    let thrown: unknown;
    try {
      redisConfigFromEnv({ REDIS_URL: 'http://:hunter2@cache:6379' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toContain('http://:***@cache:6379');
    expect((thrown as Error).message).not.toContain('hunter2');
  });
});

describe('health server address', () => {
  it('binds loopback by default; HEALTH_HOST (or <CONSUMER>_HEALTH_HOST) opens it up', () => {
    expect(loadConfig('redis', {}).healthHost).toBe('127.0.0.1');
    expect(loadConfig('redis', { HEALTH_HOST: '0.0.0.0' }).healthHost).toBe('0.0.0.0');
    expect(loadConfig('redis', { HEALTH_HOST: '0.0.0.0', REDIS_HEALTH_HOST: '::1' }).healthHost).toBe('::1');
  });
});
