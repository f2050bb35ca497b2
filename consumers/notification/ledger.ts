/**
 * The delivery ledger: one Redis hash per delivery (rule, table, primary key, LSN, channel), shared
 * by every instance of the consumer, written only by two atomic Lua scripts. It turns at-least-once
 * change events into at-most-once sends, and records what happened to every one.
 *
 *   <prefix>ledger:<delivery id>   hash: s (state), n (attempts), by + lease (the claim), pid
 *                                  (provider id), why (reason), doubt (why it was once in doubt),
 *                                  rule, ch, to (redacted recipient), commit (commit time), at
 *   <prefix>attempts               stream: every attempt and its outcome (the audit trail)
 *   <prefix>in-doubt               sorted set: deliveries held in doubt, for an operator
 *   <prefix>rate:<channel>:<who>   sorted set: the recipient's recent claims (rate limit)
 *   <prefix>instance:<id>          string with a short TTL: this instance is alive
 *
 * States: (none) -> claimed -> sent | failed | retry | in-doubt;  (none) -> skipped;
 *         retry -> claimed (the next attempt); claimed by someone gone -> in-doubt or claimed again.
 *
 * CLAIM BEFORE SENDING. `claim` creates the entry as `claimed` (phase `reserved`) by this instance
 * with a lease, or
 * says why not: already settled (`done`: a replay, a redelivery, a second instance), skipped (a
 * reason given, or the recipient's rate limit reached; recorded, never sent), `busy` (another live
 * instance holds a valid claim: retry later), `mine` (this instance holds it). Only a `claimed`
 * or `resend` answer lets the caller send, right after `markSending` (phase `sending`, lease
 * renewed; refused if the claim is no longer ours), and `finish` then records the outcome, if and
 * only if the claim is still this instance's.
 *
 * IN DOUBT. A claim in phase `sending` whose holder is gone (its instance key expired: killed, or
 * cut off from Redis) or whose lease ran out, with no outcome, means: the provider may or may not
 * have the message. (One still `reserved` was never handed to a provider: it is taken over.)
 * What happens then is the channel's in-doubt policy, decided inside the claim script (so two
 * instances cannot both decide): `resend` claims it again (email: the same Message-ID, so the
 * duplicate is detectable; push: the same collapse key, so it replaces the original), `hold`
 * parks it as `in-doubt` with the reason (SMS: Twilio honours no idempotency key, so a resend
 * could text the customer twice; an operator checks the provider's log). The `doubt` field stays
 * on the entry either way, and every step is in the attempts stream.
 *
 * Durability: Redis with its append-only file (both stacks). With the default `appendfsync
 * everysec` a crash of Redis itself (not of the consumer) can lose the last second of ledger
 * writes; `appendfsync always` on the ledger's Redis closes that window.
 */
import type { Redis } from 'ioredis';
import type { InDoubtPolicy } from './notification-config.js';

