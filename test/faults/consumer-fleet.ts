/**
 * The fault suite's consumers: the real processes (`consumers/<name>/main.ts`, as `npm run
 * consumer:<name>` starts them), isolated for this run (isolatedRun: own groups, dead-letter
 * topics, Redis key prefix, Elasticsearch index prefix, warehouse database) and reading the
 * captured topics from offset 0, so their sinks must end up holding every table whole.
 *
 * The fleet kills (SIGKILL), restarts, stops and scrapes them. A process that exits when the
 * suite did not ask it to is counted (`unexpectedExits`) and restarted, so one crash fails the
 * scenario it happened in but not every scenario after it. Each process's output is appended to
 * test-results/faults/<run>-<name>.log.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startConsumer, waitReady, type ConsumerProcess, type IsolatedRun } from '../helpers/operator-processes.js';

export const FAULT_CONSUMERS = ['elasticsearch', 'redis', 'warehouse'] as const;
export type FaultConsumer = (typeof FAULT_CONSUMERS)[number];

export const RESULTS_DIR = join(ROOT, 'test-results', 'faults');

interface Slot {
  process: ConsumerProcess;
  /** The suite killed or stopped it on purpose. */
  expectedExit: boolean;
  starts: number;
}

export class ConsumerFleet {
  private readonly slots = new Map<FaultConsumer, Slot>();
  /** Exits nobody asked for, per consumer, since the last `takeUnexpectedExits()`. */
  private unexpected: string[] = [];
  private closing = false;

  constructor(readonly isolated: IsolatedRun) {
    mkdirSync(RESULTS_DIR, { recursive: true });
  }

  /** Starts every consumer of the suite and waits until each answers /ready. */
  async startAll(timeoutMs: number): Promise<void> {
    for (const name of FAULT_CONSUMERS) this.start(name);
    await this.waitAllReady(timeoutMs);
  }

  async waitAllReady(timeoutMs: number): Promise<void> {
    await Promise.all(FAULT_CONSUMERS.map((name) => this.waitReady(name, timeoutMs)));
  }

  async waitReady(name: FaultConsumer, timeoutMs: number): Promise<void> {
    await waitReady(this.isolated.healthPorts[name]!, timeoutMs, this.slots.get(name)?.process);
  }

  /** Starts `name` (not running yet, or exited). */
  start(name: FaultConsumer): void {
    const previous = this.slots.get(name);
    const process = startConsumer(name, this.isolated.env);
    const slot: Slot = { process, expectedExit: false, starts: (previous?.starts ?? 0) + 1 };
    this.slots.set(name, slot);
    void process.exited.then((code) => {
      this.saveOutput(name, slot, code);
      if (slot.expectedExit || this.closing || this.slots.get(name) !== slot) return;
      this.unexpected.push(`${name} exited ${code ?? process.child.signalCode} on its own (start #${slot.starts})`);
      // A second apart: a consumer that cannot start (an engine down) does not spin.
      setTimeout(() => {
        if (!this.closing && this.slots.get(name) === slot) this.start(name);
      }, 1_000);
    });
  }

  /** kill -9, waits for the exit, restarts at once. */
  async killAndRestart(name: FaultConsumer): Promise<void> {
    await this.kill(name, 'SIGKILL');
    this.start(name);
  }

  /** Sends `signal` (SIGINT: the graceful stop) and waits for the exit. */
  async kill(name: FaultConsumer, signal: NodeJS.Signals): Promise<number | null> {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`consumer ${name} was never started`);
    slot.expectedExit = true;
    if (slot.process.child.exitCode === null && slot.process.child.signalCode === null) slot.process.child.kill(signal);
    return slot.process.exited;
  }

  /** The consumer's /metrics text (Prometheus exposition). */
  async metrics(name: FaultConsumer): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.isolated.healthPorts[name]}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`consumer ${name} /metrics answered ${response.status}`);
    return response.text();
  }

  takeUnexpectedExits(): string[] {
    const exits = this.unexpected;
    this.unexpected = [];
    return exits;
  }

  /** Graceful stop of every consumer (SIGINT, then SIGKILL after `graceMs`). Safe to call twice. */
  async close(graceMs = 30_000): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.slots.entries()].map(async ([name, slot]) => {
        const timer = setTimeout(() => slot.process.child.kill('SIGKILL'), graceMs);
        try {
          await this.kill(name, 'SIGINT');
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  private saveOutput(name: FaultConsumer, slot: Slot, code: number | null): void {
    const header = `\n===== ${name} start #${slot.starts} exited ${code ?? slot.process.child.signalCode} at ${new Date().toISOString()} =====\n`;
    appendFileSync(join(RESULTS_DIR, `${this.isolated.run}-${name}.log`), header + slot.process.output());
  }
}
