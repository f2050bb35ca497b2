/**
 * RedisSink: keeps the Redis hot cache (layout in key-layout.ts) equal to the newest state of
 * every captured row.
 *
 * Contract (see consumers/core/sink.ts):
 * - `write(events)` sends ONE pipeline per batch: runs of row changes go as EVALSHAs of the
 *   batch apply-change script (up to EVENTS_PER_CALL events per call), a TRUNCATE as an EVALSHA
 *   of the truncate script, in event order. The script applies each event atomically and only if
 *   its row version (`source.version`) is newer than what Redis holds for the row (or table), so
 *   replays, redeliveries, out-of-order events and snapshot rows read under a transaction that
 *   committed later never roll data back or duplicate a list entry.
 * - Results per event: `ok` when applied, `stale` when refused (Redis already holds that version
 *   or a newer one); tombstones are `ok` and change nothing; `retry` for anything transient (connection
 *   lost, Redis down or loading, timeout, OOM, script busy), in which case the runner backs off
 *   and sends the same events again; `failed` for data Redis can never store (bad key, malformed
 *   version or timestamp, non-integer stock, a key holding the wrong type).
 * - The sink never retries by itself: while Redis is down commands fail fast (no offline
 *   queue), and the ioredis client keeps reconnecting in the background.
 */
import { Redis, ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import type { ChangeEvent } from '../core/change-event.js';
import { PermanentError, RetriableError } from '../core/errors.js';
import { failed, ok, retry, stale, type Sink, type WriteResult } from '../core/sink.js';
import { APPLY_CHANGES_LUA } from './apply-change-script.js';
import { type KeyLayout, keyLayout } from './key-layout.js';
import { appendBatchArgs, batchHeader, buildTruncateCall, type ScriptSettings } from './script-call.js';
import { TRUNCATE_LUA } from './truncate-script.js';

export interface RedisSinkOptions {
  /** e.g. redis://127.0.0.1:6379 */
  readonly url: string;
  /** Prepended to every key; "" in production so `GET order:1` works, unique in tests. */
  readonly keyPrefix: string;
  readonly recentOrdersLength: number;
  /** Seconds a delete marker is kept; 0 = for good (the default, see redis-config.ts). */
  readonly deleteMarkerTtlSeconds: number;
  /** Row TTL in seconds per table name; tables not listed never expire. */
  readonly ttlSecondsByTable: Readonly<Record<string, number>>;
  /** A command with no reply after this long counts as transient failure. Default 10 s. */
  readonly commandTimeoutMs?: number;
  /** Told about connection trouble (the client reconnects by itself); e.g. the consumer's logger. */
  readonly logger?: Pick<Logger, 'warn'>;
}

/**
 * Checks Redis' eviction policy before the first write. Under allkeys-* Redis may evict ANY key
 * when memory runs out: a row's version in cdc:version or a delete marker, after which an older
 * replayed event overwrites newer data or resurrects a deleted row, silently. Those policies are
 * refused. volatile-* evicts only keys with a TTL (rows of tables with REDIS_TTL_*, and delete
 * markers if REDIS_DELETE_MARKER_TTL_SECONDS is set): allowed, with a warning about the markers.
 * noeviction (Redis' default) makes writes fail with OOM when full, which the runner retries.
 * If CONFIG is not allowed (some managed services), the check is skipped with a warning.
 */
export async function checkEvictionPolicy(redis: Redis, options: Pick<RedisSinkOptions, 'deleteMarkerTtlSeconds' | 'logger'>): Promise<void> {
  let policy: string | undefined;
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1];
  } catch (error) {
    options.logger?.warn({ err: error }, 'cannot read maxmemory-policy (CONFIG not allowed?): make sure Redis never evicts keys of this cache (noeviction)');
    return;
  }
  if (policy?.startsWith('allkeys-')) {
    throw new PermanentError(
      `Redis maxmemory-policy is ${policy}: when memory runs out Redis would evict any key, including the row versions ` +
        '(cdc:version) and delete markers that keep older events from overwriting newer data or resurrecting deleted rows. ' +
        'Set maxmemory-policy noeviction (writes then fail and are retried until memory is freed), or give Redis more memory',
    );
  }
  if (policy?.startsWith('volatile-') && options.deleteMarkerTtlSeconds > 0) {
    options.logger?.warn(
      { policy },
      'maxmemory-policy may evict delete markers (they have a TTL) before it ends; a replay could then resurrect deleted rows',
    );
  }
}

/** Reply error codes that mean "Redis cannot do it right now", not "this event is bad". */
const TRANSIENT_REPLY_CODES = new Set([
  'LOADING', 'BUSY', 'OOM', 'READONLY', 'MASTERDOWN', 'TRYAGAIN', 'NOSCRIPT', 'CLUSTERDOWN',
  'MOVED', 'ASK', 'NOREPLICAS', 'MISCONF', 'UNBLOCKED',
]);

/** Maps a per-command error to a result: reply errors about the data are permanent, the rest transient. */
export function resultForError(error: Error): WriteResult {
  if (error instanceof ReplyError) {
    const code = error.message.split(' ', 1)[0] ?? '';
    if (!TRANSIENT_REPLY_CODES.has(code)) {
      return failed(new PermanentError(`Redis refused the event: ${error.message}`, { cause: error }));
    }
  }
  return retry(new RetriableError(`Redis write did not complete: ${error.message}`, { cause: error }));
}

