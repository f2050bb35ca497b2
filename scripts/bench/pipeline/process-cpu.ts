/**
 * CPU time of whole process trees, read from /proc (Linux): the bench attributes the machine's
 * CPU to each engine and consumer, so "CPU per event" can say which process pays for what.
 *
 * A tree's time is utime + stime of the root and every live descendant, plus what the root has
 * already collected from children that exited (cutime + cstime): PostgreSQL's backends come and
 * go. Times are in microseconds; /proc counts in clock ticks (USER_HZ = 100 on Linux).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const TICK_US = 10_000;

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, µs. */
  own: number;
  /** cutime + cstime, µs. */
  children: number;
}

function readStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      ppid: Number(fields[1]),
      own: (Number(fields[11]) + Number(fields[12])) * TICK_US,
      children: (Number(fields[13]) + Number(fields[14])) * TICK_US,
    };
  } catch {
    return null; // exited meanwhile
  }
}

/** Every live process, by pid, with its parent. */
function snapshot(): Map<number, ProcStat> {
  const all = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) all.set(stat.pid, stat);
  }
  return all;
}

/** CPU µs used so far by each named tree (null where the root is gone). One /proc scan for all. */
export function treeCpu(roots: ReadonlyMap<string, number>): Map<string, number | null> {
  const all = snapshot();
  const childrenOf = new Map<number, number[]>();
  for (const stat of all.values()) {
    const list = childrenOf.get(stat.ppid);
    if (list) list.push(stat.pid);
    else childrenOf.set(stat.ppid, [stat.pid]);
  }
  const result = new Map<string, number | null>();
  for (const [name, root] of roots) {
    const rootStat = all.get(root);
    if (!rootStat) {
      result.set(name, null);
      continue;
    }
    let total = rootStat.children;
    const stack = [root];
    while (stack.length > 0) {
      const pid = stack.pop()!;
      total += all.get(pid)?.own ?? 0;
      stack.push(...(childrenOf.get(pid) ?? []));
    }
    result.set(name, total);
  }
  return result;
}

/** The native stack's engine pids (.stack/run/<engine>.pid), where alive. Empty for Docker. */
export function stackPids(runDir: string): Map<string, number> {
  const pids = new Map<string, number>();
  for (const engine of ['postgres', 'kafka', 'connect', 'elasticsearch', 'redis', 'mongodb', 'mailpit']) {
    const file = `${runDir}/${engine}.pid`;
    if (!existsSync(file)) continue;
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && existsSync(`/proc/${pid}`)) pids.set(engine, pid);
  }
  return pids;
}

/** Busy and total jiffies of the whole machine (/proc/stat), for its busy share. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
  const total = values.reduce((sum, value) => sum + value, 0);
  return { busy: total - idle, total };
}
