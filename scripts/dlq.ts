/**
 * Dead-letter tooling: `npm run dlq -- <command>`.
 *
 *   list   [--consumer redis] [--status pending|replayed] [--table orders] [--reason sink|decode] [--json]
 *   show   <id> [--json]                       one dead letter with its original message and replays
 *   replay <id>...                              these dead letters
 *   replay --consumer redis [--table orders] [--reason sink]   every PENDING one matching the filter
 *   replay --all                                every pending dead letter of every consumer
 *          [--by <name>] (default user@host) [--again] (also ones already replayed) [--json]
 *
 * Ids are `<consumer>:<partition>:<offset>` in the dead-letter topic (see `list`). Replay goes
 * through the consumer's own sink code and records each attempt (scripts/operator/replay.ts);
 * the pipeline page's replay button runs the same code. Exit code: 0 when every replay settled
 * (or there was nothing to do), 1 when one failed, 2 for a usage error.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createLogger } from '../consumers/core/logger.js';
import { DeadLetterStore, type DeadLetter, type DeadLetterFilter, type DeadLetterStatus } from './operator/dead-letters.js';
import { defaultActor, Replayer, type ReplayResult } from './operator/replay.js';
import { consumerTargets, operatorEnv } from './operator/targets.js';

const USAGE = `usage: npm run dlq -- list [--consumer <name>] [--status pending|replayed] [--table <t>] [--reason sink|decode] [--json]
       npm run dlq -- show <id> [--json]
       npm run dlq -- replay <id>... | --consumer <name> [--table <t>] [--reason <r>] | --all  [--by <name>] [--again] [--json]`;

class UsageError extends Error {}

const options = {
  consumer: { type: 'string' },
  status: { type: 'string' },
  table: { type: 'string' },
  reason: { type: 'string' },
  all: { type: 'boolean', default: false },
  again: { type: 'boolean', default: false },
  by: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (values.status !== undefined && values.status !== 'pending' && values.status !== 'replayed') {
    throw new UsageError(`--status must be pending or replayed, not '${values.status}'`);
  }
  const filter: DeadLetterFilter = {
    ...(values.consumer ? { consumer: values.consumer } : {}),
    ...(values.status ? { status: values.status as DeadLetterStatus } : {}),
    ...(values.table ? { table: values.table } : {}),
    ...(values.reason ? { reason: values.reason } : {}),
  };

  const env = operatorEnv();
  const targets = consumerTargets(env, values.consumer ? [values.consumer] : undefined);
  // Logs go to stderr: stdout is the command's answer (and valid JSON with --json).
  const logger = createLogger({ consumer: 'dlq', level: env.LOG_LEVEL === 'debug' ? 'debug' : 'warn', destination: pino.destination(2), pretty: false });
  const store = new DeadLetterStore({
    brokers: [...targets[0]!.config.kafka.brokers],
    consumers: targets.map((target) => ({ name: target.entry.name, deadLetterTopic: target.config.deadLetterTopic })),
    logger,
  });
  await store.start();
  try {
    await store.caughtUp();
    switch (command) {
      case 'list':
        if (rest.length > 0) throw new UsageError(`list takes no ids (got ${rest.join(' ')})`);
        return printList(store.list(filter), values.json);
      case 'show': {
        if (rest.length !== 1) throw new UsageError('show takes exactly one id');
        const deadLetter = store.get(rest[0]!);
        if (!deadLetter) {
          process.stderr.write(`no dead letter ${rest[0]} (see npm run dlq -- list)\n`);
          return 1;
        }
        return printOne(deadLetter, values.json);
      }
      case 'replay': {
        const ids = replaySelection(store, rest, filter, values.all, values.again);
        if (ids.length === 0) {
          process.stdout.write(values.json ? '[]\n' : 'nothing to replay\n');
          return 0;
        }
        const replayer = new Replayer({ store, targets, logger, via: 'cli' });
        try {
          const results = await replayer.replay(ids, values.by ?? defaultActor(), values.again);
          return printReplays(results, values.json);
        } finally {
          await replayer.close();
        }
      }
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } finally {
    await store.close();
  }
}

/** Ids given, or the dead letters matching the filter (pending ones unless --again). */
function replaySelection(store: DeadLetterStore, ids: string[], filter: DeadLetterFilter, all: boolean, again: boolean): string[] {
  const byFilter = all || filter.consumer !== undefined || filter.table !== undefined || filter.reason !== undefined;
  if (ids.length > 0 && (byFilter || all)) throw new UsageError('give either ids or a filter (--consumer/--table/--reason/--all), not both');
  if (ids.length > 0) return ids;
  if (!byFilter) throw new UsageError('replay needs ids, a filter (--consumer, --table, --reason) or --all');
  return store.list({ ...filter, ...(again ? {} : { status: 'pending' as const }) }).map((deadLetter) => deadLetter.id);
}

