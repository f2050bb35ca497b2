/**
 * Bad input and missing credentials, through the real pipeline (PostgreSQL -> Debezium -> Kafka ->
 * Runner -> NotificationSink -> Mailpit), with a rules table that does not know the status
 * "processing" and a template that refers to a column orders do not have:
 * - an unknown status, a missing template variable, and an order whose customer never arrives on
 *   the customers topic (no contacts pipeline runs here; NOTIFY_CONTACT_WAIT_MS=3000) each go to
 *   the dead-letter topic with a clear reason, and the pipeline goes on;
 * - without Twilio / FCM credentials, SMS and push go to the dev outbox, recorded as skipped, never
 *   reported as sent.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { loadNotificationConfig } from '../../consumers/notification/notification-config.js';
import { NotificationSink } from '../../consumers/notification/notification-sink.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import type { RowChangeEvent } from '../../consumers/core/change-event.js';
import { create } from '../helpers/events.js';
import { fixtureEvent } from '../helpers/fixtures.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import { Mailpit } from '../helpers/mailpit.js';
import { deleteKeys, readLedger, startGroupAtEnd } from '../helpers/notification-consumer.js';
import { NotificationShop } from '../helpers/notification-shop.js';
import { startPipeline, waitForConnector, type Pipeline } from '../helpers/pipeline.js';

const ROOM = resolve(import.meta.dirname, '../../consumers/notification');

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'redis', 'mailpit', 'smtp'))('notification consumer: bad input and no credentials', () => {
  const run = uniqueName('ntf-bad');
  const prefix = `${run}:`;
  const groupId = `${run}-group`;
  const deadLetterTopic = `${run}.dlq`;
  const logger = createLogger({ consumer: 'notification-bad-input', level: 'silent', pretty: false });
  let dir: string;
  let kafka: Kafka;
  let redis: Redis;
  let mailpit: Mailpit;
  let shop: NotificationShop;
  let pipeline: Pipeline<NotificationSink>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ntf-bad-'));
    // The rules without "processing" among the known statuses; order-shipped's subject refers to a column orders lack.
    writeFileSync(join(dir, 'rules.yaml'), readFileSync(join(ROOM, 'rules.yaml'), 'utf8').replace('[pending, paid, processing, shipped', '[pending, paid, shipped'));
    cpSync(join(ROOM, 'templates'), join(dir, 'templates'), { recursive: true });
    writeFileSync(join(dir, 'templates/order-shipped/subject.hbs'), 'Order {{order.order_number}} has shipped with {{order.gift_message}}\n');

    kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    redis = new Redis(engines().redis);
    mailpit = new Mailpit(engines().mailpit);
    await mailpit.chaos();
    shop = await NotificationShop.connect(engines().postgres, run);
    await waitForConnector();
    await startGroupAtEnd(kafka, groupId);
    const config = loadNotificationConfig(configEnv(prefix));
    pipeline = await startPipeline({ consumerName: 'notification', sink: new NotificationSink({ config, logger }), groupId, deadLetterTopic, logger });
  });

  afterAll(async () => {
    await pipeline?.stop();
    await shop?.close();
    await deleteGroupsAndTopics(kafka, { groups: [groupId, `${run}-dlq-reader`], topics: [deadLetterTopic] });
    await deleteKeys(redis, prefix);
    await mailpit.delete((await mailpit.to(run).catch(() => [])).map((m) => m.ID)).catch(() => undefined);
    await redis.quit();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The sink's settings in this file: its rules and templates, a 3 s contact wait. */
  function configEnv(keyPrefix: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      REDIS_URL: engines().redis, SMTP_URL: engines().smtp, NOTIFY_KEY_PREFIX: keyPrefix,
      NOTIFY_RULES_FILE: join(dir, 'rules.yaml'), NOTIFY_TEMPLATES_DIR: join(dir, 'templates'), NOTIFY_CONTACT_WAIT_MS: '3000',
      ...extra,
    };
  }

  async function deadLetters(count: number): Promise<KafkaMessage[]> {
    const consumer = kafka.consumer({ groupId: `${run}-dlq-reader` });
    const messages: KafkaMessage[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: deadLetterTopic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
    const deadline = Date.now() + 60_000;
    while (messages.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    await new Promise((r) => setTimeout(r, 1_000));
    await consumer.disconnect();
    return messages;
  }

  it('dead-letters an unknown status, a missing template variable and an unknown customer; the rest goes on', async () => {
    const known = await shop.customer('known');
    const unknown = await shop.customer('unknown');
    // Only `known` is in the contacts (no contacts pipeline runs in this test).
    await pipeline.sink.contacts.apply([create('customers', { id: known.id }, { id: known.id, email: known.email, first_name: 'known', last_name: 'Tester', phone: known.phone, push_token: known.pushToken }, 1)]);

    const order = await shop.order(known.id, 'K1');
    await shop.setStatus(order, 'paid');
    await shop.setStatus(order, 'processing'); // unknown to these rules
    await shop.setStatus(order, 'shipped'); // template needs order.gift_message
    await shop.setStatus(order, 'delivered'); // fine again
    const stranger = await shop.order(unknown.id, 'U1'); // customer never arrives

    const letters = await deadLetters(3);
    const reasons = letters.map((m) => m.headers?.['dlq.error']?.toString() ?? '').sort();
    expect(letters).toHaveLength(3);
    expect(reasons[0]).toMatch(/customer \d+ of orders id=\d+ is still unknown after \d+ s \(NOTIFY_CONTACT_WAIT_MS=3000\): no change of that customer arrived on the customers topic/);
    expect(reasons.some((r) => /template order-shipped\/subject\.hbs cannot be rendered: "gift_message" not defined/.test(r))).toBe(true);
    expect(reasons.some((r) => /unknown orders\.status "processing": expected one of pending, paid, shipped/.test(r))).toBe(true);
    expect(letters.every((m) => m.headers?.['dlq.consumer']?.toString() === 'notification')).toBe(true);
    expect(JSON.stringify(letters.map((m) => m.key?.toString()))).toContain(String(stranger));

    // The changes around the bad ones were notified: welcomes, confirmation, payment, delivery.
    await expect.poll(async () => (await mailpit.to(run)).map((m) => m.Subject).sort(), { timeout: 30_000 }).toEqual(
      ['Welcome to Shop, known!', 'Welcome to Shop, unknown!', `Order ${run}-K1-1 confirmed`, `Order ${run}-K1-1 was delivered`, `Payment received for order ${run}-K1-1`].sort(),
    );
  });

  it('no Twilio / FCM credentials: SMS and push go to the dev outbox, recorded as skipped, never as sent', async () => {
    const ledger = [...(await readLedger(redis, prefix)).entries()];
    const smsAndPush = ledger.filter(([id]) => id.endsWith('/sms') || id.endsWith('/push'));
    expect(smsAndPush.map(([id]) => id.split('/')[0] + '/' + id.split('/')[4]).sort()).toEqual(['order-confirmation/push', 'order-delivered/push', 'order-paid/push', 'order-paid/sms'].sort());
    expect(smsAndPush.every(([, e]) => e.s === 'skipped' && e.why === 'no credentials (dev outbox)')).toBe(true);
    const outbox = await redis.xrange(`${prefix}dev-outbox`, '-', '+');
    expect(outbox).toHaveLength(4);
    const sms = outbox.map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]]))).find((f) => f.channel === 'sms')!;
    expect(sms.note).toBe('NOT SENT: no credentials configured');
    expect(JSON.parse(sms.message!).body).toContain(`payment of 25000.00 USD for order ${run}-K1-1 received`);
    expect(sms.to).toMatch(/^\+\*+\d{4}$/);
  });

  it('a contact arriving just behind its order is found by the write itself (NOTIFY_CONTACT_POLL_MS): sent, no retry', async () => {
    // A real captured order INSERT, for a customer the contacts do not know yet.
    const captured = fixtureEvent('orders-create') as RowChangeEvent;
    const customerId = 900_000_000 + (process.pid % 100_000);
    const email = `${run}-late@example.com`;
    const order: RowChangeEvent = { ...captured, after: { ...captured.after!, customer_id: customerId } };
    const contact = create('customers', { id: customerId }, { id: customerId, email, first_name: 'late', last_name: 'Tester', phone: null, push_token: null }, 1);

    const sinkWith = async (keyPrefix: string, extra: Record<string, string>) => {
      const sink = new NotificationSink({ config: loadNotificationConfig(configEnv(keyPrefix, extra)), logger });
      await sink.start();
      return sink;
    };
    // Without the look-again, the same moment answers retry (the partition backs off >= 200 ms).
    const impatient = await sinkWith(`${prefix}impatient:`, { NOTIFY_CONTACT_POLL_MS: '0' });
    try {
      expect((await impatient.write([order]))[0]!.status).toBe('retry');
    } finally {
      await impatient.close();
    }

    const sink = await sinkWith(`${prefix}late:`, {}); // the default: 500 ms
    try {
      const arrives = new Promise<void>((done) => setTimeout(() => void sink.contacts.apply([contact]).then(() => done()), 100));
      const started = Date.now();
      const [result] = await sink.write([order]);
      await arrives;
      expect(result!.status).toBe('ok');
      expect(Date.now() - started).toBeLessThan(500 + 2_000);
      await expect.poll(async () => (await mailpit.to(email)).map((m) => m.Subject), { timeout: 30_000 }).toEqual([`Order ${String(captured.after!.order_number)} confirmed`]);
    } finally {
      await sink.close();
    }
  });
});
