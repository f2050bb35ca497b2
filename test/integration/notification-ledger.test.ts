/**
 * The ledger's Lua scripts on the real Redis, state by state: claim before send, settled entries
 * never claimed again, a live holder's claim respected, a dead holder's claim taken over when it
 * was only reserved and in doubt when it was sending (resend for email/push, hold for SMS), the
 * rate limit whatever the processing order, the retry queue, and an outcome reported by a holder
 * whose claim was taken over.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, type ClaimRequest } from '../../consumers/notification/ledger.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteKeys } from '../helpers/notification-consumer.js';

describe.runIf(requireEngines('redis'))('notification ledger on Redis', () => {
  const prefix = `${uniqueName('ntf-ledger')}:`;
  let redis: Redis;
  let ids = 0;
  const ledger = (instanceId: string, leaseMs = 60_000) => new Ledger(redis, { prefix, instanceId, leaseMs, ttlSeconds: 3_600, attemptsMaxLength: 10_000, instanceTtlMs: 1_000 });
  const request = (overrides: Partial<ClaimRequest> = {}): ClaimRequest => ({
    id: `r/orders/id=${++ids}/100/email`, rule: 'r', channel: 'email', recipient: 'a***@b.example', commitTimeMs: 1_000_000, skipReason: null, rate: null, inDoubt: 'resend', ...overrides,
  });
  const claim = async (l: Ledger, r: ClaimRequest, now?: number) => (await l.claim([r], now))[0];
  const finish = async (l: Ledger, r: ClaimRequest, state: 'sent' | 'failed' | 'retry' | 'in-doubt', extra: { providerId?: string; park?: { dueAt: number; message: string } } = {}) =>
    (await l.finish([{ claim: r, state, providerId: extra.providerId ?? null, reason: state === 'sent' ? '' : `why ${state}`, doubt: null, park: extra.park }]))[0];

  beforeAll(() => {
    redis = new Redis(engines().redis);
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('claims once; a settled delivery is never claimed again; a live holder is respected', async () => {
    const a = ledger('a');
    const b = ledger('b');
    await a.start();
    const r = request();
    expect(await claim(a, r)).toEqual({ status: 'claimed', attempt: 1, doubt: '' });
    expect(await claim(a, r)).toEqual({ status: 'mine', attempt: 1 });
    expect(await claim(b, r)).toEqual({ status: 'busy', holder: 'a' });
    expect(await a.markSending(r.id)).toBe(true);
    expect(await b.markSending(r.id)).toBe(false);
    expect(await finish(a, r, 'sent', { providerId: 'P1' })).toEqual({ status: 'ok', state: 'sent' });
    expect(await claim(b, r)).toEqual({ status: 'done', state: 'sent' });
    expect(await a.entry(r.id)).toMatchObject({ s: 'sent', pid: 'P1', n: '1', rule: 'r', ch: 'email', to: 'a***@b.example' });
    await a.stop();
  });

  it('a dead holder: reserved -> taken over; sending -> resent (email) or held in doubt (SMS)', async () => {
    const dead = ledger('dead');
    const next = ledger('next');
    const reserved = request();
    const email = request();
    const sms = request({ id: `r/orders/id=${++ids}/100/sms`, channel: 'sms', inDoubt: 'hold' });
    for (const r of [reserved, email, sms]) expect((await claim(dead, r))!).toMatchObject({ status: 'claimed' });
    await dead.markSending(email.id);
    await dead.markSending(sms.id);
    // "dead" never started its heartbeat: it is not alive.
    expect(await claim(next, reserved)).toEqual({ status: 'claimed', attempt: 1, doubt: '' });
    const resend = await claim(next, email);
    expect(resend).toMatchObject({ status: 'resend', attempt: 2 });
    expect((resend as { doubt: string }).doubt).toMatch(/claimed by dead, which is gone, and no outcome was recorded/);
    expect(await claim(next, sms)).toMatchObject({ status: 'in-doubt' });
    expect(await next.entry(sms.id)).toMatchObject({ s: 'in-doubt' });
    expect(await redis.zrange(`${prefix}in-doubt`, 0, -1)).toContain(sms.id);
    expect(await claim(next, sms)).toEqual({ status: 'done', state: 'in-doubt' });
    // The "dead" holder was only slow: its late "sent" settles the held SMS; its late email outcome is audited, not applied.
    expect(await finish(dead, sms, 'sent', { providerId: 'SM1' })).toEqual({ status: 'resolved', state: 'in-doubt' });
    expect(await next.entry(sms.id)).toMatchObject({ s: 'sent', pid: 'SM1' });
    expect(await finish(dead, email, 'sent')).toEqual({ status: 'lost', state: 'claimed' });
    expect(await finish(next, email, 'sent')).toEqual({ status: 'ok', state: 'sent' });
    expect((await next.entry(email.id)).doubt).toMatch(/which is gone/);
  });

  it('a holder whose lease ran out is in doubt even if alive', async () => {
    const slow = ledger('slow', 1_000);
    await slow.start();
    const r = request({ inDoubt: 'hold' });
    await claim(slow, r);
    await slow.markSending(r.id);
    const other = ledger('other');
    expect(await claim(other, r)).toMatchObject({ status: 'busy' });
    expect(await claim(other, r, Date.now() + 5_000)).toMatchObject({ status: 'in-doubt' });
    expect((await other.entry(r.id)).why).toMatch(/whose lease ran out/);
    await slow.stop();
  });

  it('skips are recorded, and the rate limit holds whatever order the changes come in', async () => {
    const l = ledger('rate');
    const skipped = request({ skipReason: 'no phone number' });
    expect(await claim(l, skipped)).toEqual({ status: 'skipped', reason: 'no phone number' });
    expect(await claim(l, skipped)).toEqual({ status: 'done', state: 'skipped' });
    const rate = (t: number) => request({ rate: { key: `${prefix}rate:email:customer:1`, limit: 2, windowMs: 60_000, eventTimeMs: t } });
    // commit times 50 s, 10 s, 30 s: the third is refused although it came "first" in time order of its window
    expect(((await claim(l, rate(50_000))) as { status: string }).status).toBe('claimed');
    expect(((await claim(l, rate(10_000))) as { status: string }).status).toBe('claimed');
    const third = await claim(l, rate(30_000));
    expect(third).toMatchObject({ status: 'skipped' });
    expect((third as { reason: string }).reason).toBe('rate limited: at most 2 per 60 s for this recipient');
    expect(((await claim(l, rate(200_000))) as { status: string }).status).toBe('claimed'); // a later minute
  });

  it('parks a retry with its message and hands it out when due; settling takes it out', async () => {
    const l = ledger('queue');
    const r = request();
    await claim(l, r);
    expect(await finish(l, r, 'retry', { park: { dueAt: 5_000, message: '{"channel":"email"}' } })).toEqual({ status: 'ok', state: 'retry' });
    expect(await l.dueDeliveries('email', 4_999, 10)).toEqual([]);
    const due = await l.dueDeliveries('email', 5_000, 10);
    expect(due).toEqual([{ message: '{"channel":"email"}', claim: expect.objectContaining({ id: r.id, rule: 'r', channel: 'email', inDoubt: 'resend' }) }]);
    expect(await claim(l, r)).toEqual({ status: 'claimed', attempt: 2, doubt: '' });
    await finish(l, r, 'sent');
    expect(await redis.zscore(`${prefix}due:email`, r.id)).toBeNull();
    expect((await l.entry(r.id)).msg).toBeUndefined();
    const attempts = await redis.xrange(`${prefix}attempts`, '-', '+');
    expect(attempts.filter(([, f]) => f[f.indexOf('id') + 1] === r.id).map(([, f]) => f[f.indexOf('outcome') + 1])).toEqual(['retry', 'sent']);
  });
});