function summary(deadLetter: DeadLetter) {
  const { raw: _raw, message: _message, ...rest } = deadLetter;
  return rest;
}

function printList(deadLetters: DeadLetter[], json: boolean): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(deadLetters.map(summary), null, 2)}\n`);
    return 0;
  }
  if (deadLetters.length === 0) {
    process.stdout.write('no dead letters\n');
    return 0;
  }
  const rows = deadLetters.map((d) => [d.id, d.status, d.table, JSON.stringify(d.key), d.reason, d.time, oneLine(d.error, 70)]);
  printTable(['ID', 'STATUS', 'TABLE', 'KEY', 'REASON', 'DEAD-LETTERED', 'ERROR'], rows);
  const pending = deadLetters.filter((d) => d.status === 'pending').length;
  process.stdout.write(`\n${deadLetters.length} dead letter(s), ${pending} pending. Details: npm run dlq -- show <id>\n`);
  return 0;
}

function printOne(deadLetter: DeadLetter, json: boolean): number {
  if (json) {
    const { raw: _raw, ...rest } = deadLetter;
    process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
    return 0;
  }
  const d = deadLetter;
  const lines = [
    `id              ${d.id}  (${d.topic} partition ${d.partition} offset ${d.offset})`,
    `status          ${d.status}`,
    `consumer        ${d.consumer}`,
    `table / key     ${d.table} ${JSON.stringify(d.key)}`,
    `reason          ${d.reason} (after ${d.attempts} attempt(s))`,
    `error           ${d.error}`,
    `dead-lettered   ${d.time}`,
    `original        ${d.original.topic} partition ${d.original.partition} offset ${d.original.offset} (Kafka time ${new Date(Number(d.original.timestamp)).toISOString()})`,
    `message key     ${d.message.key ?? '(none)'}`,
    `message value   ${valueText(d.message.value)}`,
  ];
  if (Object.keys(d.message.headers).length > 0) lines.push(`message headers ${JSON.stringify(d.message.headers)}`);
  lines.push(d.replays.length === 0 ? 'replays         none' : 'replays:');
  for (const r of d.replays) lines.push(`  ${r.at}  ${r.outcome.padEnd(8)} by ${r.by} via ${r.via}${r.error ? `: ${r.error}` : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function printReplays(results: ReplayResult[], json: boolean): number {
  const failed = results.some((result) => result.outcome === 'failed');
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else {
    printTable(['ID', 'OUTCOME', 'DETAIL'], results.map((r) => [r.id, r.outcome, oneLine(r.detail, 100)]));
    const settled = results.filter((r) => r.outcome === 'applied' || r.outcome === 'stale').length;
    process.stdout.write(`\n${settled} replayed, ${results.filter((r) => r.outcome === 'failed').length} failed (still pending), ${results.filter((r) => r.outcome === 'skipped').length} skipped\n`);
  }
  return failed ? 1 : 0;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ');
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** The Debezium payload, pretty (the schema half is long and the same for every row: --json has it). */
function valueText(text: string | null): string {
  if (text === null) return '(null: a tombstone)';
  try {
    const parsed = JSON.parse(text) as unknown;
    const payload = parsed && typeof parsed === 'object' && 'payload' in parsed ? (parsed as { payload: unknown }).payload : parsed;
    const label = payload === parsed ? '' : '(payload; the full message with its schema: --json)\n';
    return `${label}${JSON.stringify(payload, null, 2)}`.replace(/\n/g, '\n                ');
  } catch {
    return text;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const usage = error instanceof UsageError || (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'));
    process.stderr.write(`dlq: ${error instanceof Error ? error.message : String(error)}\n${usage ? `${USAGE}\n` : ''}`);
    process.exit(usage ? 2 : 1);
  },
);
