/**
 * The Redis consumer, importable without starting it: main.ts runs it, and the operator tools
 * (`npm run dlq -- replay`, the pipeline page's replay button) build the same sink from it to
 * write a dead letter back through this consumer's own code. Group `cdc-redis`; the sink's own
 * variables are listed in redis-config.ts.
 */
import type { ConsumerDefinition } from '../core/run-consumer.js';
import { redisConfigFromEnv } from './redis-config.js';
import { RedisSink } from './redis-sink.js';

export const definition: ConsumerDefinition = {
  name: 'redis',
  defaultHealthPort: 9102,
  createSink: (_config, logger) => new RedisSink({ ...redisConfigFromEnv(process.env), logger }),
};
