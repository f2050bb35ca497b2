/**
 * What one load step measured, from the samples at its start and end and the probe's samples
 * inside it, and whether the pipeline kept up.
 */
import type { StepLoad } from '../../load/shop-workload.js';
import { maxBound, quantile, subtract } from './prometheus-histogram.js';
import type { Sample } from './sampler.js';
import type { ProbeSample, ProbeTarget } from './sink-probe.js';

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** Histograms: upper bound of the highest non-empty bucket; probe: the exact maximum. */
  max: number | null;
  count: number;
}

export interface StepSummary {
  label: string;
  targetOrdersPerSecond: number;
  seconds: number;
  achievedOrdersPerSecond: number;
  ordersMissed: number;
  loadErrors: number;
  /** Row changes per second Debezium put into Kafka (tombstones included). */
  eventsPerSecond: number;
  /** Per consumer: commit->sink and commit->Kafka from its own histogram, ms. */
  histograms: Record<string, { toSink: Percentiles; toKafka: Percentiles; eventsPerSecond: number }>;
  /** Per probe target, ms. */
  probes: Record<string, Percentiles & { timeouts: number }>;
  /** Per consumer group: lag (messages) at the end, the most seen, and its growth over the second half (messages/s). */
  lag: Record<string, { end: number; max: number; growthPerSecond: number }>;
  /** Per process: share of one core, and µs of CPU per event (its own events for a consumer, produced events otherwise). */
  cpu: Record<string, { cores: number; usPerEvent: number | null }>;
  machineBusy: number;
  /** Cores the measured processes (engines, consumers, this bench) used together; the rest of machineBusy is other work. */
  pipelineCores: number;
  cpus: number;
  sustained: boolean;
  /** Why not sustained, naming the process that held it back. */
  verdict: string;
}

const ms = (seconds: number | null) => (seconds === null ? null : seconds * 1000);

function fromHistogram(later: Sample['consumers'][string]['toSink'], earlier: Sample['consumers'][string]['toSink']): Percentiles {
  const delta = subtract(later, earlier);
  return { p50: ms(quantile(delta, 0.5)), p95: ms(quantile(delta, 0.95)), p99: ms(quantile(delta, 0.99)), max: ms(maxBound(delta)), count: delta.counts.at(-1) ?? 0 };
}

export function exactPercentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: null, p95: null, p99: null, max: null, count: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1)!, count: sorted.length };
}

/** Least-squares slope of lag over time (messages per second). */
function slope(points: { t: number; lag: number }[]): number {
  if (points.length < 3) return 0;
  const n = points.length;
  const meanT = points.reduce((sum, p) => sum + p.t, 0) / n;
  const meanL = points.reduce((sum, p) => sum + p.lag, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - meanT) * (p.lag - meanL);
    den += (p.t - meanT) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 1000;
}

export function summarizeStep(input: {
  label: string;
  load: StepLoad;
  seconds: number;
  start: Sample;
  end: Sample;
  samples: Sample[];
  probes: Map<ProbeTarget, ProbeSample[]>;
  startedAt: number;
  endedAt: number;
  consumerProcesses: readonly string[];
  cpus: number;
}): StepSummary {
  const { start, end, load, seconds } = input;
  const wallSeconds = (end.t - start.t) / 1000;
  const produced = end.produced - start.produced;
  const histograms: StepSummary['histograms'] = {};
  for (const [name, later] of Object.entries(end.consumers)) {
    const earlier = start.consumers[name];
    if (!earlier) continue;
    histograms[name] = {
      toSink: fromHistogram(later.toSink, earlier.toSink),
      toKafka: fromHistogram(later.toKafka, earlier.toKafka),
      eventsPerSecond: (later.events - earlier.events) / wallSeconds,
    };
  }
  const probes: StepSummary['probes'] = {};
  for (const [target, samples] of input.probes) {
    const inStep = samples.filter((sample) => sample.at >= input.startedAt && sample.at < input.endedAt);
    const seen = inStep.flatMap((sample) => (sample.latencyMs === null ? [] : [sample.latencyMs]));
    probes[target] = { ...exactPercentiles(seen), timeouts: inStep.length - seen.length };
  }
  const lag: StepSummary['lag'] = {};
  const window = input.samples.filter((sample) => sample.t >= start.t && sample.t <= end.t);
  const secondHalf = window.filter((sample) => sample.t >= (start.t + end.t) / 2);
  for (const name of Object.keys(end.consumers)) {
    const series = window.map((sample) => sample.consumers[name]?.lag ?? 0);
    lag[name] = {
      end: end.consumers[name]!.lag,
      max: Math.max(0, ...series),
      growthPerSecond: slope(secondHalf.map((sample) => ({ t: sample.t, lag: sample.consumers[name]?.lag ?? 0 }))),
    };
  }
  const cpu: StepSummary['cpu'] = {};
  for (const [name, used] of Object.entries(end.cpu)) {
    const before = start.cpu[name];
    if (used === null || before === null || before === undefined) continue;
    const micros = used - before;
    const consumerEvents = input.consumerProcesses.includes(name) ? (end.consumers[name.replace('consumer:', '')]?.events ?? 0) - (start.consumers[name.replace('consumer:', '')]?.events ?? 0) : produced;
    cpu[name] = { cores: micros / 1e6 / wallSeconds, usPerEvent: consumerEvents > 0 ? micros / consumerEvents : null };
  }
  const machineBusy = (end.machine.busy - start.machine.busy) / Math.max(1, end.machine.total - start.machine.total);
  const pipelineCores = Object.values(cpu).reduce((sum, { cores }) => sum + cores, 0);
  const eventsPerSecond = produced / wallSeconds;
  const achieved = load.ordersCommitted / seconds;
  const summary: StepSummary = {
    label: input.label,
    targetOrdersPerSecond: load.targetOrdersPerSecond,
    seconds,
    achievedOrdersPerSecond: achieved,
    ordersMissed: load.ordersMissed,
    loadErrors: load.errors,
    eventsPerSecond,
    histograms,
    probes,
    lag,
    cpu,
    machineBusy,
    pipelineCores,
    cpus: input.cpus,
    sustained: true,
    verdict: '',
  };
  assess(summary);
  return summary;
}

