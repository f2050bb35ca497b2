/**
 * The Redis consumer's own variables (the common ones are in consumers/core/config.ts), parsed
 * once at start-up; a bad value stops the process with a message naming the variable.
 *
 *   REDIS_URL                        redis://127.0.0.1:6379
 *   REDIS_KEY_PREFIX                 "" (keys are exactly order:1, recent_orders, ...)
 *   REDIS_RECENT_ORDERS_LENGTH       100     length of the recent_orders list
 *   REDIS_DELETE_MARKER_TTL_SECONDS  0       how long a delete keeps late older events out; 0 = for good
 *                                            (see README: set it only above the retention of every
 *                                            captured topic and the dead-letter topic)
 *   REDIS_TTL_<TABLE>_SECONDS        unset   optional row TTL per table, e.g. REDIS_TTL_CUSTOMERS_SECONDS=3600
 */
import { envReader } from '../core/config.js';
import type { RedisSinkOptions } from './redis-sink.js';

const TTL_VARIABLE = /^REDIS_TTL_([A-Z0-9_]+)_SECONDS$/;

export function redisConfigFromEnv(env: NodeJS.ProcessEnv | Record<string, string | undefined>): RedisSinkOptions {
  const read = envReader(env);
  const ttlSecondsByTable: Record<string, number> = {};
  for (const name of Object.keys(env).sort()) {
    const match = TTL_VARIABLE.exec(name);
    if (!match) continue;
    // 0 (or empty) means "no TTL", like leaving the variable out.
    const seconds = read.int(name, 0, { min: 0, max: 2_147_483_647 });
    if (seconds > 0) ttlSecondsByTable[match[1]!.toLowerCase()] = seconds;
  }
  return Object.freeze({
    url: read.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    keyPrefix: read.string('REDIS_KEY_PREFIX', ''),
    recentOrdersLength: read.int('REDIS_RECENT_ORDERS_LENGTH', 100, { min: 1, max: 100_000 }),
    // A replay can bring an older event back as long as a topic (or the dead-letter topic) holds
    // it, so by default the marker is kept for good (see the README on bounding it).
    deleteMarkerTtlSeconds: read.int('REDIS_DELETE_MARKER_TTL_SECONDS', 0, { min: 0, max: 2_147_483_647 }),
    ttlSecondsByTable: Object.freeze(ttlSecondsByTable),
  });
}
