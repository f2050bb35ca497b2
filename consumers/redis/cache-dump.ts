/**
 * A full, comparable snapshot of every key under a prefix: type and value, in key order. Used
 * to prove that a replay leaves the cache byte-for-byte identical, and handy for debugging
 * (`npx tsx -e` with it). TTLs are left out on purpose: they tick down between two dumps.
 */
import type { Redis } from 'ioredis';

export type DumpedValue =
  | { type: 'string'; value: string }
  | { type: 'list'; value: string[] }
  | { type: 'set'; value: string[] }
  | { type: 'zset'; value: string[] }
  | { type: 'hash'; value: Record<string, string> };

/** Every key whose name starts with `prefix` ("" = the whole database), with its value. */
export async function dumpCache(redis: Redis, prefix: string): Promise<Record<string, DumpedValue>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  keys.sort();

  const dump: Record<string, DumpedValue> = {};
  for (const key of keys) {
    const type = await redis.type(key);
    switch (type) {
      case 'string': dump[key] = { type, value: (await redis.get(key)) ?? '' }; break;
      case 'list': dump[key] = { type, value: await redis.lrange(key, 0, -1) }; break;
      case 'set': dump[key] = { type, value: (await redis.smembers(key)).sort() }; break;
      // Members with scores, in score order: the order is part of what must be identical.
      case 'zset': dump[key] = { type, value: await redis.zrange(key, 0, -1, 'WITHSCORES') }; break;
      case 'hash': dump[key] = { type, value: await redis.hgetall(key) }; break;
      case 'none': break; // expired between SCAN and TYPE
      default: throw new Error(`unexpected Redis type ${type} at ${key}`);
    }
  }
  return dump;
}

/** Deletes every key under a non-empty prefix (test clean-up). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  if (prefix === '') throw new Error('refusing to delete every key: give a prefix');
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
    if (batch.length > 0) deleted += await redis.unlink(...batch);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