const CLAIM_LUA = `
local key, rateKey, attempts, doubtSet = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = tonumber(ARGV[1])
local me = ARGV[2]
local function audit(outcome, n, reason)
  redis.call('XADD', attempts, 'MAXLEN', '~', ARGV[11], '*', 'id', ARGV[14], 'rule', ARGV[12], 'ch', ARGV[13],
    'n', tostring(n), 'outcome', outcome, 'reason', reason, 'pid', '', 'to', ARGV[15], 'by', me, 'commit', ARGV[16], 'at', ARGV[1])
end
local function claim(n)
  redis.call('HSET', key, 's', 'claimed', 'ph', 'reserved', 'by', me, 'lease', tostring(now + tonumber(ARGV[3])), 'n', tostring(n), 'at', ARGV[1])
end
local state = redis.call('HGET', key, 's')
if not state then
  redis.call('HSET', key, 'rule', ARGV[12], 'ch', ARGV[13], 'to', ARGV[15], 'commit', ARGV[16], 'first', ARGV[1])
  redis.call('EXPIRE', key, tonumber(ARGV[4]))
  if ARGV[6] ~= '' then
    redis.call('HSET', key, 's', 'skipped', 'why', ARGV[6], 'at', ARGV[1], 'n', '0')
    audit('skipped', 0, ARGV[6])
    return {'skipped', ARGV[6], 0}
  end
  local limit = tonumber(ARGV[7])
  if limit > 0 then
    local t, w = tonumber(ARGV[9]), tonumber(ARGV[8])
    redis.call('ZREMRANGEBYSCORE', rateKey, '-inf', tostring(t - 10 * w))
    -- (t - w, t + w): changes are not processed in commit order (several partitions, several
    -- instances), so the later ones already counted are counted too; then no window of w ms
    -- ever holds more than the limit, whatever the order.
    local count = redis.call('ZCOUNT', rateKey, '(' .. tostring(t - w), '(' .. tostring(t + w))
    if count >= limit then
      local why = 'rate limited: at most ' .. limit .. ' per ' .. tostring(w / 1000) .. ' s for this recipient'
      redis.call('HSET', key, 's', 'skipped', 'why', why, 'at', ARGV[1], 'n', '0')
      audit('skipped', 0, why)
      return {'skipped', why, 0}
    end
    redis.call('ZADD', rateKey, tostring(t), ARGV[14])
    redis.call('PEXPIRE', rateKey, 10 * w)
  end
  claim(1)
  return {'claimed', '', 1}
end
local n = tonumber(redis.call('HGET', key, 'n') or '0')
if state == 'retry' then
  claim(n + 1)
  return {'claimed', redis.call('HGET', key, 'doubt') or '', n + 1}
end
if state ~= 'claimed' then return {'done', state, n} end
local by = redis.call('HGET', key, 'by') or ''
if by == me then return {'mine', '', n} end
local alive = redis.call('EXISTS', ARGV[5] .. by) == 1
local lease = tonumber(redis.call('HGET', key, 'lease') or '0')
if alive and now < lease then return {'busy', by, n} end
if redis.call('HGET', key, 'ph') ~= 'sending' then
  -- Reserved, but never handed to the provider (the holder died before marking it "sending"):
  -- nothing can have been sent, so it is simply taken over, whatever the channel.
  claim(n)
  return {'claimed', redis.call('HGET', key, 'doubt') or '', n}
end
local why = 'attempt ' .. n .. ' was claimed by ' .. by .. (alive and ', whose lease ran out,' or ', which is gone,') ..
  ' and no outcome was recorded: the provider may have accepted it'
redis.call('HSET', key, 'doubt', why)
audit('in-doubt', n, why)
if ARGV[10] == 'resend' then
  claim(n + 1)
  return {'resend', why, n + 1}
end
redis.call('HSET', key, 's', 'in-doubt', 'why', why, 'at', ARGV[1])
redis.call('ZADD', doubtSet, ARGV[1], ARGV[14])
return {'in-doubt', why, n}
`;

const FINISH_LUA = `
local key, attempts, doubtSet, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local state = redis.call('HGET', key, 's')
local by = redis.call('HGET', key, 'by')
local n = redis.call('HGET', key, 'n') or '0'
local outcome = ARGV[3]
local mine = state == 'claimed' and by == ARGV[2]
redis.call('XADD', attempts, 'MAXLEN', '~', ARGV[7], '*', 'id', ARGV[8], 'rule', ARGV[9], 'ch', ARGV[10], 'n', n,
  'outcome', mine and outcome or (outcome .. ' (claim lost)'), 'reason', ARGV[5], 'pid', ARGV[4], 'to', ARGV[11], 'by', ARGV[2],
  'commit', ARGV[12], 'at', ARGV[1])
if not mine then
  -- Our claim was taken as in doubt while we were still sending. If it was held (not resent) and
  -- we now know it was sent, that settles it.
  if state == 'in-doubt' and outcome == 'sent' then
    redis.call('HSET', key, 's', 'sent', 'pid', ARGV[4], 'why', 'the claim thought lost reported sent', 'at', ARGV[1])
    redis.call('ZREM', doubtSet, ARGV[8])
    return {'resolved', state or ''}
  end
  return {'lost', state or ''}
end
if ARGV[6] ~= '' then redis.call('HSET', key, 'doubt', ARGV[6]) end
redis.call('HSET', key, 's', outcome, 'why', ARGV[5], 'at', ARGV[1])
if ARGV[4] ~= '' then redis.call('HSET', key, 'pid', ARGV[4]) end
redis.call('HDEL', key, 'lease', 'ph')
if outcome == 'in-doubt' then redis.call('ZADD', doubtSet, ARGV[1], ARGV[8]) end
if outcome == 'retry' and tonumber(ARGV[14]) > 0 then
  -- Parked in the channel's retry queue with the message: any instance sends it when it is due.
  redis.call('HSET', key, 'msg', ARGV[15], 'pol', ARGV[16])
  redis.call('ZADD', due, ARGV[14], ARGV[8])
else
  redis.call('HDEL', key, 'msg')
  redis.call('ZREM', due, ARGV[8])
end
redis.call('EXPIRE', key, tonumber(ARGV[13]))
return {'ok', outcome}
`;

/**
 * The last step before a provider call: the claim is still ours and now "sending", with a fresh
 * lease. Only a claim in this phase can be in doubt; one that dies "reserved" is taken over.
 */
