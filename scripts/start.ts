/**
 * `npm start`: the whole pipeline in one terminal.
 *
 * 1. Checks every engine and the connector (scripts/operator/stack-check.ts); when anything is
 *    missing it runs ./setup.sh (the same idempotent path: what runs is left alone).
 * 2. Starts every consumer of the list (scripts/operator/consumer-list.ts), each its own process
 *    (`node --import tsx consumers/<name>/main.ts`, what `npm run consumer:<name>` runs), and the
 *    pipeline page (DASHBOARD_PORT, default 9100).
 * 3. Prints their log lines prefixed and coloured (JSON when stdout is not a terminal) and, on a
 *    terminal, one live status line per consumer below them (scripts/operator/status-lines.ts).
 *
 * Ctrl-C (SIGINT) or SIGTERM: each consumer gets ONE SIGINT and shuts down as it always does
 * (finishes its batch, commits, closes; exit 0). The consumers run in their own process groups,
 * so the terminal's Ctrl-C reaches them only through here: npm forwards the terminal's SIGINT to
 * this process again, and a consumer that got two would exit at once. Repeats within 2 s count as
 * the same Ctrl-C; a later one forwards a second signal, which makes the consumers exit now (1).
 * Exit code: 0 when every consumer exited 0.
 *
 *   npm start                       every consumer of the list
 *   npm start -- redis elasticsearch   only these
 *   npm start -- --no-dashboard     without the page
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../consumers/core/logger.js';
import { connectorIdentity, createMonitor, startDashboard, type Dashboard } from '../dashboard/server.js';
import type { PipelineSnapshot } from '../dashboard/pipeline-monitor.js';
import { colourFor, jsonFormatter, LineSplitter, prettyFormatter, type LineFormatter } from './operator/log-lines.js';
import { checkStack, runSetup } from './operator/stack-check.js';
import { renderStatusLine, StatusBlock, statusText, type ProcessState } from './operator/status-lines.js';
import { consumerTargets, operatorEnv, type ConsumerTarget } from './operator/targets.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPEAT_WINDOW_MS = 2_000;

interface Running {
  readonly target: ConsumerTarget;
  readonly child: ChildProcess;
  readonly formatter: LineFormatter;
  state: ProcessState;
  readonly exited: Promise<void>;
}

const { values: flags, positionals: names } = parseArgs({
  args: process.argv.slice(2),
  options: { 'no-dashboard': { type: 'boolean', default: false }, 'no-setup': { type: 'boolean', default: false } },
  allowPositionals: true,
});

const tty = process.stdout.isTTY === true;
let env = operatorEnv();
let stopping = false;
let firstSignalAt = 0;
const block = tty ? new StatusBlock(process.stdout) : null;
const print = (text: string) => (block ? block.write(text) : process.stdout.write(text));
// This script's own lines go through the same formatter as the consumers' ("start │ ...").
const ownLines = tty ? prettyFormatter('start', 13, 'green') : jsonFormatter('start');
const logger = createLogger({ consumer: 'start', level: 'info', pretty: false, destination: { write: (line: string) => void print(ownLines.format(line.trimEnd(), 'stdout')) } });

// --- 1. the stack -----------------------------------------------------------------------------
const connector = connectorIdentity();
const down = (await checkStack(env, connector.name)).filter((check) => check.problem !== null);
if (down.length > 0) {
  for (const check of down) logger.warn({ engine: check.engine, address: check.address }, `${check.engine} is not up: ${check.problem}`);
  if (flags['no-setup']) {
    logger.fatal('the stack is not up and --no-setup was given: run ./setup.sh');
    process.exit(1);
  }
  logger.info('bringing the stack up with ./setup.sh');
  const code = await runSetup(ROOT, process.env);
  if (code !== 0) {
    logger.fatal({ code }, './setup.sh failed: see its output above');
    process.exit(code);
  }
  env = operatorEnv(); // a first ./setup.sh creates .env
} else {
  logger.info('the stack is up (every engine answers, the connector is RUNNING)');
}

// --- 2. the consumers -------------------------------------------------------------------------
const targets = consumerTargets(env, names.length > 0 ? names : undefined);
const nameWidth = 13; // the longest consumer name, "elasticsearch"; "notification" fits too

const running: Running[] = targets.map((target, index) => {
  const formatter = tty ? prettyFormatter(target.entry.name, nameWidth, colourFor(index)) : jsonFormatter(target.entry.name);
  // Its own process group (detached): the terminal's Ctrl-C reaches it only through stop() below.
  const child = spawn(process.execPath, ['--import', 'tsx', target.entry.main], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const entry: Running = {
    target,
    child,
    formatter,
    state: { running: true },
    exited: new Promise<void>((done) => {
      child.once('exit', (code, signal) => {
        entry.state = { running: false, code, signal };
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const line = JSON.stringify({ level: code === 0 ? 'info' : 'error', time: Date.now(), consumer: target.entry.name, msg: `consumer:${target.entry.name} ${how}`, exitCode: code });
        print(formatter.format(line, 'stdout'));
        redraw();
        done();
      });
    }),
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    const splitter = new LineSplitter();
    const source = child[stream]!;
    source.on('data', (chunk: Buffer) => {
      const lines = splitter.push(chunk);
      if (lines.length > 0) print(lines.map((line) => formatter.format(line, stream)).join(''));
    });
    source.on('end', () => {
      const rest = splitter.flush();
      if (rest.length > 0) print(rest.map((line) => formatter.format(line, stream)).join(''));
    });
  }
  child.once('error', (error) => logger.error({ err: error, consumer: target.entry.name }, 'could not start the consumer process'));
  return entry;
});
// If this process dies some other way, its consumers must not live on unseen.
process.on('exit', () => {
  for (const entry of running) if (entry.state.running) entry.child.kill('SIGTERM');
});
logger.info({ consumers: targets.map((t) => t.entry.name) }, `started ${targets.map((t) => `consumer:${t.entry.name}`).join(', ')}`);

// --- 3. status lines and the page --------------------------------------------------------------
const monitor = createMonitor(targets, env, logger, 1_000);
let latest: PipelineSnapshot | null = null;
let dashboardUrl = '';
function redraw(): void {
  if (!block) return;
  const columns = process.stdout.columns || 100;
  const lines = running.map((entry, index) => {
    const status = latest?.consumers.find((consumer) => consumer.name === entry.target.entry.name);
    return renderStatusLine(statusText(entry.target.entry.name, nameWidth, entry.state, status), nameWidth, colourFor(index), columns);
  });
  const footer = `${dashboardUrl ? `pipeline page ${dashboardUrl} · ` : ''}${stopping ? 'stopping: each consumer finishes its batch and commits…' : 'Ctrl-C stops all'}`;
  block.update([...lines, footer.slice(0, columns - 1)]);
}
monitor.onUpdate((snapshot) => {
  latest = snapshot;
  redraw();
});
await monitor.start();

let dashboard: Dashboard | null = null;
if (!flags['no-dashboard']) {
  try {
    dashboard = await startDashboard({ targets, env, logger: logger.child({ component: 'dashboard' }), monitor });
    dashboardUrl = dashboard.url;
    logger.info({ url: dashboard.url }, `pipeline page: ${dashboard.url}`);
  } catch (error) {
    logger.warn({ err: error }, 'the pipeline page did not start (DASHBOARD_PORT taken?); the consumers run without it');
  }
}
redraw();

// --- Ctrl-C -------------------------------------------------------------------------------------
function stop(signal: NodeJS.Signals): void {
  const now = Date.now();
  if (stopping && now - firstSignalAt < REPEAT_WINDOW_MS) return; // the same Ctrl-C, delivered again by npm
  const forced = stopping;
  if (!stopping) {
    stopping = true;
    firstSignalAt = now;
    logger.info({ signal }, 'stopping every consumer (each finishes its batch and commits)');
  } else {
    logger.warn('second Ctrl-C: the consumers stop now, without finishing their batches');
  }
  for (const entry of running) if (entry.state.running) entry.child.kill('SIGINT');
  if (!forced) redraw();
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

await Promise.all(running.map((entry) => entry.exited));
await dashboard?.close().catch((error: unknown) => logger.warn({ err: error }, 'the pipeline page did not close cleanly'));
await monitor.stop();
block?.done();
const failed = running.filter((entry) => entry.state.running || entry.state.code !== 0);
if (failed.length > 0) logger.error({ consumers: failed.map((entry) => entry.target.entry.name) }, 'not every consumer exited cleanly');
else logger.info('every consumer stopped cleanly (exit 0, offsets committed)');
process.exit(failed.length > 0 ? 1 : 0);
