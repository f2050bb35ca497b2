/**
 * ContactsSink: the customers topic -> the contacts in Redis (contacts-store.ts).
 *
 * It runs as its own pipeline (a second Runner in the notification process, consumer group
 * `cdc-notification-contacts`), not inside the notification sink: an order whose customer is not
 * known yet makes the notification sink retry, and a retrying partition holds up every fetch of
 * its Kafka consumer (kafkajs fetches again only once every batch handed over is done). Were the
 * contacts fed by the same consumer, the customer that the order waits for could not arrive.
 *
 * Contract (consumers/core/sink.ts): snapshot rows, inserts, updates and deletes of customers are
 * applied if newer by `source.version` (`stale` otherwise); tombstones and TRUNCATEs are `ok` and
 * change nothing (contacts are only ever needed for rows that exist); a change Redis could not
 * take is `retry`; a malformed key is `failed`.
 */
import { Redis } from 'ioredis';
import type { ChangeEvent, RowChangeEvent } from '../core/change-event.js';
import { RetriableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { failed, ok, retry, stale, type Sink, type WriteResult } from '../core/sink.js';
import { ContactsStore, customerIdOf } from './contacts-store.js';

export interface ContactsSinkOptions {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly ttlSeconds: number;
  readonly logger?: Pick<Logger, 'warn'>;
}

export class ContactsSink implements Sink {
  readonly name = 'notification-contacts';
  readonly store: ContactsStore;
  private readonly redis: Redis;
  private closed = false;

  constructor(options: ContactsSinkOptions) {
    this.redis = new Redis(options.redisUrl, {
      lazyConnect: true,
      // The runner owns retrying: commands fail fast while Redis is away instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 10_000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    });
    this.redis.on('error', (error: Error) => options.logger?.warn({ err: error }, 'redis connection error (contacts)'));
    this.store = new ContactsStore(this.redis, options.keyPrefix, options.ttlSeconds);
  }

  async start(): Promise<void> {
    await this.redis.connect();
  }

  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    const results: WriteResult[] = new Array(events.length).fill(ok);
    const changes: { index: number; event: RowChangeEvent }[] = [];
    events.forEach((event, index) => {
      if (event.op === 'tombstone' || event.op === 'truncate' || event.table !== 'customers') return;
      changes.push({ index, event });
    });
    const valid: { index: number; event: RowChangeEvent }[] = [];
    for (const change of changes) {
      try {
        customerIdOf(change.event.key);
        valid.push(change);
      } catch (error) {
        results[change.index] = failed(error as Error);
      }
    }
    let replies: (string | Error)[];
    try {
      replies = await this.store.apply(valid.map((change) => change.event));
    } catch (error) {
      const failure = retry(new RetriableError('Redis did not take the contacts', { cause: error }));
      for (const change of valid) results[change.index] = failure;
      return results;
    }
    valid.forEach((change, position) => {
      const reply = replies[position];
      if (reply instanceof Error) results[change.index] = retry(new RetriableError(`Redis refused the contact: ${reply.message}`, { cause: reply }));
      else results[change.index] = reply === 'stale' ? stale : ok;
    });
    return results;
  }

  async isReady(): Promise<boolean> {
    if (this.closed || this.redis.status !== 'ready') return false;
    return (await this.redis.ping().catch(() => null)) === 'PONG';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