const MARK_SENDING_LUA = `
if redis.call('HGET', KEYS[1], 's') == 'claimed' and redis.call('HGET', KEYS[1], 'by') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'ph', 'sending', 'lease', ARGV[2])
  return 1
end
return 0
`;

export interface ClaimRequest {
  /** deliveryId(...) */
  readonly id: string;
  readonly rule: string;
  readonly channel: string;
  /** Redacted. */
  readonly recipient: string;
  readonly commitTimeMs: number;
  /** Recorded as skipped with this reason instead of claimed (no phone, opted out, dev outbox...). */
  readonly skipReason: string | null;
  readonly rate: { readonly key: string; readonly limit: number; readonly windowMs: number; readonly eventTimeMs: number } | null;
  readonly inDoubt: InDoubtPolicy;
}

export type ClaimResult =
  | { readonly status: 'claimed' | 'resend'; readonly attempt: number; /** set when an earlier attempt was in doubt */ readonly doubt: string }
  | { readonly status: 'skipped' | 'in-doubt'; readonly reason: string }
  | { readonly status: 'done'; readonly state: string }
  | { readonly status: 'busy'; readonly holder: string }
  | { readonly status: 'mine'; readonly attempt: number };

/** How an attempt ended, as the ledger records it. */
export type FinalState = 'sent' | 'failed' | 'retry' | 'in-doubt';

export interface FinishRequest {
  readonly claim: ClaimRequest;
  readonly state: FinalState;
  readonly providerId: string | null;
  readonly reason: string;
  /** Marks the entry as having been in doubt (email/push unknown outcome, resent next time). */
  readonly doubt: string | null;
  /** With state `retry`: park the delivery in its channel's retry queue, due then, with this message (JSON). */
  readonly park?: { readonly dueAt: number; readonly message: string };
}

/** A parked delivery as the retry queue hands it out. */
export interface ParkedDelivery {
  readonly claim: ClaimRequest;
  /** The rendered message (JSON of an OutgoingMessage). */
  readonly message: string;
}

export type FinishResult = { readonly status: 'ok' | 'lost' | 'resolved'; readonly state: string };

type ScriptedRedis = Redis & {
  notifyClaim(...keysAndArgs: (string | number)[]): Promise<[string, string, number]>;
  notifyFinish(...keysAndArgs: (string | number)[]): Promise<[string, string]>;
  notifyMarkSending(key: string, instance: string, lease: number): Promise<number>;
};
type Pipeline = ScriptedRedis & { exec(): Promise<[Error | null, unknown][] | null> };

export interface LedgerOptions {
  readonly prefix: string;
  readonly instanceId: string;
  readonly leaseMs: number;
  readonly ttlSeconds: number;
  readonly attemptsMaxLength: number;
  /** How long this instance counts as alive without a heartbeat; heartbeats go every third of it. */
  readonly instanceTtlMs?: number;
}

export class Ledger {
  private readonly redis: ScriptedRedis;
  private heartbeat: NodeJS.Timeout | null = null;
  readonly instanceTtlMs: number;

  constructor(
    redis: Redis,
    readonly options: LedgerOptions,
  ) {
    this.redis = redis as ScriptedRedis;
    this.instanceTtlMs = options.instanceTtlMs ?? 5_000;
    this.redis.defineCommand('notifyClaim', { numberOfKeys: 4, lua: CLAIM_LUA });
    this.redis.defineCommand('notifyFinish', { numberOfKeys: 4, lua: FINISH_LUA });
    this.redis.defineCommand('notifyMarkSending', { numberOfKeys: 1, lua: MARK_SENDING_LUA });
  }

  get keys() {
    const p = this.options.prefix;
    return {
      entry: (id: string) => `${p}ledger:${id}`,
      attempts: `${p}attempts`,
      inDoubt: `${p}in-doubt`,
      due: (channel: string) => `${p}due:${channel}`,
      devOutbox: `${p}dev-outbox`,
      instancePrefix: `${p}instance:`,
      rate: (channel: string, who: string) => `${p}rate:${channel}:${who}`,
      wait: (id: string) => `${p}wait:${id}`,
    };
  }