/**
 * Sustained: the generator reached 97% of the target rate, and no consumer's lag grew over the
 * second half of the step by more than 2% of the event rate (or 20 messages/s) nor ended above
 * 5 s worth of events. Otherwise the verdict names who held it back: a process using (nearly) a
 * whole core is the bottleneck (a Node consumer runs on one thread); else, if the machine is
 * busy, the largest CPU users; else the lagging consumer itself (waiting on its sink).
 */
function assess(summary: StepSummary): void {
  const problems: string[] = [];
  // (2 orders of slack: the first tick of a step starts none)
  if (summary.achievedOrdersPerSecond * summary.seconds < 0.97 * summary.targetOrdersPerSecond * summary.seconds - 2) {
    problems.push(`the load generator reached ${summary.achievedOrdersPerSecond.toFixed(0)} of ${summary.targetOrdersPerSecond} orders/s (${summary.ordersMissed} missed: PostgreSQL or the generator is saturated)`);
  }
  const laggards = Object.entries(summary.lag).filter(
    ([, lag]) => lag.growthPerSecond > Math.max(20, 0.02 * summary.eventsPerSecond) || lag.end > Math.max(1000, 5 * summary.eventsPerSecond),
  );
  for (const [name, lag] of laggards) problems.push(`consumer:${name} falls behind (lag ${lag.end}, growing ${lag.growthPerSecond.toFixed(0)}/s)`);
  summary.sustained = problems.length === 0;
  const byCpu = Object.entries(summary.cpu).sort((a, b) => b[1].cores - a[1].cores);
  const top = byCpu
    .slice(0, 3)
    .map(([name, cpu]) => `${name} ${(cpu.cores * 100).toFixed(0)}%`)
    .join(', ');
  if (summary.sustained) {
    summary.verdict = `kept up (machine ${(summary.machineBusy * 100).toFixed(0)}% busy; most CPU: ${top})`;
    return;
  }
  const saturated = byCpu.filter(([name, cpu]) => (name.startsWith('consumer:') || name === 'bench') && cpu.cores >= 0.85);
  let bottleneck: string;
  if (saturated.length > 0) bottleneck = `bottleneck: ${saturated.map(([name, cpu]) => `${name} at ${(cpu.cores * 100).toFixed(0)}% of a core (single-threaded)`).join(', ')}`;
  else if (summary.machineBusy >= 0.9) {
    const others = summary.machineBusy * summary.cpus - summary.pipelineCores;
    bottleneck =
      `bottleneck: the machine's CPU (${(summary.machineBusy * 100).toFixed(0)}% busy: the pipeline's processes ${summary.pipelineCores.toFixed(2)} of ${summary.cpus} cores` +
      `${others > 0.25 * summary.cpus ? `, other work on the machine ${others.toFixed(2)} cores` : ''}); most CPU: ${top}`;
  }
  else bottleneck = `no process is CPU-bound (machine ${(summary.machineBusy * 100).toFixed(0)}% busy; most CPU: ${top}): the lagging consumer waits on its sink`;
  summary.verdict = `${problems.join('; ')}; ${bottleneck}`;
}
