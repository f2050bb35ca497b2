/**
 * Contacts: each customer's email, phone, push token, name and opt-out flags, materialised from the
 * customers topic into Redis (a stream-table join's table side), so that a notification about an
 * order never queries the shop database. Shared by every instance of the consumer.
 *
 * `<prefix>contact:<customer id>` is a hash: v (the row version, `source.version`), email, phone,
 * push, first, last, `opt:<column>` for each opt-out column the row carries ('1' / '0'), and
 * `deleted` once the customer is gone. A write applies only if its version is newer than the
 * stored one (one Lua script per change, atomic), so replays, redeliveries and the snapshot
 * arriving after streamed changes never roll a contact back. Unchanged-TOAST columns (absent from
 * the change) keep their stored value. A deleted customer keeps only its version and `deleted`
 * (its personal data is removed), for NOTIFY_LEDGER_TTL_DAYS.
 */
import type { Redis } from 'ioredis';
import type { Row, RowChangeEvent, Value } from '../core/change-event.js';
import { PermanentError } from '../core/errors.js';
import { CHANNEL_NAMES, type ChannelName } from './channels/channel.js';

export interface Contact {
  readonly customerId: string;
  readonly email: string | null;
  readonly phone: string | null;
  readonly pushToken: string | null;
  readonly firstName: string | null;
  readonly lastName: string | null;
  /** Channels the customer opted out of. */
  readonly optedOut: ReadonlySet<ChannelName>;
  readonly deleted: boolean;
  readonly version: string;
}

/**
 * Opt-out columns a customers row may carry (the shop's schema has none today): true in
 * `notifications_opt_out` silences every channel, `<channel>_opt_out` one channel.
 */
export const OPT_OUT_COLUMNS: Readonly<Record<string, readonly ChannelName[]>> = Object.freeze({
  notifications_opt_out: CHANNEL_NAMES,
  email_opt_out: ['email'],
  sms_opt_out: ['sms'],
  push_opt_out: ['push'],
});

/** Contact fields by customers column. */
const FIELDS: Readonly<Record<string, string>> = { email: 'email', phone: 'phone', push_token: 'push', first_name: 'first', last_name: 'last' };
const NULL = '\u0000';

/** Applies one change if newer. ARGV: version, deleted (1/0), ttl seconds, then field, value pairs (NUL = delete the field). */
export const UPSERT_CONTACT_LUA = `
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local current = redis.call('HGET', KEYS[1], 'v')
if current and not newer(ARGV[1], current) then return 'stale' end
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'deleted', '1')
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 'deleted'
end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('HDEL', KEYS[1], 'deleted')
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '\\0' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('PERSIST', KEYS[1])
return 'applied'
`;

type ScriptedRedis = Redis & { upsertContact(key: string, ...args: string[]): Promise<string> };

/** The customers row's id as the contact id; the customers table has a one-column key. */
export function customerIdOf(key: Row): string {
  const columns = Object.keys(key);
  if (columns.length !== 1) throw new PermanentError(`customers key ${JSON.stringify(key)} is not a single column: contacts need one id`);
  const id = key[columns[0]!];
  if (typeof id !== 'number' && typeof id !== 'string') throw new PermanentError(`customers key ${JSON.stringify(key)} has no usable id`);
  return String(id);
}

function text(value: Value | undefined): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** The script arguments for one change of a customers row (pure). */
export function contactChangeArgs(event: RowChangeEvent, ttlSeconds: number): string[] {
  if (event.op === 'delete') return [event.source.version, '1', String(ttlSeconds)];
  const row = event.after;
  if (!row) throw new PermanentError(`customers ${event.op} without an after row`);
  const args = [event.source.version, '0', String(ttlSeconds)];
  for (const [column, field] of Object.entries(FIELDS)) {
    if (column in row) args.push(field, text(row[column]) ?? NULL);
  }
  for (const column of Object.keys(OPT_OUT_COLUMNS)) {
    if (column in row) args.push(`opt:${column}`, row[column] === true ? '1' : '0');
  }
  return args;
}

export function contactFromHash(customerId: string, hash: Record<string, string>): Contact | null {
  if (hash.v === undefined) return null;
  const optedOut = new Set<ChannelName>();
  for (const [column, channels] of Object.entries(OPT_OUT_COLUMNS)) {
    if (hash[`opt:${column}`] === '1') for (const channel of channels) optedOut.add(channel);
  }
  return {
    customerId,
    email: hash.email ?? null,
    phone: hash.phone ?? null,
    pushToken: hash.push ?? null,
    firstName: hash.first ?? null,
    lastName: hash.last ?? null,
    optedOut,
    deleted: hash.deleted === '1',
    version: hash.v,
  };
}

export class ContactsStore {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {
    this.redis = redis as ScriptedRedis;
    this.redis.defineCommand('upsertContact', { numberOfKeys: 1, lua: UPSERT_CONTACT_LUA });
  }

  key(customerId: string): string {
    return `${this.prefix}contact:${customerId}`;
  }

  /**
   * Applies the changes in order in one pipeline; per change 'applied' | 'deleted' | 'stale', or
   * the Error Redis answered for that change.
   */
  async apply(events: readonly RowChangeEvent[]): Promise<(string | Error)[]> {
    if (events.length === 0) return [];
    const pipeline = this.redis.pipeline() as unknown as ScriptedRedis & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const event of events) pipeline.upsertContact(this.key(customerIdOf(event.key)), ...contactChangeArgs(event, this.ttlSeconds));
    const replies = await pipeline.exec();
    if (!replies) throw new Error('Redis returned no replies for the contacts pipeline');
    return replies.map(([error, value]) => error ?? String(value));
  }

  /** The contacts of these customers (null where none is known yet), in one round trip. */
  async getMany(customerIds: readonly string[]): Promise<Map<string, Contact | null>> {
    const unique = [...new Set(customerIds)];
    const found = new Map<string, Contact | null>();
    if (unique.length === 0) return found;
    const pipeline = this.redis.pipeline();
    for (const id of unique) pipeline.hgetall(this.key(id));
    const replies = (await pipeline.exec()) ?? [];
    unique.forEach((id, index) => {
      const [error, hash] = replies[index] ?? [new Error('no reply'), null];
      if (error) throw error;
      found.set(id, contactFromHash(id, (hash ?? {}) as Record<string, string>));
    });
    return found;
  }
}
