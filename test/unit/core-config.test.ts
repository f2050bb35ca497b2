import { describe, expect, it } from 'vitest';
import { ConfigError, envReader, loadConfig } from '../../consumers/core/config.js';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('gives every consumer its own group, DLQ topic and health port', () => {
    const config = loadConfig('warehouse', {});
    expect(config).toMatchObject({
      consumer: 'warehouse',
      kafka: { brokers: ['127.0.0.1:9092'], clientId: 'cdc-warehouse' },
      topicPrefix: 'ecommerce',
      tables: ['customers', 'products', 'orders', 'order_items'],
      topics: ['ecommerce.public.customers', 'ecommerce.public.products', 'ecommerce.public.orders', 'ecommerce.public.order_items'],
      groupId: 'cdc-warehouse',
      fromBeginning: true,
      partitionsConcurrency: 3,
      deadLetterTopic: 'ecommerce.dlq.warehouse',
      healthPort: 9103,
      logLevel: 'info',
      laneStuckAfterMs: 30_000,
      session: { timeoutMs: 45_000, heartbeatIntervalMs: 3_000 },
    });
    expect(loadConfig('elasticsearch', {}).healthPort).toBe(9101);
    expect(loadConfig('redis', {}).healthPort).toBe(9102);
    expect(loadConfig('notification', {}).healthPort).toBe(9104);
  });

  it('is frozen all the way down', () => {
    const config = loadConfig('redis', {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.topics)).toBe(true);
    expect(Object.isFrozen(config.retry)).toBe(true);
  });

  it('reads overrides, per-consumer variables winning over shared ones', () => {
    const config = loadConfig('redis', {
      KAFKA_BROKERS: ' kafka-1:9092, kafka-2:9093 ',
      TOPIC_PREFIX: 'shop',
      TABLES: 'orders,inventory.stock',
      CONSUMER_GROUP: 'shared-group',
      REDIS_CONSUMER_GROUP: 'redis-group',
      HEALTH_PORT: '9999',
      FROM_BEGINNING: 'no',
      LOG_LEVEL: 'debug',
      RETRY_INITIAL_MS: '50',
      RETRY_MAX_MS: '1000',
    });
    expect(config.kafka.brokers).toEqual(['kafka-1:9092', 'kafka-2:9093']);
    expect(config.topics).toEqual(['shop.public.orders', 'shop.inventory.stock']);
    expect(config.groupId).toBe('redis-group');
    expect(config.healthPort).toBe(9999);
    expect(config.deadLetterTopic).toBe('shop.dlq.redis');
    expect(config.fromBeginning).toBe(false);
    expect(config.logLevel).toBe('debug');
    expect(config.retry).toEqual({ initialMs: 50, maxMs: 1000 });
  });

  it('treats empty values as unset', () => {
    expect(loadConfig('redis', { PARTITIONS_CONCURRENCY: '', TOPIC_PREFIX: '  ' })).toMatchObject({ partitionsConcurrency: 3, topicPrefix: 'ecommerce' });
  });
});

describe('loadConfig fetch settings', () => {
  it('default to answering a fetch at once and long-polling at most 500 ms', () => {
    const config = loadConfig('redis', {});
    expect(config.fetchMinBytes).toBe(1);
    expect(config.fetchMaxWaitMs).toBe(500);
  });

  it('read FETCH_MIN_BYTES and FETCH_MAX_WAIT_MS', () => {
    const config = loadConfig('redis', { FETCH_MIN_BYTES: '65536', FETCH_MAX_WAIT_MS: '100' });
    expect(config.fetchMinBytes).toBe(65536);
    expect(config.fetchMaxWaitMs).toBe(100);
  });
});

