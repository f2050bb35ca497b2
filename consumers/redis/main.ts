/**
 * consumer:redis — keeps the Redis hot cache equal to the captured tables (layout: key-layout.ts).
 * Group `cdc-redis`; its own variables are listed in redis-config.ts.
 */
import { runConsumer } from '../core/run-consumer.js';
import { redisConfigFromEnv } from './redis-config.js';
import { RedisSink } from './redis-sink.js';

await runConsumer({
  name: 'redis',
  createSink: (_config, logger) => new RedisSink({ ...redisConfigFromEnv(process.env), logger }),
});
