/**
 * The notification consumer end to end on the real stack: SQL on PostgreSQL -> Debezium -> Kafka
 * -> `consumers/notification/main.ts` in its own process -> real SMTP (Mailpit, read back through
 * its REST API), the local Twilio Messages peer (real `twilio` library) and the local FCM peer
 * (real `firebase-admin`, over TLS with a test CA).
 *
 * The consumer starts like a new deployment: a fresh group from offset 0 and a fresh ledger, so it
 * first works through everything already in the topics. Then every rule of rules.yaml fires once
 * from real SQL, and so do the changes that must not notify; each assertion looks only at this
 * run's recipients. Last, the whole group is rewound to offset 0 and replayed: nothing new may
 * reach Mailpit or the peers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { FcmPeer } from '../helpers/fcm-peer.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import { Mailpit, countByMessageId, type MailSummary } from '../helpers/mailpit.js';
import {
  CUSTOMERS_TOPIC, NOTIFICATION_TOPICS, NotificationProcess, consumerEnv, deleteKeys, logPath, readAttempts, readLedger, rewindGroup, waitCaughtUp,
} from '../helpers/notification-consumer.js';
import { NotificationShop } from '../helpers/notification-shop.js';
import { waitForConnector } from '../helpers/pipeline.js';
import { INVALID_NUMBER, TwilioPeer, UNSUBSCRIBED_NUMBER } from '../helpers/twilio-peer.js';
import { redactPhone } from '../../consumers/notification/redact.js';

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'redis', 'mailpit', 'smtp'))('notification consumer end to end', () => {
  const run = uniqueName('ntf-e2e');
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
  let optOutColumnAdded = false;

  const env = () =>
    consumerEnv({ kafka: engines().kafka, redis: engines().redis, smtp: engines().smtp, run }, {
      ...twilio.env(),
      ...fcm.env(),
      NOTIFY_OPERATIONS_EMAIL: `${run}-ops@example.com`,
      NOTIFY_RATE_LIMIT_EMAIL_PER_MINUTE: '12',
      NOTIFY_RATE_LIMIT_SMS_PER_MINUTE: '12',
      NOTIFY_RATE_LIMIT_PUSH_PER_MINUTE: '12',
      NOTIFY_CONTACT_WAIT_MS: '30000',
    });

  async function caughtUp(timeoutMs = 240_000): Promise<void> {
    await waitCaughtUp(kafka, `${group}-contacts`, [CUSTOMERS_TOPIC], timeoutMs);
    await waitCaughtUp(kafka, group, NOTIFICATION_TOPICS, timeoutMs);
  }

  /** This run's mails, as (recipient label, subject), sorted. */
  async function mails(): Promise<MailSummary[]> {
    return mailpit.to(run);
  }
  const label = (address: string) => address.slice(run.length + 1, address.indexOf('@'));
  const mailList = (list: MailSummary[]) => list.map((m) => `${label(m.To[0]!.Address)}: ${m.Subject}`).sort();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ntf-e2e-'));
    kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    redis = new Redis(engines().redis);
    mailpit = new Mailpit(engines().mailpit);
    await mailpit.chaos();
    twilio = await TwilioPeer.start();
    fcm = await FcmPeer.start();
    shop = await NotificationShop.connect(engines().postgres, run);
    await waitForConnector();
    // A new deployment: group from offset 0, empty ledger; it works through the topics' history first.
    consumer = NotificationProcess.start(env(), logPath(dir, 'consumer-1'));
    await caughtUp(600_000);
  }, 660_000);

  afterAll(async () => {
    await consumer?.kill();
    if (optOutColumnAdded) await shop.db.query('ALTER TABLE customers DROP COLUMN IF EXISTS sms_opt_out').catch(() => undefined);
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

  it('sends every rule of the table once, on its channels, and nothing for the changes that must not notify', async () => {
    // Opt-out: a customers row may carry sms_opt_out (the shop's schema has none; added for this test).
    await shop.db.query('ALTER TABLE customers ADD COLUMN IF NOT EXISTS sms_opt_out boolean NOT NULL DEFAULT false');
    optOutColumnAdded = true;

    const alice = await shop.customer('alice', { firstName: '<script>alert("x")</script>Alice' });
    const bob = await shop.customer('bob', { phone: null, pushToken: null });
    const carol = await shop.customer('carol', { phone: INVALID_NUMBER, pushToken: `unregistered-${run}-carol` });
    const dave = await shop.customer('dave', { phone: UNSUBSCRIBED_NUMBER });
    // The flag comes with the INSERT: the contact never exists without it.
    const olgaPhone = shop.phone();
    const { rows: [inserted] } = await shop.db.query<{ id: number }>(
      `INSERT INTO customers (email, first_name, last_name, phone, push_token, sms_opt_out) VALUES ($1, 'olga', 'Tester', $2, $3, true) RETURNING id`,
      [shop.email('olga'), olgaPhone, `fcm:${run}-olga`],
    );
    shop.created.customers.push(inserted!.id);
    const olga = { id: inserted!.id, phone: olgaPhone };
    const rita = await shop.customer('rita', { pushToken: null });

    // alice: the whole life of an order, plus a cancelled and a refunded one.
    const a1 = await shop.order(alice.id, 'A1');
    await shop.setStatus(a1, 'paid');
    await shop.db.query(`UPDATE orders SET notes = 'please ring twice' WHERE id = $1`, [a1]); // status unchanged: nothing
    await shop.setStatus(a1, 'processing'); // no rule for processing: nothing
    await shop.setStatus(a1, 'shipped');
    await shop.setStatus(a1, 'delivered');
    const a2 = await shop.order(alice.id, 'A2');
    await shop.setStatus(a2, 'cancelled');
    const a3 = await shop.order(alice.id, 'A3', '19.99');
    await shop.setStatus(a3, 'refunded');
    await shop.db.query(`UPDATE customers SET last_name = 'Renamed' WHERE id = $1`, [alice.id]); // nothing
    // bob has no phone and no push token; carol an invalid number and an unregistered token; dave
    // unsubscribed from SMS; olga opted out of SMS.
    const b1 = await shop.order(bob.id, 'B1');
    await shop.setStatus(b1, 'paid');
    const c1 = await shop.order(carol.id, 'C1');
    await shop.setStatus(c1, 'paid');
    const d1 = await shop.order(dave.id, 'D1');
    await shop.setStatus(d1, 'shipped');
    const o1 = await shop.order(olga.id, 'O1');
    await shop.setStatus(o1, 'paid');
    // rita: 15 orders in one statement, against an email limit of 12 a minute.
    const ritaOrders = await shop.orders(rita.id, 15, 'R');
    // a delete notifies nobody
    const gone = await shop.order(bob.id, 'GONE');
    await shop.db.query('DELETE FROM orders WHERE id = $1', [gone]);
    shop.created.orders.splice(shop.created.orders.indexOf(gone), 1);
    // low stock: the crossing only (12 -> 9 alerts, 5 and a restock do not, 50 -> 8 alerts again).
    const product = await shop.product('P1', 12, 10);
    for (const stock of [9, 5, 50, 8]) await shop.setStock(product, stock);

    // The last change's notification has arrived: every change before it is in Kafka; then the
    // group has to have committed all of it.
    await expect.poll(async () => (await mails()).some((m) => m.Subject === `Low stock: ${run}-P1 (8 left)`), { timeout: 120_000, interval: 500 }).toBe(true);
    await caughtUp();

    const emails = await mails();
    const n = (o: number) => `${run}-${['A1', 'A2', 'A3', 'B1', 'C1', 'D1', 'O1'][[a1, a2, a3, b1, c1, d1, o1].indexOf(o)]}-1`;
    const expectedEmails = [
      'alice: Welcome to Shop, <script>alert("x")</script>Alice!',
      `alice: Order ${n(a1)} confirmed`, `alice: Payment received for order ${n(a1)}`, `alice: Order ${n(a1)} has shipped`, `alice: Order ${n(a1)} was delivered`,
      `alice: Order ${n(a2)} confirmed`, `alice: Order ${n(a2)} was cancelled`, `alice: Order ${n(a3)} confirmed`, `alice: Refund for order ${n(a3)}`,
      'bob: Welcome to Shop, bob!', `bob: Order ${n(b1)} confirmed`, `bob: Payment received for order ${n(b1)}`, `bob: Order ${run}-GONE-1 confirmed`,
      'carol: Welcome to Shop, carol!', `carol: Order ${n(c1)} confirmed`, `carol: Payment received for order ${n(c1)}`,
      'dave: Welcome to Shop, dave!', `dave: Order ${n(d1)} confirmed`, `dave: Order ${n(d1)} has shipped`,
      'olga: Welcome to Shop, olga!', `olga: Order ${n(o1)} confirmed`, `olga: Payment received for order ${n(o1)}`,
      `ops: Low stock: ${run}-P1 (9 left)`, `ops: Low stock: ${run}-P1 (8 left)`,
    ].sort();
    // (The operations address also got the alerts of products the topics' history holds.)
    expect(mailList(emails).filter((line) => !line.startsWith('rita:') && !(line.startsWith('ops:') && !line.includes(run)))).toEqual(expectedEmails);
    expect([...countByMessageId(emails).values()].every((count) => count === 1)).toBe(true);
    // rita: a welcome and 15 confirmations within a minute against a limit of 12 a minute. Which 12
    // depends on the order partitions are processed in; how many does not.
    const ritaMails = mailList(emails).filter((line) => line.startsWith('rita:'));
    expect(ritaMails).toHaveLength(12);
    expect(ritaMails.every((line) => line === 'rita: Welcome to Shop, rita!' || new RegExp(`^rita: Order ${run}-R-\\d+ confirmed$`).test(line))).toBe(true);

    // The message itself: customer-written text escaped in HTML, money exact, stable Message-ID.
    const confirmation = emails.find((m) => m.Subject === `Order ${n(a1)} confirmed`)!;
    expect(confirmation.MessageID).toMatch(new RegExp(`^order-confirmation\\.orders\\.${a1}\\.\\d+@shop\\.example$`));
    const full = await mailpit.message(confirmation.ID);
    expect(full.HTML).toContain('Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;Alice,');
    expect(full.HTML).not.toContain('<script>');
    expect(full.Text).toContain('Total:  25000.00 USD');
    const refund = await mailpit.message(emails.find((m) => m.Subject === `Refund for order ${n(a3)}`)!.ID);
    expect(refund.Text).toContain('we have refunded 19.99 USD for your order.');

    // SMS at the Twilio peer: paid and shipped (email + SMS + push), cancelled and refunded (email + SMS).
    const ours = new Set([alice.phone, dave.phone, olga.phone, rita.phone, INVALID_NUMBER, UNSUBSCRIBED_NUMBER]);
    const sms = twilio.requests.filter((r) => ours.has(r.to) && r.body.includes(run));
    expect(sms.filter((r) => r.status === 201).map((r) => `${r.to === alice.phone ? 'alice' : r.to}: ${r.body}`).sort()).toEqual([
      `alice: Shop: payment of 25000.00 USD for order ${n(a1)} received. Thank you, <script>alert("x")</script>Alice!`,
      `alice: Shop: your order ${n(a1)} has shipped.`,
      `alice: Shop: your order ${n(a2)} was cancelled.`,
      `alice: Shop: 19.99 USD for order ${n(a3)} has been refunded.`,
    ].sort());
    // carol's invalid number and dave's unsubscribed number were each tried once and recorded failed.
    expect(sms.filter((r) => r.status === 400).map((r) => r.to).sort()).toEqual([INVALID_NUMBER, UNSUBSCRIBED_NUMBER].sort());

    // Push at the FCM peer: confirmation, paid, shipped, delivered; one collapse key per order.
    const pushes = fcm.requests.filter((r) => r.token.includes(run));
    expect(pushes.filter((r) => r.status === 200).map((r) => `${r.collapseKey}: ${r.title}`).sort()).toEqual([
      `orders-${a1}: Order confirmed`, `orders-${a1}: Payment received`, `orders-${a1}: Your order has shipped`, `orders-${a1}: Delivered`,
      `orders-${a2}: Order confirmed`, `orders-${a3}: Order confirmed`,
      `orders-${d1}: Order confirmed`, `orders-${d1}: Your order has shipped`,
      `orders-${o1}: Order confirmed`, `orders-${o1}: Payment received`,
    ].sort());
    expect(pushes.every((r) => r.notificationId.endsWith('/push') && r.notificationId.includes(`/orders/id=`))).toBe(true);
    expect(pushes.filter((r) => r.status === 404).map((r) => r.collapseKey).sort()).toEqual([`orders-${c1}`, `orders-${c1}`]);

    // The ledger: every decision recorded, with its reason.
    const ledger = await readLedger(redis, prefix);
    const entry = (rule: string, orderId: number, channel: string) => [...ledger].find(([id]) => id.startsWith(`${rule}/orders/id=${orderId}/`) && id.endsWith(`/${channel}`))?.[1];
    expect(entry('order-paid', a1, 'sms')).toMatchObject({ s: 'sent', n: '1', to: redactPhone(alice.phone!) });
    expect(entry('order-paid', a1, 'sms')!.pid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(entry('order-paid', b1, 'sms')).toMatchObject({ s: 'skipped', why: 'no phone number' });
    expect(entry('order-confirmation', b1, 'push')).toMatchObject({ s: 'skipped', why: 'no push token' });
    expect(entry('order-paid', c1, 'sms')).toMatchObject({ s: 'failed' });
    expect(entry('order-paid', c1, 'sms')!.why).toContain('21211');
    expect(entry('order-paid', c1, 'push')!.why).toContain('registration-token-not-registered');
    expect(entry('order-paid', c1, 'email')).toMatchObject({ s: 'sent' });
    expect(entry('order-shipped', d1, 'sms')!.why).toContain('21610');
    expect(entry('order-paid', o1, 'sms')).toMatchObject({ s: 'skipped', why: 'opted out of sms' });
    // rita's rows only: the group starts at the topics' beginning, so the ledger also holds whatever else they carry.
    const ritaRows = new Set([...ritaOrders.map((id) => `/orders/id=${id}/`), `/customers/id=${rita.id}/`]);
    const ritaSkipped = [...ledger].filter(([id, e]) => [...ritaRows].some((row) => id.includes(row)) && e.ch === 'email' && e.s === 'skipped' && e.why?.startsWith('rate limited')).map(([, e]) => e);
    expect(ritaSkipped).toHaveLength(4);
    expect(ritaSkipped[0]!.why).toMatch(/^rate limited: at most 12 per 60 s/);
    // No ledger entry at all for the changes that must not notify (notes, processing, rename, delete).
    expect([...ledger.keys()].filter((id) => id.startsWith('order-') && id.includes(`/id=${a1}/`)).map((id) => id.split('/')[0]).sort()).toEqual(
      ['order-confirmation', 'order-confirmation', 'order-paid', 'order-paid', 'order-paid', 'order-shipped', 'order-shipped', 'order-shipped', 'order-delivered', 'order-delivered'].sort(),
    );

    // The audit trail shows recipients redacted only.
    const attempts = (await readAttempts(redis, prefix)).filter((a) => a.id!.includes(`/id=${a1}/`) || a.id!.startsWith('welcome/'));
    expect(attempts.length).toBeGreaterThan(10);
    const audit = JSON.stringify(attempts);
    for (const secret of [alice.email, alice.phone!, alice.pushToken!]) expect(audit).not.toContain(secret);
    expect(attempts.find((a) => a.id === [...ledger.keys()].find((id) => id.startsWith(`order-paid/orders/id=${a1}/`) && id.endsWith('/sms')))).toMatchObject({ outcome: 'sent', n: '1' });
  });

  it('a replay of every topic from offset 0 sends nothing new', async () => {
    await consumer!.stop();
    const mailsBefore = await mailpit.accepted();
    const smsBefore = twilio.requests.length;
    const pushBefore = fcm.requests.length;
    const ledgerBefore = await readLedger(redis, prefix);

    await rewindGroup(kafka, group);
    await rewindGroup(kafka, `${group}-contacts`, [CUSTOMERS_TOPIC]);
    consumer = NotificationProcess.start(env(), logPath(dir, 'consumer-replay'));
    await caughtUp(600_000);

    expect(await mailpit.accepted()).toBe(mailsBefore);
    expect(twilio.requests.length).toBe(smsBefore);
    expect(fcm.requests.length).toBe(pushBefore);
    const ledgerAfter = await readLedger(redis, prefix);
    expect(ledgerAfter.size).toBe(ledgerBefore.size);
    for (const [id, entry] of ledgerBefore) expect(ledgerAfter.get(id)?.s, id).toBe(entry.s);
  }, 660_000);
});
