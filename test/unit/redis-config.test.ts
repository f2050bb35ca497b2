import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../consumers/core/config.js';
import { redisConfigFromEnv } from '../../consumers/redis/redis-config.js';

describe('redisConfigFromEnv', () => {
  it('has the documented defaults', () => {
    expect(redisConfigFromEnv({})).toEqual({
      url: 'redis://127.0.0.1:6379',
      keyPrefix: '',
      recentOrdersLength: 100,
      // Delete markers are kept: a replay (from a topic or the dead-letter topic) can come any time.
      deleteMarkerTtlSeconds: 0,
      ttlSecondsByTable: {},
    });
  });

  it('reads per-table TTLs; 0 means none', () => {
    const config = redisConfigFromEnv({
      REDIS_TTL_CUSTOMERS_SECONDS: '3600',
      REDIS_TTL_ORDER_ITEMS_SECONDS: '60',
      REDIS_TTL_ORDERS_SECONDS: '0',
      REDIS_KEY_PREFIX: 'shop:',
      REDIS_RECENT_ORDERS_LENGTH: '20',
    });
    expect(config.ttlSecondsByTable).toEqual({ customers: 3600, order_items: 60 });
    expect(config.keyPrefix).toBe('shop:');
    expect(config.recentOrdersLength).toBe(20);
  });

  it.each([
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['REDIS_RECENT_ORDERS_LENGTH', '0'],
    ['REDIS_DELETE_MARKER_TTL_SECONDS', 'a day'],
    ['REDIS_TTL_PRODUCTS_SECONDS', '-5'],
  ])('stops on a bad %s naming the variable', (name, value) => {
    let thrown: unknown;
    try {
      redisConfigFromEnv({ [name]: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(name);
  });
});
