/**
 * The notification consumer (its real entrypoint, in child processes) under provider faults and
 * group changes, on the real stack; each case with its own group, ledger and recipients:
 * - Mailpit's chaos trigger answers 451 to every RCPT: emails wait in their retry queue while push
 *   goes on and the changes are committed; once the trigger is off every email arrives, once per
 *   Message-ID;
 * - the Twilio and FCM peers answer 429/503 for 30 s (~45 s): email goes on, the group stays caught
 *   up, SMS and push retry, and afterwards everything has arrived, nothing twice;
 * - accept-then-drop: an `smtp-server` takes the DATA of a mail and drops the connection before
 *   answering; the mail is in doubt and sent again with the SAME Message-ID (recorded), and an SMS
 *   the Twilio peer accepted without answering is held in doubt and never sent again;
 * - two instances in one group, a third of the way in a second one joins (rebalance) and two
 *   thirds in the first one leaves (rebalance): every notification exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { FcmPeer } from '../helpers/fcm-peer.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import { Mailpit, countByMessageId } from '../helpers/mailpit.js';
import {
  CUSTOMERS_TOPIC, NOTIFICATION_TOPICS, NotificationProcess, consumerEnv, deleteKeys, logPath, readAttempts, readLedger, startGroupAtEnd, waitCaughtUp,
} from '../helpers/notification-consumer.js';
import { NotificationShop } from '../helpers/notification-shop.js';
import { waitForConnector } from '../helpers/pipeline.js';
import { TwilioPeer } from '../helpers/twilio-peer.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'redis', 'mailpit', 'smtp'))('notification consumer under faults', () => {
  const base = uniqueName('ntf-fault');
  let dir: string;
  let kafka: Kafka;
  let redis: Redis;
  let mailpit: Mailpit;
  let twilio: TwilioPeer;
  let fcm: FcmPeer;
  let shop: NotificationShop;
  const processes: NotificationProcess[] = [];
  const runs: string[] = [];

  /** A fresh group (starting at the topics' current end) and ledger for one case. */
  async function newRun(name: string): Promise<string> {
    const run = `${base}-${name}`;
    runs.push(run);
    await startGroupAtEnd(kafka, `${run}-group`);
    return run;
  }

  function start(run: string, extra: Record<string, string> = {}, name = run): NotificationProcess {
    const process = NotificationProcess.start(
      consumerEnv({ kafka: engines().kafka, redis: engines().redis, smtp: engines().smtp, run }, {
        ...twilio.env(), ...fcm.env(),
        NOTIFY_RATE_LIMIT_EMAIL_PER_MINUTE: '0', NOTIFY_RATE_LIMIT_SMS_PER_MINUTE: '0', NOTIFY_RATE_LIMIT_PUSH_PER_MINUTE: '0',
        ...extra,
      }),
      logPath(dir, `${name}-${processes.length}`),
    );
    processes.push(process);
    return process;
  }

  async function caughtUp(run: string, timeoutMs = 180_000): Promise<void> {
    await waitCaughtUp(kafka, `${run}-group-contacts`, [CUSTOMERS_TOPIC], timeoutMs);
    await waitCaughtUp(kafka, `${run}-group`, NOTIFICATION_TOPICS, timeoutMs);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ntf-fault-'));
    kafka = new Kafka({ clientId: base, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    redis = new Redis(engines().redis);
    mailpit = new Mailpit(engines().mailpit);
    await mailpit.chaos();
    twilio = await TwilioPeer.start();
    fcm = await FcmPeer.start();
    shop = await NotificationShop.connect(engines().postgres, base);
    await waitForConnector();
  });

  // A case's consumers never outlive it: a leftover one (its own group and ledger) would send the
  // next case's notifications a second time.
  afterEach(async () => {
    await Promise.all(processes.map((p) => p.kill()));
  });

  afterAll(async () => {
    await mailpit?.chaos().catch(() => undefined);
    await shop?.close();
    await deleteGroupsAndTopics(kafka, { groups: runs.flatMap((run) => [`${run}-group`, `${run}-group-contacts`]), topics: runs.map((run) => `${run}.dlq`) });
    for (const run of runs) await deleteKeys(redis, `${run}:`);
    const ours = await mailpit.to(base).catch(() => []);
    await mailpit.delete(ours.map((m) => m.ID)).catch(() => undefined);
    await redis.quit();
    await twilio?.close();
    await fcm?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Mailpit answering 451 to every RCPT: email waits and retries, push goes on; afterwards every mail once', async () => {
    const run = await newRun('chaos');
    const consumer = start(run);
    await caughtUp(run);
    await mailpit.chaos({ Recipient: { ErrorCode: 451, Probability: 100 } });
    try {
      const customer = await shop.customer(`${run}-c`);
      const orders = await shop.orders(customer.id, 5, `${run}-O`);
      // push arrives while every email is refused
      await expect.poll(() => fcm.accepted().filter((r) => r.token === customer.pushToken).length, { timeout: 60_000, interval: 250 }).toBe(5);
      await sleep(3_000);
      expect(await mailpit.to(run)).toHaveLength(0);
      const during = [...(await readLedger(redis, `${run}:`)).values()].filter((e) => e.ch === 'email');
      expect(during.length).toBe(6);
      expect(during.every((e) => e.s === 'retry' || e.s === 'claimed')).toBe(true);
      // parked in the email retry queue, so the changes themselves are settled and committed
      expect(await redis.zcard(`${run}:due:email`)).toBeGreaterThan(0);
      await caughtUp(run, 20_000);
      await mailpit.chaos();
      await expect.poll(async () => (await mailpit.to(run)).length, { timeout: 60_000, interval: 500 }).toBe(6);
      await caughtUp(run);
      const mails = await mailpit.to(run);
      expect([...countByMessageId(mails).values()]).toEqual([1, 1, 1, 1, 1, 1]);
      const ledger = [...(await readLedger(redis, `${run}:`)).values()].filter((e) => e.ch === 'email');
      expect(ledger.every((e) => e.s === 'sent' && Number(e.n) >= 2)).toBe(true);
      const refused = (await readAttempts(redis, `${run}:`)).filter((a) => a.outcome === 'retry');
      expect(refused.length).toBeGreaterThanOrEqual(6);
      expect(refused[0]!.reason).toMatch(/SMTP RCPT TO .*451/);
      expect(orders).toHaveLength(5);
    } finally {
      await mailpit.chaos();
      await consumer.stop();
    }
  });

  it('the Twilio and FCM peers answering 429/503 for 30 s: email goes on, SMS and push all arrive afterwards, nothing twice', async () => {
    const run = await newRun('outage');
    const consumer = start(run);
    await caughtUp(run);
    const customers = [await shop.customer(`${run}-a`), await shop.customer(`${run}-b`)];
    twilio.outage(30_000);
    fcm.outage(30_000);
    const started = Date.now();
    const orders: number[] = [];
    for (const customer of customers) orders.push(...(await shop.orders(customer.id, 5, `${run}-${customer.id}`)));
    await shop.setStatus(orders, 'paid');
    // During the outage: every email (2 welcomes, 10 confirmations, 10 payments), no SMS, no push.
    await expect.poll(async () => (await mailpit.to(run)).length, { timeout: 25_000, interval: 500 }).toBe(22);
    const phones = new Set(customers.map((c) => c.phone));
    const tokens = new Set(customers.map((c) => c.pushToken));
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(twilio.accepted().filter((r) => phones.has(r.to))).toHaveLength(0);
    expect(fcm.accepted().filter((r) => tokens.has(r.token))).toHaveLength(0);
    expect(twilio.requests.filter((r) => phones.has(r.to) && (r.status === 429 || r.status === 503)).length).toBeGreaterThan(0);
    // The outage does not hold the pipeline up: every change is committed while SMS and push wait
    // in their retry queues.
    await caughtUp(run, 20_000);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await redis.zcard(`${run}:due:sms`)).toBeGreaterThan(0);

    await expect.poll(() => twilio.accepted().filter((r) => phones.has(r.to)).length, { timeout: 90_000, interval: 500 }).toBe(10);
    await expect.poll(() => fcm.accepted().filter((r) => tokens.has(r.token)).length, { timeout: 90_000, interval: 500 }).toBe(20);
    await caughtUp(run);
    await sleep(2_000);
    const sms = twilio.accepted().filter((r) => phones.has(r.to));
    expect(new Set(sms.map((r) => `${r.to} ${r.body}`)).size).toBe(10);
    const pushes = fcm.accepted().filter((r) => tokens.has(r.token));
    expect(new Set(pushes.map((r) => r.notificationId)).size).toBe(20);
    expect([...countByMessageId(await mailpit.to(run)).values()].every((n) => n === 1)).toBe(true);
    const ledger = [...(await readLedger(redis, `${run}:`)).values()];
    expect(ledger).toHaveLength(22 + 10 + 20);
    expect(ledger.every((e) => e.s === 'sent')).toBe(true);
    expect(ledger.filter((e) => e.ch === 'sms').every((e) => Number(e.n) >= 2)).toBe(true);
    await consumer.stop();
  }, 180_000);

  it('accept-then-drop: the mail is sent again with the same Message-ID and recorded in doubt; the SMS is held in doubt, never resent', async () => {
    const run = await newRun('drop');
    // An SMTP server that takes the DATA of the first order confirmation, then drops the connection
    // without answering; it behaves from then on.
    const received: { messageId: string; subject: string }[] = [];
    const sockets = new Map<number, Socket>();
    let dropped = 0;
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const messageId = /^Message-ID:\s*(<[^>]+>)/im.exec(raw)?.[1] ?? '';
          received.push({ messageId, subject: /^Subject:\s*(.*)$/im.exec(raw)?.[1] ?? '' });
          if (dropped === 0 && messageId.startsWith('<order-confirmation.')) {
            dropped++;
            sockets.get(session.remotePort)?.destroy();
            return;
          }
          callback();
        });
      },
    });
    (smtp as unknown as { server: import('node:net').Server }).server.on('connection', (socket: Socket) => sockets.set(socket.remotePort!, socket));
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = ((smtp as unknown as { server: import('node:net').Server }).server.address() as import('node:net').AddressInfo).port;
    const consumer = start(run, { SMTP_URL: `smtp://127.0.0.1:${port}` });
    try {
      await caughtUp(run);
      const customer = await shop.customer(`${run}-c`);
      const order = await shop.order(customer.id, `${run}-O`);
      await expect.poll(() => received.filter((r) => r.messageId.startsWith('<order-confirmation.')).length, { timeout: 60_000, interval: 250 }).toBe(2);
      twilio.dropAfterAccepting(1);
      await shop.setStatus(order, 'paid');
      await expect.poll(() => received.filter((r) => r.messageId.startsWith('<order-paid.')).length, { timeout: 60_000, interval: 250 }).toBe(1);
      await caughtUp(run);
      await sleep(3_000);

      const confirmations = received.filter((r) => r.messageId.startsWith('<order-confirmation.'));
      expect(confirmations).toHaveLength(2);
      expect(confirmations[0]!.messageId).toBe(confirmations[1]!.messageId);
      const ledger = await readLedger(redis, `${run}:`);
      const find = (rule: string, channel: string) => [...ledger].find(([id]) => id.startsWith(`${rule}/`) && id.endsWith(`/${channel}`))![1];
      const email = find('order-confirmation', 'email');
      expect(email).toMatchObject({ s: 'sent', n: '2' });
      expect(email.doubt).toMatch(/SMTP exchange broke off without a reply/);

      const sms = find('order-paid', 'sms');
      expect(sms.s).toBe('in-doubt');
      expect(sms.why).toMatch(/no answer from Twilio/);
      expect(twilio.requests.filter((r) => r.to === customer.phone)).toHaveLength(1); // accepted once, never again
      const inDoubt = await redis.zrange(`${run}:in-doubt`, 0, -1);
      expect(inDoubt.some((id) => id.startsWith('order-paid/') && id.endsWith('/sms'))).toBe(true);
      // the other channels of the same change were not held up
      expect(find('order-paid', 'push').s).toBe('sent');
      expect(find('order-paid', 'email').s).toBe('sent');
    } finally {
      await consumer.stop();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  });

  it('two instances in one group, with a rebalance when the second joins and another when the first leaves: exactly once', async () => {
    const run = await newRun('rebalance');
    const first = start(run, {}, `${run}-first`);
    await caughtUp(run);
    const customers = [];
    for (let i = 0; i < 5; i++) customers.push(await shop.customer(`${run}-c${i}`));
    let second: NotificationProcess | null = null;
    const batches: number[][] = [];
    for (let round = 0; round < 15; round++) {
      batches.push(await shop.orders(customers[round % 5]!.id, 10, `${run}-r${round}`));
      if (round >= 1) await shop.setStatus(batches[round - 1]!, 'paid');
      if (round >= 2) await shop.setStatus(batches[round - 2]!, 'shipped');
      if (round === 4) second = start(run, {}, `${run}-second`);
      if (round === 10) expect(await first.stop()).toBe(0);
      await sleep(800);
    }
    await shop.setStatus(batches[14]!, 'paid');
    await shop.setStatus(batches[13]!, 'shipped');
    await shop.setStatus(batches[14]!, 'shipped');
    const orders = batches.length * 10;
    // welcome + per order confirmation, paid, shipped
    const emails = 5 + orders * 3;
    await expect.poll(async () => (await mailpit.to(run)).length, { timeout: 180_000, interval: 1_000 }).toBeGreaterThanOrEqual(emails);
    await caughtUp(run);
    await sleep(2_000);

    const mails = await mailpit.to(run);
    expect(mails).toHaveLength(emails);
    expect(new Set(mails.map((m) => m.MessageID)).size).toBe(emails);
    const phones = new Set(customers.map((c) => c.phone));
    const tokens = new Set(customers.map((c) => c.pushToken));
    const sms = twilio.requests.filter((r) => phones.has(r.to));
    expect(sms).toHaveLength(orders * 2);
    expect(new Set(sms.map((r) => `${r.to} ${r.body}`)).size).toBe(orders * 2);
    const pushes = fcm.requests.filter((r) => tokens.has(r.token));
    expect(pushes).toHaveLength(orders * 3);
    expect(new Set(pushes.map((r) => r.notificationId)).size).toBe(orders * 3);
    const ledger = [...(await readLedger(redis, `${run}:`)).values()];
    expect(ledger).toHaveLength(emails + orders * 5);
    expect(ledger.filter((e) => e.s !== 'sent')).toEqual([]);
    // both instances did part of the work
    const senders = new Set((await readAttempts(redis, `${run}:`)).filter((a) => a.outcome === 'sent').map((a) => a.by));
    expect(senders.size).toBe(2);
    await second?.stop();
  }, 300_000);
});
