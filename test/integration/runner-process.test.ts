/**
 * A real consumer process (test/helpers/runner-child.ts: runConsumer + a file-recording sink)
 * against real Kafka:
 * - kill -9 in the middle of a batch, restart: every event is delivered at least once, in per-key
 *   order, and the restart resumes exactly at the last committed offset;
 * - SIGTERM: the process finishes its batch, commits exactly what the sink holds, exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { interleavedUpdates, loadTemplate, vary, type MessageTemplate } from '../helpers/runner-messages.js';
import { TestKafka, waitFor } from '../helpers/runner-kafka.js';
import type { HeldEvent } from '../helpers/test-sinks.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHILD = 'test/helpers/runner-child.ts';

interface Line extends HeldEvent {
  run: string;
}

interface Scenario {
  prefix: string;
  topic: string;
  groupId: string;
  out: string;
  expected: Map<string, string[]>;
}

describe.runIf(requireEngines('kafka'))('runner in a real process (real Kafka)', () => {
  let kafka: TestKafka;
  let template: MessageTemplate;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    template = loadTemplate();
    dir = mkdtempSync(join(tmpdir(), 'runner-process-'));
    kafka = new TestKafka(engines().kafka);
    await kafka.connect();
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await kafka?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh topic `<prefix>.public.orders` with `keys` x `updates` events, LSNs increasing per key. */
  async function scenario(name: string, keys: number, updates: number): Promise<Scenario> {
    const prefix = uniqueName(name);
    const topic = `${prefix}.public.orders`;
    const groupId = `${prefix}-group`;
    await kafka.createTopic(topic);
    kafka.track('topic', `${prefix}.dlq.runner-test`);
    kafka.track('group', groupId);
    const { messages, expected } = interleavedUpdates(template, { keys, updatesPerKey: updates, lsnAfter: 90_000_000n, lsnStep: 16n });
    await kafka.produce(topic, messages);
    return { prefix, topic, groupId, out: join(dir, `${prefix}.jsonl`), expected };
  }

  function startChild(s: Scenario, run: string, delayMs: number): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; log: string } {
    const log = join(dir, `${s.prefix}-${run}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      cwd: ROOT,
      stdio: ['ignore', fd, fd],
      env: {
        ...process.env,
        KAFKA_BROKERS: engines().kafka,
        TOPIC_PREFIX: s.prefix,
        TABLES: 'orders',
        RUNNER_TEST_CONSUMER_GROUP: s.groupId,
        RUNNER_TEST_HEALTH_PORT: '0',
        FROM_BEGINNING: 'true',
        PARTITIONS_CONCURRENCY: '3',
        MAX_EVENTS_PER_WRITE: '10',
        // 1 MiB fetches (kafkajs' own default): the topics below hold several fetches per
        // partition, so a stop after the current batch still leaves work for the restart.
        FETCH_MAX_BYTES_PER_PARTITION: String(1024 * 1024),
        LOG_LEVEL: 'info',
        RUNNER_CHILD_OUT: s.out,
        RUNNER_CHILD_RUN: run,
        RUNNER_CHILD_DELAY_MS: String(delayMs),
      },
    });
    closeSync(fd);
    children.push(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { child, exited, log };
  }

  const lines = (s: Scenario): Line[] =>
    existsSync(s.out) ? readFileSync(s.out, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line) : [];

  /** Within one process run, each key's LSNs strictly increase (no reordering, no duplicates). */
  function expectPerKeyOrder(held: Line[]): void {
    const last = new Map<string, bigint>();
    for (const line of held) {
      const lsn = BigInt(line.lsn!);
      const previous = last.get(line.key);
      if (previous !== undefined) expect(lsn, `key ${line.key} in run ${line.run}`).toBeGreaterThan(previous);
      last.set(line.key, lsn);
    }
  }

  function expectEveryEventDelivered(s: Scenario, held: Line[]): void {
    const seen = new Set(held.map((line) => `${line.key}@${line.lsn}`));
    const missing = [...s.expected].flatMap(([key, lsns]) => lsns.filter((lsn) => !seen.has(`${key}@${lsn}`)).map((lsn) => `${key}@${lsn}`));
    expect(missing).toEqual([]);
  }

  const total = (s: Scenario) => [...s.expected.values()].reduce((sum, lsns) => sum + lsns.length, 0);
  const allDelivered = (s: Scenario) => () => new Set(lines(s).map((line) => `${line.key}@${line.lsn}`)).size >= total(s);

  it('kill -9 mid-batch, restart: every event at least once, in per-key order, resuming at the last commit', async () => {
    const s = await scenario('runner-kill', 20, 40); // 800 events
    const first = startChild(s, 'a', 25);
    await waitFor(() => lines(s).length >= 250, 90_000, () => `250 events held by run a (log: ${first.log})`);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const committedAtKill = await kafka.committed(s.groupId, s.topic);
    const end = await kafka.endOffsets(s.topic);
    const runA = lines(s).filter((line) => line.run === 'a');
    // The kill landed mid-stream with work held but not yet committed (that is what gets redelivered).
    const heldNotCommitted = runA.filter((line) => BigInt(line.offset) >= BigInt(committedAtKill.get(line.partition) ?? '-1'));
    expect(heldNotCommitted.length).toBeGreaterThan(0);
    expect([...end].some(([partition, high]) => committedAtKill.get(partition) !== high)).toBe(true);

    const second = startChild(s, 'b', 0);
    await waitFor(allDelivered(s), 90_000, () => `every event delivered (log: ${second.log})`);
    await waitFor(() => kafka.fullyCommitted(s.groupId, s.topic), 30_000, 'every partition committed');
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });

    const held = lines(s);
    expectEveryEventDelivered(s, held);
    expectPerKeyOrder(held.filter((line) => line.run === 'a'));
    const runB = held.filter((line) => line.run === 'b');
    expectPerKeyOrder(runB);
    // Run b starts each partition exactly at the offset run a had committed.
    for (const [partition, committed] of committedAtKill) {
      const firstOffset = runB.find((line) => line.partition === partition)?.offset;
      if (committed !== end.get(partition)) expect(firstOffset, `partition ${partition}`).toBe(committed === '-1' ? '0' : committed);
    }
    // At least once: what run a held but had not committed came again.
    const inB = new Set(runB.map((line) => `${line.partition}:${line.offset}`));
    for (const line of heldNotCommitted) expect(inB.has(`${line.partition}:${line.offset}`)).toBe(true);
  });

  it('SIGTERM mid-stream finishes the batch, commits exactly what the sink holds and exits 0; a restart drains to the end', async () => {
    // At least 2.5 MB per partition: several fetch batches (1 MB each), so a stop after finishing
    // the current batch still leaves work for the restart.
    const templateBytes = vary(template, { id: 1, lsn: 1 }).value.length;
    const s = await scenario('runner-term', 15, Math.max(100, Math.ceil(7_500_000 / (15 * templateBytes))));
    const first = startChild(s, 'a', 25);
    await waitFor(() => lines(s).length >= 100, 90_000, () => `100 events held (log: ${first.log})`);
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });

    const committed = await kafka.committed(s.groupId, s.topic);
    const runA = lines(s);
    for (const partition of [0, 1, 2]) {
      const offsets = runA.filter((line) => line.partition === partition).map((line) => BigInt(line.offset));
      const expectedCommit = offsets.length === 0 ? '-1' : (offsets.reduce((a, b) => (a > b ? a : b)) + 1n).toString();
      expect(committed.get(partition), `partition ${partition}`).toBe(expectedCommit);
    }
    expect(await kafka.fullyCommitted(s.groupId, s.topic)).toBe(false);

    const second = startChild(s, 'b', 0);
    await waitFor(allDelivered(s), 90_000, () => `every event delivered (log: ${second.log})`);
    await waitFor(() => kafka.fullyCommitted(s.groupId, s.topic), 30_000, 'every partition committed');
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });

    const [end, finalCommitted] = await Promise.all([kafka.endOffsets(s.topic), kafka.committed(s.groupId, s.topic)]);
    expect(finalCommitted).toEqual(end);
    const held = lines(s);
    expectEveryEventDelivered(s, held);
    // A clean stop commits everything held: nothing is delivered twice.
    expect(held).toHaveLength(total(s));
    expectPerKeyOrder(held);
  });
});
