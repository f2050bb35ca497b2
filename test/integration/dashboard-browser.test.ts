/**
 * The pipeline page in a real browser (Debian's chromium driven by playwright-core) against the
 * real stack: every consumer of the list runs as its own process, `npm run dashboard` serves the
 * page. The page shows the connector and slot; each consumer's lag rises while it is paused
 * (SIGSTOP, our own child process) and SQL changes arrive, and falls back to 0 with a measured
 * commit->sink latency once it resumes; a poison message (an order's Redis key turned into a hash
 * by hand) appears in the dead-letter list with its reason and error; after the cause is fixed
 * the page's Replay button writes it through the Redis sink, and the cache holds the change.
 * Screenshots: test-results/dashboard-browser/*.png.
 *
 * Chromium comes from Debian (`apt-get install chromium`, done by .ci/run through
 * scripts/operator/install-test-browser.sh); playwright's own browser download is not used.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMERS } from '../../scripts/operator/consumer-list.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import {
  cleanSinks, eventually, freePort, isolatedRun, ROOT, sleep, startConsumer, stopConsumer, waitReady, type ConsumerProcess, type IsolatedRun,
} from '../helpers/operator-processes.js';
import { waitForConnector } from '../helpers/pipeline.js';
import { ShopRows } from '../helpers/shop-rows.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(ROOT, 'test-results/dashboard-browser');

function requireChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `no browser at ${CHROMIUM}: install Debian's chromium (scripts/operator/install-test-browser.sh)`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${message}. CI=true, so this is a failure, not a skip.`);
  console.warn(`\n!!! SKIPPING the pipeline page browser test: ${message}\n`);
  return false;
}

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'elasticsearch', 'redis') && requireChromium())('the pipeline page in a browser', () => {
  const kafka = new Kafka({ clientId: 'dashboard-browser', brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
  let isolated: IsolatedRun;
  const consumers = new Map<string, ConsumerProcess>();
  let dashboard: ChildProcess;
  let dashboardOutput = '';
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let shop: ShopRows;
  let redis: Redis;
  let orderIds: number[] = [];

  const card = (name: string) => page.locator(`[data-testid="consumer-${name}"]`);
  const figure = async (name: string, field: string): Promise<number | null> => {
    const value = await card(name).locator(`[data-field="${field}"]`).getAttribute('data-value');
    return value === null || value === '' ? null : Number(value);
  };
  const shot = (file: string) => page.screenshot({ path: join(SCREENSHOTS, file), fullPage: true });

  beforeAll(async () => {
    await waitForConnector();
    mkdirSync(SCREENSHOTS, { recursive: true });
    // FROM_BEGINNING: each group commits on every partition while it reads the topics once, so
    // lag counts every message that arrives later (before a group's first commit on a partition
    // the page cannot know where a group that started at the end stands).
    isolated = await isolatedRun(uniqueName('dashboard-browser'), CONSUMERS.map((c) => c.name), { DASHBOARD_PORT: String(await freePort()), FROM_BEGINNING: 'true' });
    shop = await ShopRows.connect(engines().postgres, 'Dashboard');
    redis = new Redis(engines().redis);
    for (const { name } of CONSUMERS) consumers.set(name, startConsumer(name, isolated.env));
    for (const [name, process] of consumers) await waitReady(isolated.healthPorts[name]!, 120_000, process);

    dashboard = spawn(process.execPath, ['--import', 'tsx', 'dashboard/main.ts'], { cwd: ROOT, env: isolated.env, stdio: ['ignore', 'pipe', 'pipe'] });
    dashboard.stdout!.on('data', (chunk: Buffer) => (dashboardOutput += chunk.toString()));
    dashboard.stderr!.on('data', (chunk: Buffer) => (dashboardOutput += chunk.toString()));
    await eventually('the page server', async () => (await fetch(`http://127.0.0.1:${isolated.env.DASHBOARD_PORT}/api/status`).catch(() => null))?.ok, 60_000);

    profile = mkdtempSync(join(tmpdir(), 'cdc-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1000 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`http://127.0.0.1:${isolated.env.DASHBOARD_PORT}/`);
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    for (const process of consumers.values()) {
      process.child.kill('SIGCONT');
      expect(await stopConsumer(process), `consumer:${process.name} exit code`).toBe(0);
    }
    if (dashboard && dashboard.exitCode === null) {
      dashboard.kill('SIGINT');
      await new Promise((done) => dashboard.once('exit', done));
    }
    await shop?.close();
    redis?.disconnect();
    if (isolated) {
      await deleteGroupsAndTopics(kafka, {
        groups: Object.values(isolated.groups),
        topics: Object.values(isolated.deadLetterTopics).flatMap((topic) => [topic, `${topic}.replayed`]),
      });
      await cleanSinks(isolated.run);
    }
  });

  it('shows the connector, the slot and every consumer ready', async () => {
    await expect.poll(() => page.locator('[data-testid="connector-state"]').textContent(), { timeout: 30_000 }).toBe('RUNNING');
    await expect.poll(() => page.locator('[data-testid="slot-lag"]').getAttribute('data-value'), { timeout: 30_000 }).toMatch(/^\d+$/);
    for (const { name } of CONSUMERS) {
      await expect.poll(() => card(name).getAttribute('data-ready'), { timeout: 30_000 }).toBe('true');
      await expect.poll(() => figure(name, 'lag'), { timeout: 120_000 }).toBe(0); // read the topics once
    }
    await shot('01-consumers-ready.png');
  });

  it("sees each consumer's lag rise while it is paused and fall with a measured latency once it resumes", async () => {
    // Before: the latest latency is the first read of the topics (the snapshot's commit times: minutes).
    const latencyBefore = new Map<string, number | null>();
    for (const { name } of CONSUMERS) latencyBefore.set(name, await figure(name, 'last-latency'));
    for (const process of consumers.values()) process.child.kill('SIGSTOP');
    const pausedAt = Date.now();
    try {
      const customerId = await shop.insertCustomer(`${isolated.run}-customer`);
      orderIds = [];
      for (let i = 0; i < 5; i++) orderIds.push(await shop.insertOrder(customerId, `${isolated.run}-ORDER-${i}`));
      for (const { name } of CONSUMERS) {
        await expect.poll(() => figure(name, 'lag'), { timeout: 30_000 }).toBeGreaterThanOrEqual(6);
        expect(await card(name).getAttribute('data-up')).toBe('false');
      }
      await shot('02-consumers-paused-lagging.png');
      await sleep(Math.max(0, 4_000 - (Date.now() - pausedAt)));
    } finally {
      for (const process of consumers.values()) process.child.kill('SIGCONT');
    }
    for (const { name } of CONSUMERS) {
      await expect.poll(() => figure(name, 'lag'), { timeout: 60_000 }).toBe(0);
      await expect.poll(() => card(name).getAttribute('data-ready'), { timeout: 30_000 }).toBe('true');
      // After: the paused changes waited about 4 s between their commit and the sink.
      await expect.poll(async () => {
        const latest = await figure(name, 'last-latency');
        return latest !== latencyBefore.get(name) && latest !== null && latest >= 3_000 && latest < 60_000;
      }, { timeout: 30_000 }).toBe(true);
      expect(await figure(name, 'p99')).toBeGreaterThanOrEqual(3_000);
    }
    await shot('03-consumers-caught-up-latency.png');
  });

  it('lists a poison message with its reason, replays it after the fix, and the sink then holds it', async () => {
    const orderId = orderIds[0]!;
    const key = `${isolated.run}:order:${orderId}`;
    await eventually('the order in the cache', async () => (await redis.get(key)) !== null);
    await redis.del(key);
    await redis.hset(key, 'oops', 'written by hand');
    await shop.db.query(`UPDATE orders SET status = 'shipped' WHERE id = $1`, [orderId]);

    const row = page.locator('#dead-letters tr[data-consumer="redis"][data-status="pending"]');
    await expect.poll(() => row.count(), { timeout: 60_000 }).toBe(1);
    expect(await row.locator('[data-field="reason"]').textContent()).toBe('sink');
    expect(await row.locator('[data-field="table"]').textContent()).toBe('orders');
    expect(await row.locator('[data-field="key"]').textContent()).toBe(JSON.stringify({ id: orderId }));
    expect(await row.locator('[data-field="error"]').textContent()).toMatch(/WRONGTYPE/);
    await expect.poll(() => figure('redis', 'pending'), { timeout: 10_000 }).toBe(1);
    const id = (await row.getAttribute('data-id'))!;

    await row.locator('button[data-action="show"]').click();
    const message = page.locator(`tr[data-detail="${id}"] [data-field="message"]`);
    await expect.poll(() => message.textContent(), { timeout: 10_000 }).toMatch(/"status": "shipped"/);
    await shot('04-dead-letter-listed.png');

    // The cause, fixed by the operator; then the page's button.
    await redis.del(key);
    await page.locator('#dl-by').fill('browser-test');
    await page.locator(`tr[data-id="${id}"] button[data-action="replay"]`).click();
    await expect.poll(() => page.locator('#dl-message').textContent(), { timeout: 30_000 }).toMatch(new RegExp(`${id}: applied`));
    expect(JSON.parse((await redis.get(key))!)).toMatchObject({ id: orderId, status: 'shipped' });

    await page.locator('#dl-status').selectOption('');
    const replayed = page.locator(`#dead-letters tr[data-id="${id}"]`);
    await expect.poll(() => replayed.getAttribute('data-status'), { timeout: 10_000 }).toBe('replayed');
    expect(await replayed.locator('[data-field="status"]').textContent()).toContain('applied by browser-test');
    await expect.poll(() => figure('redis', 'replayed'), { timeout: 10_000 }).toBe(1);
    expect(await figure('redis', 'pending')).toBe(0);
    await shot('05-dead-letter-replayed.png');
    expect(dashboardOutput).not.toMatch(/"level":"(error|fatal)"/);
  });
});
