/**
 * The independent half of the latency measurement: reads the sinks themselves, the way a shop's
 * application would, and times how long after PostgreSQL acknowledged a COMMIT the change is
 * there. Latency = first poll that sees it - COMMIT acknowledged (both on this process's clock),
 * so it includes the poll interval (at most REDIS/GET_POLL_MS late).
 *
 * What it reads for an order `id` and expected status `s` (null = deleted):
 * - redis:                 GET <prefix>order:<id> holds status s (or is gone);
 * - elasticsearch:         realtime GET <prefix>orders/_doc/<id> has _source.status s (or the
 *                          soft-delete marker): what the consumer wrote, before any refresh;
 * - elasticsearch-search:  a search for the id and status finds it: when a search sees the
 *                          change (index.refresh_interval, 1 s by default). Sampled less often.
 * Probes run concurrently; each gives up after TIMEOUT_MS (counted as a timeout).
 */
import type { Client } from '@elastic/elasticsearch';
import type { Redis } from 'ioredis';
import type { Committed } from '../../load/shop-workload.js';

const MIN_POLL_MS = { redis: 1, elasticsearch: 1, 'elasticsearch-search': 10 } as const;
const POLL_SHARE = 0.05;
const TIMEOUT_MS = 60_000;

export type ProbeTarget = keyof typeof MIN_POLL_MS;

export interface ProbeSample {
  /** performance.now() of the commit. */
  readonly at: number;
  /** ms, or null if it never showed within TIMEOUT_MS. */
  readonly latencyMs: number | null;
}

export interface ProbeTargets {
  redis?: { client: Redis; keyPrefix: string };
  elasticsearch?: { client: Client; indexPrefix: string };
}

export class SinkProbe {
  readonly samples = new Map<ProbeTarget, ProbeSample[]>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly targets: ProbeTargets) {
    if (targets.redis) this.samples.set('redis', []);
    if (targets.elasticsearch) {
      this.samples.set('elasticsearch', []);
      this.samples.set('elasticsearch-search', []);
    }
  }

  get targetNames(): ProbeTarget[] {
    return [...this.samples.keys()];
  }

  /** Starts watching `committed` in the given targets (the caller samples which commits). */
  watch(committed: Committed, targets: readonly ProbeTarget[]): void {
    if (this.stopped) return;
    for (const target of targets) {
      if (!this.samples.has(target)) continue;
      const work = this.poll(target, committed).then((latencyMs) => {
        this.samples.get(target)!.push({ at: committed.committedAt, latencyMs });
      });
      this.running.add(work);
      void work.finally(() => this.running.delete(work));
    }
  }

  /** Lets the probes in flight finish (or time out). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.drain();
  }

  private async poll(target: ProbeTarget, committed: Committed): Promise<number | null> {
    const deadline = committed.committedAt + TIMEOUT_MS;
    for (;;) {
      let seen = false;
      try {
        seen = await this.sees(target, committed);
      } catch {
        seen = false; // the engine is busy or restarting: keep polling until the deadline
      }
      const now = performance.now();
      if (seen) return now - committed.committedAt;
      if (now > deadline || this.stopped) return null;
      await new Promise((resolve) => setTimeout(resolve, Math.max(MIN_POLL_MS[target], (now - committed.committedAt) * POLL_SHARE)));
    }
  }

  private async sees(target: ProbeTarget, { orderId, status }: Committed): Promise<boolean> {
    if (target === 'redis') {
      const { client, keyPrefix } = this.targets.redis!;
      const text = await client.get(`${keyPrefix}order:${orderId}`);
      if (status === null) return text === null;
      return text !== null && (JSON.parse(text) as { status?: string }).status === status;
    }
    const { client, indexPrefix } = this.targets.elasticsearch!;
    const index = `${indexPrefix}orders`;
    if (target === 'elasticsearch') {
      const doc = await client.get<{ status?: string; _cdc?: { deleted?: boolean } }>({ index, id: String(orderId) }, { ignore: [404] });
      if (!doc.found) return false;
      return status === null ? doc._source?._cdc?.deleted === true : doc._source?.status === status;
    }
    // Search goes through the alias, which filters soft-deleted rows out.
    const filter: object[] = [{ ids: { values: [String(orderId)] } }];
    if (status !== null) filter.push({ term: { status } });
    const result = await client.count({ index, query: { bool: { filter } } });
    return status === null ? result.count === 0 : result.count === 1;
  }
}
