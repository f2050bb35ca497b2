/**
 * Notification consumer benchmark on the real stack: PostgreSQL -> Debezium -> Kafka -> the
 * consumer process (`consumers/notification/main.ts`) -> Mailpit (SMTP), the local Twilio peer and
 * the local FCM peer (both in this process, with the real twilio / firebase-admin libraries in the
 * consumer).
 *
 *   npx tsx scripts/bench/notification-throughput.ts
 *   BENCH_STATUS_CHANGES=2000 BENCH_ROUNDS=1 BENCH_PACED_RATES=50 BENCH_PACED_SECONDS=20 npx tsx scripts/bench/notification-throughput.ts
 *
 * 1. Burst, BENCH_ROUNDS rounds (default 3, medians printed): BENCH_STATUS_CHANGES (10,000) orders,
 *    created before the consumer's group starts (so their confirmations are not part of it), go
 *    pending -> paid in statements of 1,000, as fast as PostgreSQL takes them. Each change sends an
 *    email, an SMS and a push. Measured: emails accepted by Mailpit per second (from the first to
 *    the last "250" the consumer recorded, and Mailpit's own SMTPAccepted counter over the drain),
 *    SMS and push per second, and CPU per status change of each process (consumer, Mailpit, Redis,
 *    Kafka, Kafka Connect, PostgreSQL, this process = load generator + Twilio/FCM peers).
 * 2. Paced, BENCH_PACED_SECONDS (30) at each of BENCH_PACED_RATES (280,56,28) new orders a second,
 *    each paid, shipped and delivered 1, 2 and 3 s later (280/s is 10x the original description's
 *    100,000 orders an hour, with their status changes: ~1,120 changes and ~2,800 sends a second;
 *    28/s is the original load itself). Measured: consumer lag every
 *    2 s (does it grow?), commit -> SMTP accepted p50 / p95 / p99 (commit time from Debezium's
 *    `ts_ms`; accepted = the consumer's ledger record right after the server's "250"), and as an
 *    independent check the same for a sample of mails from Mailpit's own receive time.
 *
 * BENCH_MAX_EVENTS_PER_WRITE sets the consumer's NOTIFICATION_MAX_EVENTS_PER_WRITE (default 100).
 *
 * Rate limits are off (NOTIFY_RATE_LIMIT_*=0): at this load every customer gets many mails a
 * minute. Everything created (rows, groups, keys, mails) is removed at the end. Needs the native
 * stack (pids in .stack/run for the CPU accounting) or at least its engines' addresses.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { FcmPeer } from '../../test/helpers/fcm-peer.js';
import { deleteGroupsAndTopics, withAdmin } from '../../test/helpers/kafka-admin.js';
import { Mailpit } from '../../test/helpers/mailpit.js';
import {
  CUSTOMERS_TOPIC, NOTIFICATION_TOPICS, NotificationProcess, consumerEnv, deleteKeys, startGroupAtEnd, waitCaughtUp,
} from '../../test/helpers/notification-consumer.js';
import { TwilioPeer } from '../../test/helpers/twilio-peer.js';

const CHANGES = Number(process.env.BENCH_STATUS_CHANGES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PACED_RATES = (process.env.BENCH_PACED_RATES ?? '280,56,28').split(',').map(Number).filter((rate) => rate > 0);
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 30);
const CUSTOMERS = 1_000;
const ROOT = resolve(import.meta.dirname, '../..');

function loadEnvFile(path: string): void {
  if (!existsSync(path)) return;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/.exec(line);
    if (match && process.env[match[1]!] === undefined) process.env[match[1]!] = match[2]!;
  }
}
loadEnvFile(join(ROOT, '.stack/env'));
loadEnvFile(join(ROOT, '.env'));

const urls = {
  postgres: process.env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce',
  kafka: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
  redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  smtp: process.env.SMTP_URL ?? 'smtp://127.0.0.1:1025',
  mailpit: process.env.MAILPIT_URL ?? 'http://127.0.0.1:8025',
};
const RUN = `bench-ntf-${Date.now().toString(36)}`;
const PREFIX = `${RUN}:`;
const GROUP = `${RUN}-group`;
const log = (message: string) => console.log(`[bench] ${message}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

// --- CPU accounting ------------------------------------------------------------------------------

const TICKS = 100; // USER_HZ
/** utime + stime of a pid and, for PostgreSQL, of every live child (backends, walsender). */
function cpuSeconds(pid: number, withChildren = false): number {
  const read = (p: number) => {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / TICKS;
    } catch {
      return 0;
    }
  };
  let total = read(pid);
  if (withChildren) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
        if (ppid === pid) total += read(Number(entry));
      } catch {
        // gone
      }
    }
  }
  return total;
}

