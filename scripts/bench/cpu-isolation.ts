/**
 * BENCH_ISOLATE_ENGINE=1 for the sink benchmarks: gives the sink's engine (Redis or
 * Elasticsearch) the last CPU of the machine to itself and puts this bench process, Kafka and
 * the rest of the native stack on the others, the way production runs them (the cache or search
 * cluster on its own hosts). Without it, on a 2-core machine the consumer's own CPU (Kafka fetch,
 * decoding, serialising) is taken straight from the engine whose raw speed it is compared with,
 * and the ratio measures how the machine's cores are shared rather than the consumer.
 *
 * Uses `taskset` on the pids the native stack records in .stack/run/; affinity is restored to
 * every CPU at the end. Throws, saying why, when that is not possible (fewer than 2 CPUs, no
 * taskset, no native stack).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

const RUN_DIR = resolve(import.meta.dirname, '../../.stack/run');
const STACK_ENGINES = ['postgres', 'redis', 'kafka', 'elasticsearch', 'mongodb', 'connect'] as const;

export const isolationRequested = process.env.BENCH_ISOLATE_ENGINE === '1';

function pidOf(engine: string): number | null {
  const file = resolve(RUN_DIR, `${engine}.pid`);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && existsSync(`/proc/${pid}`) ? pid : null;
}

function pin(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** Pins `engine` to the last CPU and everything else of the stack (and this process) to the rest; returns the undo. */
export function isolateEngine(engine: 'redis' | 'elasticsearch'): () => void {
  const cpus = availableParallelism();
  if (cpus < 2) throw new Error('BENCH_ISOLATE_ENGINE needs at least 2 CPUs');
  const enginePid = pidOf(engine);
  if (enginePid === null) throw new Error(`BENCH_ISOLATE_ENGINE needs the native stack's ${engine} (no live pid in ${RUN_DIR})`);
  const last = String(cpus - 1);
  const others = cpus === 2 ? '0' : `0-${cpus - 2}`;
  const all = `0-${cpus - 1}`;
  const rest = [process.pid, ...STACK_ENGINES.filter((name) => name !== engine).map(pidOf).filter((pid): pid is number => pid !== null)];
  pin(enginePid, last);
  for (const pid of rest) pin(pid, others);
  console.log(`[bench] isolated: ${engine} on CPU ${last}; this process, Kafka and the rest of the stack on CPU ${others}`);
  return () => {
    for (const pid of [enginePid, ...rest]) {
      try {
        pin(pid, all);
      } catch {
        // the process is gone: nothing to restore
      }
    }
  };
}