describe('loadConfig errors name the variable and what is expected', () => {
  const cases: [string, Record<string, string>, string, RegExp][] = [
    ['integer', { PARTITIONS_CONCURRENCY: 'three' }, 'PARTITIONS_CONCURRENCY', /PARTITIONS_CONCURRENCY="three" is invalid: expected an integer from 1 to 256/],
    ['out of range', { PARTITIONS_CONCURRENCY: '0' }, 'PARTITIONS_CONCURRENCY', /expected an integer from 1 to 256/],
    ['boolean', { FROM_BEGINNING: 'maybe' }, 'FROM_BEGINNING', /FROM_BEGINNING="maybe" is invalid: expected true or false/],
    ['broker', { KAFKA_BROKERS: 'localhost' }, 'KAFKA_BROKERS', /"localhost" is invalid: expected host:port/],
    ['log level', { LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /expected one of fatal, error, warn, info, debug, trace, silent/],
    ['per-consumer port', { WAREHOUSE_HEALTH_PORT: '70000' }, 'WAREHOUSE_HEALTH_PORT', /WAREHOUSE_HEALTH_PORT="70000" is invalid: expected an integer from 0 to 65535/],
    ['retry order', { RETRY_INITIAL_MS: '5000', RETRY_MAX_MS: '100' }, 'RETRY_MAX_MS', /expected at least RETRY_INITIAL_MS \(5000\)/],
    ['fetch wait', { FETCH_MAX_WAIT_MS: '0' }, 'FETCH_MAX_WAIT_MS', /FETCH_MAX_WAIT_MS="0" is invalid: expected an integer from 1 to 60000/],
    ['fetch min bytes', { FETCH_MIN_BYTES: 'lots' }, 'FETCH_MIN_BYTES', /FETCH_MIN_BYTES="lots" is invalid/],
    ['session below the broker minimum', { KAFKA_SESSION_TIMEOUT_MS: '5000' }, 'KAFKA_SESSION_TIMEOUT_MS', /expected an integer from 6000 to 1800000/],
    ['heartbeat too slow for the session', { KAFKA_SESSION_TIMEOUT_MS: '9000', KAFKA_HEARTBEAT_INTERVAL_MS: '4000' }, 'KAFKA_HEARTBEAT_INTERVAL_MS', /at most a third of KAFKA_SESSION_TIMEOUT_MS \(9000\)/],
  ];
  it.each(cases)('%s', (_label, env, variable, message) => {
    const error = configError(() => loadConfig('warehouse', env));
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
  });

  it('requires a health port for a consumer the project does not know', () => {
    const error = configError(() => loadConfig('audit', {}));
    expect(error.variable).toBe('AUDIT_HEALTH_PORT');
    expect(error.message).toBe('AUDIT_HEALTH_PORT (or HEALTH_PORT) is required: expected an integer from 0 to 65535');
    expect(loadConfig('audit', {}, { healthPort: 9105 }).healthPort).toBe(9105);
  });
});

describe('envReader (for sinks)', () => {
  const env = envReader({ REDIS_URL: 'http://nope', ES_URL: 'http://127.0.0.1:9200', SIZES: 'a,,b', FLAG: 'ON' });

  it('returns defaults and parsed values', () => {
    expect(env.string('MISSING', 'fallback')).toBe('fallback');
    expect(env.url('ES_URL', undefined, ['http:', 'https:'])).toBe('http://127.0.0.1:9200');
    expect(env.list('SIZES')).toEqual(['a', 'b']);
    expect(env.bool('FLAG')).toBe(true);
    expect(env.oneOf('MISSING', ['a', 'b'] as const, 'b')).toBe('b');
  });

  it('rejects a URL with the wrong protocol, naming it', () => {
    const error = configError(() => env.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']));
    expect(error.message).toBe('REDIS_URL="http://nope" is invalid: expected a URL starting with redis:// or rediss://');
  });

  it('says a required variable is missing', () => {
    const error = configError(() => env.string('MONGODB_URL'));
    expect(error.variable).toBe('MONGODB_URL');
    expect(error.message).toBe('MONGODB_URL is required: expected a non-empty string');
  });
});
