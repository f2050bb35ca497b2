/**
 * Crash safety of the notification consumer on the real stack (~3-4 minutes): kill -9 the consumer
 * process 20 times while 500 orders are created and go pending -> paid -> shipped -> delivered
 * (5,000 deliveries + 25 welcome emails), restarting it at once each time. Afterwards every
 * delivery must be accounted for:
 * - in the ledger exactly once per (rule, order, channel), settled as sent, or (SMS only) held in
 *   doubt with its reason: none missing, none failed, none still pending;
 * - in Mailpit, counted by Message-ID: each email exactly once, or more than once only if the
 *   ledger recorded it as in doubt (a kill between SMTP's "250" and the ledger write: resent with
 *   the same Message-ID, so the duplicate is detectable), and never more often than the ledger's
 *   attempts (`n`: a resend killed in the same window again is attempt 3);
 * - at the Twilio peer, by number and text: each SMS exactly once, or at most once if held in doubt
 *   (never resent);
 * - at the FCM peer, by notification id: each push once, or more than once only if recorded in
 *   doubt and at most once per attempt (the resend carries the same collapse key, so the device
 *   shows one).
 * The counts are printed (kills, in-doubt per channel, resends that did reach the provider again).
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageIdFor } from '../../consumers/notification/delivery-key.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { FcmPeer } from '../helpers/fcm-peer.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import { Mailpit, countByMessageId } from '../helpers/mailpit.js';
import {
  CUSTOMERS_TOPIC, NOTIFICATION_TOPICS, NotificationProcess, consumerEnv, deleteKeys, logPath, readLedger, startGroupAtEnd, waitCaughtUp,
} from '../helpers/notification-consumer.js';
import { NotificationShop, type TestCustomer } from '../helpers/notification-shop.js';
import { waitForConnector } from '../helpers/pipeline.js';
import { TwilioPeer } from '../helpers/twilio-peer.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const KILLS = 20;
const ORDERS = 500;
const CUSTOMERS = 25;
const STATUSES = ['paid', 'shipped', 'delivered'] as const;
/** Deliveries per order: confirmation (email, push), paid and shipped (email, SMS, push), delivered (email, push). */
const PER_ORDER = { email: 4, sms: 2, push: 4 };

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'redis', 'mailpit', 'smtp'))('notification consumer killed with -9, 20 times', () => {
  const run = uniqueName('ntf-crash');
  const prefix = `${run}:`;
  const group = `${run}-group`;
  let dir: string;
  let kafka: Kafka;
  let redis: Redis;
  let mailpit: Mailpit;
  let twilio: TwilioPeer;
  let fcm: FcmPeer;
  let shop: NotificationShop;
  let consumer: NotificationProcess | null = null;
  let starts = 0;

  const start = () =>
    NotificationProcess.start(
      consumerEnv({ kafka: engines().kafka, redis: engines().redis, smtp: engines().smtp, run }, {
        ...twilio.env(), ...fcm.env(),
        NOTIFY_RATE_LIMIT_EMAIL_PER_MINUTE: '0', NOTIFY_RATE_LIMIT_SMS_PER_MINUTE: '0', NOTIFY_RATE_LIMIT_PUSH_PER_MINUTE: '0',
        // A killed member's partitions move on after 6 s, not 30 s.
        KAFKA_SESSION_TIMEOUT_MS: '6000',
        KAFKA_HEARTBEAT_INTERVAL_MS: '2000',
      }),
      logPath(dir, `consumer-${starts++}`),
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ntf-crash-'));
    kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    redis = new Redis(engines().redis);
    mailpit = new Mailpit(engines().mailpit);
    await mailpit.chaos();
    twilio = await TwilioPeer.start();
    fcm = await FcmPeer.start();
    shop = await NotificationShop.connect(engines().postgres, run);
    await waitForConnector();
    await startGroupAtEnd(kafka, group);
  });

  afterAll(async () => {
    await consumer?.kill();
    await shop?.close();
    await deleteGroupsAndTopics(kafka, { groups: [group, `${group}-contacts`], topics: [`${run}.dlq`] });
    await deleteKeys(redis, prefix);
    const ours = await mailpit.to(run).catch(() => []);
    await mailpit.delete(ours.map((m) => m.ID)).catch(() => undefined);
    await redis.quit();
    await twilio?.close();
    await fcm?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every notification exactly once, or recorded in doubt with a reason; none missing', async () => {
    const began = Date.now();
    const phase = (what: string) => console.log(`[notification-crash] ${what} after ${Math.round((Date.now() - began) / 1000)} s`);
    consumer = start();
    await waitCaughtUp(kafka, `${group}-contacts`, [CUSTOMERS_TOPIC], 120_000).catch((error: Error) => {
      // A consumer that exited at start-up (e.g. a configuration error) says why in its log.
      throw new Error(`${error.message}; the consumer ${consumer?.running ? 'runs' : 'exited'}, its log ends:\n${consumer?.log().slice(-2_000)}`);
    });
    const customers: TestCustomer[] = [];
    for (let i = 0; i < CUSTOMERS; i++) customers.push(await shop.customer(`c${i}`));

    // The shop: orders arrive in batches of 50; each round moves every order one status on.
    let sqlDone = false;
    const orders: number[] = [];
    const shopWork = (async () => {
      const stages: number[][] = [[], [], []]; // orders waiting for paid, shipped, delivered
      for (let round = 0; orders.length < ORDERS || stages.some((s) => s.length > 0); round++) {
        for (let stage = 2; stage >= 0; stage--) {
          const moving = stages[stage]!.splice(0, 50);
          if (moving.length > 0) await shop.setStatus(moving, STATUSES[stage]!);
          if (stage < 2) stages[stage + 1]!.push(...moving);
        }
        if (orders.length < ORDERS) {
          const created = await shop.orders(customers[round % CUSTOMERS]!.id, 50, `r${round}`);
          orders.push(...created);
          stages[0]!.push(...created);
        }
        await sleep(6_000); // 13 rounds: the status changes go on for about as long as the kills
      }
      sqlDone = true;
    })();

    // kill -9 at random moments while the consumer works, and start it again at once.
    let kills = 0;
    for (; kills < KILLS; kills++) {
      await sleep(randomInt(2_500, 5_500));
      await consumer.kill();
      consumer = start();
    }
    phase(`${kills} kills done`);
    await shopWork;
    expect(sqlDone).toBe(true);
    phase('status changes done');

    const total = { email: ORDERS * PER_ORDER.email + CUSTOMERS, sms: ORDERS * PER_ORDER.sms, push: ORDERS * PER_ORDER.push };
    await waitCaughtUp(kafka, group, NOTIFICATION_TOPICS, 300_000);
    phase('group caught up');
    // Parked retries and claims of killed instances settle within a few seconds.
    const settled = async () => {
      const ledger = await readLedger(redis, prefix);
      return [...ledger.values()].filter((e) => e.s === 'sent' || e.s === 'in-doubt').length;
    };
    await expect.poll(settled, { timeout: 120_000, interval: 1_000 }).toBe(total.email + total.sms + total.push);
    phase('every delivery settled');
    await sleep(2_000);

    const ledger = await readLedger(redis, prefix);
    // (rule, order, channel) -> ledger entry: exactly one entry each, every one accounted for.
    const byDelivery = new Map<string, { id: string; entry: Record<string, string> }[]>();
    for (const [id, entry] of ledger) {
      const [rule, , pk, , channel] = id.split('/');
      const key = `${rule}/${pk}/${channel}`;
      byDelivery.set(key, [...(byDelivery.get(key) ?? []), { id, entry }]);
    }
    expect([...byDelivery.values()].filter((list) => list.length !== 1)).toEqual([]);
    const entries = [...ledger.entries()];
    const channelOf = (id: string) => id.split('/')[4]!;
    for (const channel of ['email', 'sms', 'push'] as const) {
      expect(entries.filter(([id]) => channelOf(id) === channel)).toHaveLength(total[channel]);
    }
    const unsettled = entries.filter(([id, e]) => !(e.s === 'sent' || (e.s === 'in-doubt' && channelOf(id) === 'sms' && e.why)));
    expect(unsettled).toEqual([]);
    for (const orderId of orders) {
      for (const rule of ['order-confirmation', 'order-paid', 'order-shipped', 'order-delivered']) {
        expect(byDelivery.has(`${rule}/id=${orderId}/email`), `${rule} email of order ${orderId}`).toBe(true);
      }
    }

    // Mailpit, by Message-ID.
    const mails = await mailpit.to(run);
    const perMessageId = countByMessageId(mails);
    const emailEntries = entries.filter(([id]) => channelOf(id) === 'email');
    expect(perMessageId.size).toBe(total.email);
    let emailResentTwice = 0;
    let emailInDoubt = 0;
    for (const [id, entry] of emailEntries) {
      const [rule, table, pk, lsn] = id.split('/') as [string, string, string, string];
      const messageId = messageIdFor({ rule, table, pk, lsn, channel: 'email' }, 'shop.example').slice(1, -1);
      const count = perMessageId.get(messageId) ?? 0;
      if (entry.doubt) emailInDoubt++;
      if (count >= 2) emailResentTwice++;
      expect(count === 1 || (count >= 2 && count <= Number(entry.n) && entry.doubt !== undefined), `${id}: ${count} in Mailpit, attempts ${entry.n}, doubt: ${entry.doubt}`).toBe(true);
    }

    // Twilio peer, by number and text.
    const phones = new Set(customers.map((c) => c.phone));
    const smsCounts = new Map<string, number>();
    for (const r of twilio.accepted().filter((r) => phones.has(r.to))) smsCounts.set(`${r.to}|${r.body}`, (smsCounts.get(`${r.to}|${r.body}`) ?? 0) + 1);
    expect([...smsCounts.values()].every((count) => count === 1)).toBe(true);
    const smsInDoubt = entries.filter(([id, e]) => channelOf(id) === 'sms' && e.s === 'in-doubt').length;
    expect(smsCounts.size).toBeGreaterThanOrEqual(total.sms - smsInDoubt);
    expect(smsCounts.size).toBeLessThanOrEqual(total.sms);

    // FCM peer, by notification id.
    const pushCounts = new Map<string, number>();
    const tokens = new Set(customers.map((c) => c.pushToken));
    for (const r of fcm.accepted().filter((r) => tokens.has(r.token))) pushCounts.set(r.notificationId, (pushCounts.get(r.notificationId) ?? 0) + 1);
    let pushResentTwice = 0;
    let pushInDoubt = 0;
    for (const [id, entry] of entries.filter(([id]) => channelOf(id) === 'push')) {
      const count = pushCounts.get(id) ?? 0;
      if (entry.doubt) pushInDoubt++;
      if (count >= 2) pushResentTwice++;
      expect(count === 1 || (count >= 2 && count <= Number(entry.n) && entry.doubt !== undefined), `${id}: ${count} at FCM, attempts ${entry.n}, doubt: ${entry.doubt}`).toBe(true);
    }
    expect(pushCounts.size).toBe(total.push);

    console.log(
      `[notification-crash] kills=${kills} deliveries=${ledger.size} (email ${total.email}, sms ${total.sms}, push ${total.push}); ` +
      `in doubt: email ${emailInDoubt} (${emailResentTwice} reached Mailpit again, same Message-ID), sms ${smsInDoubt} (held, ${total.sms - smsCounts.size} never reached the peer), ` +
      `push ${pushInDoubt} (${pushResentTwice} reached FCM again, same collapse key); duplicates outside in-doubt: 0; missing: 0`,
    );
  }, 900_000);
});
