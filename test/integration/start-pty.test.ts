/**
 * `npm start` as a user runs it: in a pseudo-terminal (util-linux `script`), Ctrl-C typed into
 * it. Every consumer of the list (scripts/operator/consumer-list.ts) must come up, process a
 * change made with SQL, show its status line, and on ONE Ctrl-C finish, commit and exit 0; the
 * groups' committed offsets then cover the change. A second test gives one consumer a backlog
 * and sees the catch-up progress (done / total, rate, ETA) on the terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stripVTControlCharacters } from 'node:util';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefillTopic } from '../../scripts/bench/prefill-topic.js';
import { CONSUMERS } from '../../scripts/operator/consumer-list.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics, withAdmin } from '../helpers/kafka-admin.js';
import { cleanSinks, eventually, freePort, isolatedRun, ROOT, sleep, type IsolatedRun } from '../helpers/operator-processes.js';
import { CAPTURED_TOPICS, waitForConnector } from '../helpers/pipeline.js';
import { ShopRows } from '../helpers/shop-rows.js';

interface Terminal {
  readonly child: ChildProcess;
  /** What the terminal showed so far, without colours and cursor moves. */
  screen(): string;
  ctrlC(): void;
  readonly exited: Promise<number | null>;
}

/** `npm start <args>` in a pseudo-terminal of 160 columns. */
function npmStartInTerminal(env: NodeJS.ProcessEnv, args = ''): Terminal {
  const child = spawn('script', ['-qfec', `stty cols 160 rows 50; exec npm start${args ? ` -- ${args}` : ''}`, '/dev/null'], {
    cwd: ROOT,
    env: { ...env, TERM: 'xterm-256color' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let raw = '';
  child.stdout!.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  return {
    child,
    screen: () => stripVTControlCharacters(raw).replace(/\r/g, ''),
    // Typed into the terminal: its line discipline turns it into SIGINT for the foreground group.
    ctrlC: () => child.stdin!.write('\x03'),
    exited: new Promise((done) => child.once('exit', (code) => done(code))),
  };
}

type Offsets = Map<string, number>;

async function highWatermarks(kafka: Kafka, topics: readonly string[]): Promise<Offsets> {
  return withAdmin(kafka, async (admin) => {
    const marks: Offsets = new Map();
    for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) marks.set(`${topic}:${p.partition}`, Number(p.high));
    return marks;
  });
}

async function committed(kafka: Kafka, groupId: string, topics: readonly string[]): Promise<Offsets> {
  return withAdmin(kafka, async (admin) => {
    const offsets: Offsets = new Map();
    for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics: [...topics] })) {
      for (const p of partitions) offsets.set(`${topic}:${p.partition}`, Number(p.offset));
    }
    return offsets;
  });
}

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'elasticsearch', 'redis', 'mongodb'))('npm start in a terminal', () => {
  const kafka = new Kafka({ clientId: 'start-pty', brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
  const runs: IsolatedRun[] = [];
  const extraTopics: string[] = [];
  let shop: ShopRows;
  let terminal: Terminal | null = null;

  beforeAll(async () => {
    await waitForConnector();
    shop = await ShopRows.connect(engines().postgres, 'Start');
  });

  afterAll(async () => {
    // A test that failed half-way must not leave a running npm start (and its consumers) behind.
    if (terminal && terminal.child.exitCode === null) {
      terminal.ctrlC();
      await Promise.race([terminal.exited, sleep(45_000)]);
    }
    await shop?.close();
    for (const run of runs) {
      await deleteGroupsAndTopics(kafka, {
        groups: Object.values(run.groups),
        topics: Object.values(run.deadLetterTopics).flatMap((topic) => [topic, `${topic}.replayed`]),
      });
      await cleanSinks(run.run);
    }
    if (extraTopics.length > 0) await deleteGroupsAndTopics(kafka, { groups: [], topics: extraTopics });
  });

  it('runs every consumer of the list, processes a change, and one Ctrl-C stops all with exit 0 and offsets committed', async () => {
    const run = await isolatedRun(uniqueName('start-pty'), CONSUMERS.map((c) => c.name), { DASHBOARD_PORT: String(await freePort()) });
    runs.push(run);
    terminal = npmStartInTerminal(run.env);

    // Every consumer of the list came up (ready on its health port) and the page serves them.
    for (const consumer of CONSUMERS) {
      await eventually(`consumer:${consumer.name} ready`, async () => {
        if (terminal!.child.exitCode !== null) throw new Error(`npm start exited ${terminal!.child.exitCode}:\n${terminal!.screen().slice(-4000)}`);
        const response = await fetch(`http://127.0.0.1:${run.healthPorts[consumer.name]}/ready`).catch(() => null);
        return response?.status === 200;
      }, 120_000);
    }
    const page = await eventually('the pipeline page', async () => {
      const response = await fetch(`http://127.0.0.1:${run.env.DASHBOARD_PORT}/api/status`).catch(() => null);
      if (!response?.ok) return undefined;
      const status = (await response.json()) as { consumers: { name: string; ready: boolean }[] };
      return status.consumers.every((c) => c.ready) ? status : undefined;
    });
    expect(page.consumers.map((c) => c.name).sort()).toEqual(CONSUMERS.map((c) => c.name).sort());

    // A change through SQL; every group commits past it, and the two sinks we can read hold it.
    const before = await highWatermarks(kafka, CAPTURED_TOPICS);
    const customerId = await shop.insertCustomer(`${run.run}-customer`);
    const orderId = await shop.insertOrder(customerId, `${run.run}-ORDER`);
    const after = await eventually('the change in Kafka', async () => {
      const marks = await highWatermarks(kafka, CAPTURED_TOPICS);
      const moved = [...marks].filter(([at, high]) => high > (before.get(at) ?? 0));
      return moved.length >= 2 ? new Map(moved) : undefined; // the customer and the order
    });
    for (const consumer of CONSUMERS) {
      await eventually(`consumer:${consumer.name} to commit past the change`, async () => {
        const offsets = await committed(kafka, run.groups[consumer.name]!, CAPTURED_TOPICS);
        return [...after].every(([at, high]) => (offsets.get(at) ?? -1) >= high);
      });
    }
    const redis = new Redis(engines().redis);
    try {
      expect(JSON.parse((await redis.get(`${run.run}:order:${orderId}`))!)).toMatchObject({ id: orderId, order_number: `${run.run}-ORDER` });
    } finally {
      redis.disconnect();
    }
    await eventually('the order in Elasticsearch', async () => {
      const found = (await (await fetch(`${engines().elasticsearch}/${run.run}-orders/_search?q=id:${orderId}`)).json()) as { hits?: { total: { value: number } } };
      return found.hits?.total.value === 1;
    }, 10_000);

    // The terminal shows prefixed, human-readable lines and one status line per consumer.
    await eventually('status lines', async () => {
      const screen = terminal!.screen();
      return CONSUMERS.every((c) => new RegExp(`● ${c.name}\\s+ready\\s+· lag 0 · [\\d.,]+ ev/s · commit→sink `).test(screen));
    }, 30_000);
    const screen = terminal.screen();
    for (const consumer of CONSUMERS) expect(screen).toMatch(new RegExp(`^${consumer.name}\\s+│ \\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] INFO: consumer:${consumer.name} running`, 'm'));
    expect(screen).toContain(`pipeline page http://127.0.0.1:${run.env.DASHBOARD_PORT}`);

    // One Ctrl-C: every consumer finishes, commits and exits 0.
    terminal.ctrlC();
    await Promise.race([terminal.exited, sleep(60_000).then(() => { throw new Error(`npm start still running 60 s after Ctrl-C:\n${terminal!.screen().slice(-4000)}`); })]);
    const final = terminal.screen();
    for (const consumer of CONSUMERS) {
      expect(final).toMatch(new RegExp(`^${consumer.name}\\s+│ .*INFO: consumer:${consumer.name} exited with code 0`, 'm'));
      expect(final).toMatch(new RegExp(`^${consumer.name}\\s+│ .*INFO: shutdown complete .*"exitCode":0`, 'm'));
      const offsets = await committed(kafka, run.groups[consumer.name]!, CAPTURED_TOPICS);
      for (const [at, high] of after) expect(offsets.get(at), `${consumer.name} ${at}`).toBeGreaterThanOrEqual(high);
      // It left its group and its health port is closed: nothing keeps running.
      const group = await withAdmin(kafka, (admin) => admin.describeGroups([run.groups[consumer.name]!]));
      expect(group.groups[0]!.members).toEqual([]);
      await expect(fetch(`http://127.0.0.1:${run.healthPorts[consumer.name]}/live`)).rejects.toThrow();
    }
    expect(final).toContain('every consumer stopped cleanly (exit 0, offsets committed)');
    expect(final).not.toMatch(/second Ctrl-C|second signal/);
  });

  it('shows catch-up progress with rate and ETA while a consumer works through a backlog', async () => {
    const run = await isolatedRun(uniqueName('start-catchup'), ['redis'], {
      FROM_BEGINNING: 'true',
      // Small writes and fetches: the backlog lasts long enough to be watched at one sample a second.
      MAX_EVENTS_PER_WRITE: '5',
      PARTITIONS_CONCURRENCY: '1',
      FETCH_MAX_BYTES_PER_PARTITION: '65536',
    });
    runs.push(run);
    const prefix = run.run.replace(/-/g, '_');
    const topic = `${prefix}.public.orders`;
    extraTopics.push(topic);
    await prefillTopic({ brokers: engines().kafka.split(','), topic, events: 15_000 });
    Object.assign(run.env, { TOPIC_PREFIX: prefix, TABLES: 'orders' });

    terminal = npmStartInTerminal(run.env, 'redis --no-dashboard');
    const progress = await eventually('catch-up progress with an ETA', async () => {
      if (terminal!.child.exitCode !== null) throw new Error(`npm start exited:\n${terminal!.screen().slice(-4000)}`);
      return /◐ redis\s+catching up ([\d,]+)\/([\d,]+) (\d+)% · ([\d.,]+) ev\/s · ETA (\d+[smh])/.exec(terminal!.screen()) ?? undefined;
    }, 120_000, 250);
    expect(Number(progress[2]!.replace(/,/g, ''))).toBeGreaterThanOrEqual(14_000);
    expect(Number(progress[4]!.replace(/,/g, ''))).toBeGreaterThan(0);
    // Then it catches up and says so.
    await eventually('the backlog done', async () => /● redis\s+ready\s+· lag 0 ·/.test(terminal!.screen().split('◐').at(-1)!), 240_000, 1_000);
    terminal.ctrlC();
    await terminal.exited;
    expect(terminal.screen()).toMatch(/consumer:redis exited with code 0/);
    const offsets = await committed(kafka, run.groups.redis!, [topic]);
    expect([...offsets.values()].reduce((sum, offset) => sum + offset, 0)).toBe(15_000);
  });
});