  /** Marks this instance alive now and keeps doing so until `stop()`. */
  async start(): Promise<void> {
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), Math.max(200, Math.floor(this.instanceTtlMs / 3)));
    this.heartbeat.unref();
  }

  private async beat(): Promise<void> {
    await this.redis.set(`${this.keys.instancePrefix}${this.options.instanceId}`, '1', 'PX', this.instanceTtlMs);
  }

  /** Stops the heartbeat and removes the alive key: our claims are in doubt at once, not after the TTL. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await this.redis.del(`${this.keys.instancePrefix}${this.options.instanceId}`).catch(() => undefined);
  }

  /** One claim script call per request, in one pipeline; an Error where Redis failed that call. */
  async claim(requests: readonly ClaimRequest[], now = Date.now()): Promise<(ClaimResult | Error)[]> {
    if (requests.length === 0) return [];
    const k = this.keys;
    const pipeline = this.redis.pipeline() as unknown as Pipeline;
    for (const r of requests) {
      pipeline.notifyClaim(
        k.entry(r.id), r.rate?.key ?? k.entry(r.id), k.attempts, k.inDoubt,
        now, this.options.instanceId, this.options.leaseMs, this.options.ttlSeconds, k.instancePrefix,
        r.skipReason ?? '', r.rate?.limit ?? 0, r.rate?.windowMs ?? 60_000, r.rate?.eventTimeMs ?? now, r.inDoubt,
        this.options.attemptsMaxLength, r.rule, r.channel, r.id, r.recipient, r.commitTimeMs,
      );
    }
    return ((await pipeline.exec()) ?? []).map(([error, reply]) => (error ? error : parseClaim(reply as [string, string, number])));
  }

  /** Marks a claim of ours "sending" right before the provider call; false if it is no longer ours (do not send). */
  async markSending(id: string, now = Date.now()): Promise<boolean> {
    return (await this.redis.notifyMarkSending(this.keys.entry(id), this.options.instanceId, now + this.options.leaseMs)) === 1;
  }

  /** Records outcomes (one finish script call each, one pipeline). */
  async finish(requests: readonly FinishRequest[], now = Date.now()): Promise<(FinishResult | Error)[]> {
    if (requests.length === 0) return [];
    const k = this.keys;
    const pipeline = this.redis.pipeline() as unknown as Pipeline;
    for (const r of requests) {
      pipeline.notifyFinish(
        k.entry(r.claim.id), k.attempts, k.inDoubt, k.due(r.claim.channel),
        now, this.options.instanceId, r.state, r.providerId ?? '', r.reason, r.doubt ?? '', this.options.attemptsMaxLength,
        r.claim.id, r.claim.rule, r.claim.channel, r.claim.recipient, r.claim.commitTimeMs, this.options.ttlSeconds,
        r.park?.dueAt ?? 0, r.park?.message ?? '', r.claim.inDoubt,
      );
    }
    return ((await pipeline.exec()) ?? []).map(([error, reply]) => {
      if (error) return error;
      const [status, state] = reply as [string, string];
      return { status: status as FinishResult['status'], state };
    });
  }

  /**
   * Parked deliveries of `channel` due by `now` (oldest first, at most `limit`), with what is
   * needed to claim and send them again. Ids whose entry is gone or settled are dropped from the queue.
   */
  async dueDeliveries(channel: string, now: number, limit: number): Promise<ParkedDelivery[]> {
    const ids = await this.redis.zrangebyscore(this.keys.due(channel), '-inf', now, 'LIMIT', 0, limit);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.entry(id), 's', 'rule', 'ch', 'to', 'commit', 'pol', 'msg');
    const replies = (await pipeline.exec()) ?? [];
    const parked: ParkedDelivery[] = [];
    const stale: string[] = [];
    ids.forEach((id, index) => {
      const [error, fields] = replies[index] ?? [new Error('no reply'), null];
      const [state, rule, ch, to, commit, pol, msg] = (error ? [] : (fields as (string | null)[])) as (string | null)[];
      if (error) return;
      if (!msg || (state !== 'retry' && state !== 'claimed')) {
        stale.push(id);
        return;
      }
      parked.push({
        message: msg,
        claim: { id, rule: rule ?? '', channel: ch ?? channel, recipient: to ?? '-', commitTimeMs: Number(commit ?? 0), skipReason: null, rate: null, inDoubt: pol === 'resend' ? 'resend' : 'hold' },
      });
    });
    if (stale.length > 0) await this.redis.zrem(this.keys.due(channel), ...stale);
    return parked;
  }

  /** Takes a delivery out of its channel's retry queue (it was settled another way). */
  async unpark(channel: string, id: string): Promise<void> {
    await this.redis.zrem(this.keys.due(channel), id);
  }

  /** A delivery's ledger entry (tests, operators). */
  async entry(id: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.entry(id));
  }
}

function parseClaim([status, detail, attempt]: [string, string, number]): ClaimResult {
  switch (status) {
    case 'claimed':
    case 'resend':
      return { status, attempt: Number(attempt), doubt: detail };
    case 'skipped':
    case 'in-doubt':
      return { status, reason: detail };
    case 'done':
      return { status, state: detail };
    case 'busy':
      return { status, holder: detail };
    case 'mine':
      return { status, attempt: Number(attempt) };
    default:
      throw new Error(`unexpected claim reply ${status}`);
  }
}