function stackPid(engine: string): number | null {
  const file = join(ROOT, '.stack/run', `${engine}.pid`);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return existsSync(`/proc/${pid}`) ? pid : null;
}

type CpuSnapshot = Record<string, number>;
function snapshot(consumerPid: number): CpuSnapshot {
  const shot: CpuSnapshot = { consumer: cpuSeconds(consumerPid), 'bench+peers': process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 };
  for (const engine of ['mailpit', 'redis', 'kafka', 'connect']) {
    const pid = stackPid(engine);
    if (pid) shot[engine] = cpuSeconds(pid);
  }
  const postgres = stackPid('postgres');
  if (postgres) shot.postgres = cpuSeconds(postgres, true);
  return shot;
}
function cpuPerEvent(before: CpuSnapshot, after: CpuSnapshot, events: number): string {
  return Object.keys(after).map((name) => `${name} ${(((after[name]! - (before[name] ?? 0)) * 1e6) / events).toFixed(0)}`).join(', ');
}

// --- the run -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const db = new pg.Client({ connectionString: urls.postgres });
  await db.connect();
  const kafka = new Kafka({ clientId: RUN, brokers: urls.kafka.split(','), logLevel: logLevel.NOTHING });
  const redis = new Redis(urls.redis);
  const mailpit = new Mailpit(urls.mailpit);
  const twilio = await TwilioPeer.start();
  const fcm = await FcmPeer.start();
  const dir = mkdtempSync(join(tmpdir(), 'bench-ntf-'));
  let consumer: NotificationProcess | null = null;
  const orderIds: number[] = [];
  try {
    await mailpit.chaos();
    log(`customers: ${CUSTOMERS}; burst: ${CHANGES} status changes x ${ROUNDS} rounds; paced: ${PACED_RATES.join(' and ')} orders/s for ${PACED_SECONDS} s each`);
    const { rows: customers } = await db.query<{ id: number }>(
      `INSERT INTO customers (email, first_name, last_name, phone, push_token)
       SELECT $1 || '-' || g || '@example.com', 'Bench', 'Customer' || g, '+1555' || lpad(g::text, 7, '0'), 'fcm:' || $1 || '-' || g
       FROM generate_series(1, $2) g RETURNING id`,
      [RUN, CUSTOMERS],
    );
    const customerIds = customers.map((c) => c.id);
    // The burst rounds' orders exist before the group starts: their confirmations are not measured.
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < CHANGES; i += 1_000) {
        const { rows } = await db.query<{ id: number }>(
          `INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method)
           SELECT ($1::int[])[1 + (g % $2)], $3 || '-' || g, 25000.00, 'pending', 'credit_card' FROM generate_series($4::int, $5::int) g RETURNING id`,
          [customerIds, CUSTOMERS, `${RUN}-b${round}`, i, Math.min(i + 1_000, CHANGES) - 1],
        );
        orderIds.push(...rows.map((r) => r.id));
      }
    }
    await sleep(3_000); // let Debezium publish them before the group's start is fixed
    await startGroupAtEnd(kafka, GROUP);
    consumer = NotificationProcess.start(
      consumerEnv({ kafka: urls.kafka, redis: urls.redis, smtp: urls.smtp, run: RUN }, {
        ...twilio.env(), ...fcm.env(),
        NOTIFY_RATE_LIMIT_EMAIL_PER_MINUTE: '0', NOTIFY_RATE_LIMIT_SMS_PER_MINUTE: '0', NOTIFY_RATE_LIMIT_PUSH_PER_MINUTE: '0',
        RETRY_INITIAL_MS: '200', RETRY_MAX_MS: '30000',
        ...(process.env.BENCH_MAX_EVENTS_PER_WRITE ? { NOTIFICATION_MAX_EVENTS_PER_WRITE: process.env.BENCH_MAX_EVENTS_PER_WRITE } : {}),
      }),
      join(dir, 'consumer.log'),
      // BENCH_PROFILE_DIR: a V8 CPU profile of the consumer, written when it stops.
      process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [],
    );
    await waitCaughtUp(kafka, `${GROUP}-contacts`, [CUSTOMERS_TOPIC], 300_000);
    await waitCaughtUp(kafka, GROUP, NOTIFICATION_TOPICS, 300_000);
    log('consumer up, contacts caught up');

    // 1. bursts
    const rates: { email: number; mailpit: number; sms: number; push: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const ids = orderIds.slice(round * CHANGES, (round + 1) * CHANGES);
      const acceptedBefore = await mailpit.accepted();
      const smsBefore = twilio.accepted().length;
      const pushBefore = fcm.accepted().length;
      const attemptsFrom = Date.now();
      const cpuBefore = snapshot(consumer.child.pid!);
      const started = Date.now();
      for (let i = 0; i < ids.length; i += 1_000) await db.query(`UPDATE orders SET status = 'paid' WHERE id = ANY($1)`, [ids.slice(i, i + 1_000)]);
      const sqlMs = Date.now() - started;
      const deadline = Date.now() + 900_000;
      while ((await mailpit.accepted()) - acceptedBefore < ids.length || twilio.accepted().length - smsBefore < ids.length || fcm.accepted().length - pushBefore < ids.length) {
        if (Date.now() > deadline) throw new Error('burst did not drain within 15 minutes');
        await sleep(200);
      }
      const drainedMs = Date.now() - started;
      const cpuAfter = snapshot(consumer.child.pid!);
      const sent = await sentAttempts(redis, attemptsFrom);
      const span = (channel: string) => {
        const times = sent.filter((a) => a.channel === channel && a.rule === 'order-paid').map((a) => a.at).sort((a, b) => a - b);
        return { count: times.length, rate: (times.length - 1) / ((times.at(-1)! - times[0]!) / 1000) };
      };
      const email = span('email');
      const sms = span('sms');
      const push = span('push');
      const mailpitRate = ids.length / (drainedMs / 1000);
      rates.push({ email: email.rate, mailpit: mailpitRate, sms: sms.rate, push: push.rate });
      log(
        `burst ${round + 1}: ${ids.length} changes committed in ${(sqlMs / 1000).toFixed(1)} s, drained in ${(drainedMs / 1000).toFixed(1)} s; ` +
        `emails ${email.rate.toFixed(0)}/s (first to last 250), Mailpit accepted ${mailpitRate.toFixed(0)}/s over the whole drain; SMS ${sms.rate.toFixed(0)}/s; push ${push.rate.toFixed(0)}/s`,
      );
      log(`burst ${round + 1}: cpu us per status change: ${cpuPerEvent(cpuBefore, cpuAfter, ids.length)}`);
      await mailpit.deleteSearch(`to:"${RUN}"`);
    }
    log(
      `burst medians of ${ROUNDS}: emails ${median(rates.map((r) => r.email)).toFixed(0)}/s (Mailpit over the drain ${median(rates.map((r) => r.mailpit)).toFixed(0)}/s), ` +
      `SMS ${median(rates.map((r) => r.sms)).toFixed(0)}/s, push ${median(rates.map((r) => r.push)).toFixed(0)}/s`,
    );

    // 2. paced load, at each rate
    for (const rate of PACED_RATES) {
      await paced(rate, db, kafka, redis, mailpit, consumer, customerIds, orderIds);
      await mailpit.deleteSearch(`to:"${RUN}"`);
    }
  } finally {
    if (process.env.BENCH_PROFILE_DIR) await consumer?.stop();
    await consumer?.kill();
    log('cleaning up');
    for (let i = 0; i < orderIds.length; i += 5_000) await db.query('DELETE FROM orders WHERE id = ANY($1)', [orderIds.slice(i, i + 5_000)]);
    await db.query(`DELETE FROM customers WHERE email LIKE $1`, [`${RUN}-%`]);
    await db.end();
    await deleteGroupsAndTopics(kafka, { groups: [GROUP, `${GROUP}-contacts`], topics: [`${RUN}.dlq`] });
    await deleteKeys(redis, PREFIX);
    await mailpit.deleteSearch(`to:"${RUN}"`).catch(() => undefined);
    await redis.quit();
    await twilio.close();
    await fcm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `sent` attempts recorded since `fromMs`: channel, rule, commit and record time. */
async function sentAttempts(redis: Redis, fromMs: number): Promise<{ channel: string; rule: string; id: string; commit: number; at: number }[]> {
  const rows: { channel: string; rule: string; id: string; commit: number; at: number }[] = [];
  for (let start = `${fromMs}-0`; ; ) {
    const page = await redis.xrange(`${PREFIX}attempts`, start, '+', 'COUNT', 10_000);
    for (const [, fields] of page) {
      const f: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      if (f.outcome === 'sent') rows.push({ channel: f.ch!, rule: f.rule!, id: f.id!, commit: Number(f.commit), at: Number(f.at) });
    }
    if (page.length < 10_000) return rows;
    start = `(${page.at(-1)![0]}`;
  }
}

async function groupLag(kafka: Kafka): Promise<number> {
  return withAdmin(kafka, async (admin) => {
    const committed = new Map<string, number>();
    for (const { topic, partitions } of await admin.fetchOffsets({ groupId: GROUP, topics: NOTIFICATION_TOPICS })) {
      for (const p of partitions) committed.set(`${topic}:${p.partition}`, Number(p.offset));
    }
    let lag = 0;
    for (const topic of NOTIFICATION_TOPICS) {
      for (const p of await admin.fetchTopicOffsets(topic)) lag += Math.max(0, Number(p.high) - Math.max(0, committed.get(`${topic}:${p.partition}`) ?? 0));
    }
    return lag;
  });
}

async function paced(RATE: number, db: pg.Client, kafka: Kafka, redis: Redis, mailpit: Mailpit, consumer: NotificationProcess, customerIds: number[], orderIds: number[]): Promise<void> {
  const tickMs = 100;
  const perTick = Math.round((RATE * tickMs) / 1000);
  const waves: number[][] = []; // orders created per tick, for their status changes 1, 2, 3 s later
  const lagSamples: { t: number; lag: number }[] = [];
  let stop = false;
  let changes = 0;
  const began = Date.now();
  const attemptsFrom = began;
  const ordersBefore = orderIds.length;
  const cpuBefore = snapshot(consumer.child.pid!);
  const sampler = (async () => {
    while (!stop) {
      lagSamples.push({ t: (Date.now() - began) / 1000, lag: await groupLag(kafka) });
      await sleep(2_000);
    }
  })();
  let behind = 0;
  for (let tick = 0; tick < (PACED_SECONDS * 1000) / tickMs + 30; tick++) {
    const due = began + tick * tickMs;
    if (Date.now() < due) await sleep(due - Date.now());
    else behind++;
    if (tick < (PACED_SECONDS * 1000) / tickMs) {
      const { rows } = await db.query<{ id: number }>(
        `INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method)
         SELECT ($1::int[])[1 + ((g + $4) % $2)], $3 || '-' || g, 25000.00, 'pending', 'credit_card' FROM generate_series(1, $5) g RETURNING id`,
        [customerIds, customerIds.length, `${RUN}-p${RATE}-${tick}`, tick * perTick, perTick],
      );
      const ids = rows.map((r) => r.id);
      orderIds.push(...ids);
      waves[tick] = ids;
      changes += ids.length;
    }
    for (const [lagTicks, status] of [[10, 'paid'], [20, 'shipped'], [30, 'delivered']] as const) {
      const wave = waves[tick - lagTicks];
      if (wave) {
        await db.query('UPDATE orders SET status = $2 WHERE id = ANY($1)', [wave, status]);
        changes += wave.length;
      }
    }
  }
  const loadSeconds = (Date.now() - began) / 1000;
  log(`paced ${RATE}/s: ${changes} changes in ${loadSeconds.toFixed(1)} s (${(changes / loadSeconds).toFixed(0)} changes/s, ${((orderIds.length - ordersBefore) / loadSeconds).toFixed(0)} orders/s; generator late on ${behind} ticks of 100 ms)`);
  const drainStart = Date.now();
  await waitCaughtUp(kafka, GROUP, NOTIFICATION_TOPICS, 900_000);
  stop = true;
  await sampler;
  const cpuAfter = snapshot(consumer.child.pid!);
  log(`paced ${RATE}/s: caught up ${((Date.now() - drainStart) / 1000).toFixed(1)} s after the load stopped`);
  log(`paced ${RATE}/s: consumer lag every 2 s: ${lagSamples.map((s) => s.lag).join(' ')}`);
  const during = lagSamples.filter((s) => s.t <= PACED_SECONDS);
  const third = Math.max(1, Math.floor(during.length / 3));
  const early = median(during.slice(0, third).map((s) => s.lag));
  const late = median(during.slice(-third).map((s) => s.lag));
  log(`paced ${RATE}/s: lag median first third ${early}, last third ${late} -> ${late <= Math.max(2 * early, RATE * 4) ? 'bounded (no growth)' : 'GROWING: the consumer does not keep up'}`);
  log(`paced ${RATE}/s: cpu us per change: ${cpuPerEvent(cpuBefore, cpuAfter, changes)}`);

  const sent = (await sentAttempts(redis, attemptsFrom)).filter((a) => a.channel === 'email');
  const latencies = sent.map((a) => a.at - a.commit).sort((a, b) => a - b);
  log(`paced ${RATE}/s: commit -> SMTP accepted (consumer's record), ${latencies.length} emails: p50 ${percentile(latencies, 50)} ms, p95 ${percentile(latencies, 95)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms`);
  // Independent check: Mailpit's receive time of a sample against the change's commit time header.
  const sample = await mailpit.search(`to:"${RUN}"`, 200);
  const checked: number[] = [];
  for (const message of sample) {
    const committed = (await mailpit.headers(message.ID))['X-Change-Committed-At']?.[0];
    if (committed) checked.push(new Date(message.Created).getTime() - new Date(committed).getTime());
  }
  checked.sort((a, b) => a - b);
  if (checked.length > 0) log(`paced ${RATE}/s: commit -> Mailpit received (Mailpit's own clock, ${checked.length} newest mails): p50 ${percentile(checked, 50)} ms, p99 ${percentile(checked, 99)} ms`);
}

await main();