/**
 * Most row changes per script call: one call holds Redis for about 40 µs per event, so 100 keep
 * every call near 4 ms while the per-command cost (client and server) is shared by 100 events.
 */
export const EVENTS_PER_CALL = 100;

/**
 * One event's answer from a script: "applied" (or the truncate script's count of removed rows) is
 * `ok`, "stale" is `stale`, "!<error>" an error reply.
 */
export function resultForScriptReply(reply: unknown): WriteResult {
  if (reply === undefined || reply === null) return retry(new RetriableError('Redis sent no result for this event'));
  if (typeof reply === 'string' && reply.startsWith('!')) return resultForError(new ReplyError(reply.slice(1)));
  return reply === 'stale' ? stale : ok;
}

/** The ioredis client with the scripts registered as commands (EVALSHA, EVAL on first use). */
type ScriptedRedis = Redis & {
  applyChanges(...args: string[]): Promise<string[]>;
  truncateTable(...keysAndArgs: string[]): Promise<string | number>;
};

export class RedisSink implements Sink {
  readonly name = 'redis';
  readonly keys: KeyLayout;
  private readonly redis: ScriptedRedis;
  private readonly settings: ScriptSettings;
  private closed = false;

  constructor(private readonly options: RedisSinkOptions) {
    this.keys = keyLayout(options.keyPrefix);
    this.settings = {
      keys: this.keys,
      ttlSecondsByTable: options.ttlSecondsByTable,
      deleteMarkerTtlSeconds: options.deleteMarkerTtlSeconds,
      recentOrdersLength: options.recentOrdersLength,
    };
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      // Fail fast while Redis is away: the runner owns retrying (with backoff and heartbeats),
      // so commands must not pile up in a client-side queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 10_000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    }) as ScriptedRedis;
    // ioredis sends EVAL the first time per connection and EVALSHA afterwards (and again EVAL
    // after a NOSCRIPT, e.g. when Redis restarted and lost its script cache).
    this.redis.defineCommand('applyChanges', { numberOfKeys: 0, lua: APPLY_CHANGES_LUA });
    this.redis.defineCommand('truncateTable', { numberOfKeys: 2, lua: TRUNCATE_LUA });
    // Connection errors also surface as per-event `retry` results; a listener keeps them from
    // crashing the process as unhandled 'error' events while the client reconnects.
    this.redis.on('error', (error: Error) => options.logger?.warn({ err: error }, 'redis connection error'));
  }

  async start(): Promise<void> {
    await this.redis.connect();
    await checkEvictionPolicy(this.redis, this.options);
    // Compiles the scripts once at start-up, so a broken script stops the consumer right away.
    await this.redis.script('LOAD', APPLY_CHANGES_LUA);
    await this.redis.script('LOAD', TRUNCATE_LUA);
  }

  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    const results: WriteResult[] = new Array(events.length);
    const pipeline = this.redis.pipeline() as unknown as ScriptedRedis & { exec(): Promise<[Error | null, unknown][] | null> };
    /** Per pipelined command, the events it carries, in order. */
    const calls: number[][] = [];
    const header = batchHeader(this.settings);
    let batchArgs: string[] = [...header];
    let batchEvents: number[] = [];
    const flushBatch = () => {
      if (batchEvents.length === 0) return;
      pipeline.applyChanges(...batchArgs);
      calls.push(batchEvents);
      batchArgs = [...header];
      batchEvents = [];
    };

    events.forEach((event, index) => {
      if (event.op === 'tombstone') {
        results[index] = ok; // The delete before it already removed the row.
        return;
      }
      try {
        if (event.op === 'truncate') {
          const call = buildTruncateCall(event, this.settings);
          flushBatch(); // in order: the rows before the TRUNCATE go first
          pipeline.truncateTable(...call.keys, ...call.args);
          calls.push([index]);
        } else {
          appendBatchArgs(batchArgs, event, this.settings);
          batchEvents.push(index);
          if (batchEvents.length >= EVENTS_PER_CALL) flushBatch();
        }
      } catch (error) {
        results[index] = error instanceof PermanentError
          ? failed(error)
          : failed(new PermanentError(`cannot build the Redis write: ${String(error)}`, { cause: error }));
      }
    });
    flushBatch();
    if (calls.length === 0) return results;

    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      replies = null;
      const failure = retry(new RetriableError('Redis pipeline failed', { cause: error }));
      for (const call of calls) for (const index of call) results[index] = failure;
    }
    if (replies) {
      calls.forEach((call, callIndex) => {
        const reply = replies[callIndex];
        if (!reply) {
          const failure = retry(new RetriableError('Redis sent no reply for these events'));
          for (const index of call) results[index] = failure;
          return;
        }
        const [error, value] = reply;
        if (error) {
          const failure = resultForError(error);
          for (const index of call) results[index] = failure;
          return;
        }
        // The truncate script answers with one value; the batch script with one string per event.
        const perEvent = Array.isArray(value) ? value : [value];
        call.forEach((eventIndex, position) => {
          results[eventIndex] = resultForScriptReply(perEvent[position]);
        });
      });
    }
    return results;
  }

  async isReady(): Promise<boolean> {
    if (this.closed || this.redis.status !== 'ready') return false;
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.redis.quit();
    } catch {
      // Not connected (or the connection broke): nothing left to flush, just drop it.
      this.redis.disconnect();
    }
  }
}
