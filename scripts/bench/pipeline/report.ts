/**
 * The bench's three outputs: a table on the terminal, a JSON file with everything (steps and
 * the per-second timeline), and a self-contained HTML report with charts.
 *
 * Charts use uPlot (npm `uplot`, MIT, ~50 kB): made for time series, it draws tens of thousands
 * of points on a canvas instantly, and its built file is inlined into the HTML, so the report
 * opens offline and from any folder. Chart.js would do too, at four times the size and slower
 * with long series; hand-drawn SVG would be code to maintain.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { quantile, subtract } from './prometheus-histogram.js';
import type { Sample } from './sampler.js';
import type { Percentiles, StepSummary } from './step-summary.js';
import type { ProbeSample, ProbeTarget } from './sink-probe.js';

export interface BenchResult {
  run: string;
  startedAt: string;
  machine: { cpus: number; node: string; load: number[] };
  consumers: { running: string[]; missing: { name: string; reason: string }[] };
  settings: Record<string, string>;
  steps: StepSummary[];
  timeline: TimelinePoint[];
  probes: Record<string, { t: number; latencyMs: number | null }[]>;
}

export interface TimelinePoint {
  t: number;
  step: string;
  ordersPerSecond: number;
  eventsPerSecond: number;
  /** Per consumer: p50/p99 commit->sink over the last second, ms. */
  latency: Record<string, { p50: number | null; p99: number | null }>;
  lag: Record<string, number>;
  /** Per process: share of a core over the last second. */
  cpu: Record<string, number>;
}

export function timeline(samples: readonly Sample[]): TimelinePoint[] {
  const points: TimelinePoint[] = [];
  for (let i = 1; i < samples.length; i++) {
    const [a, b] = [samples[i - 1]!, samples[i]!];
    const seconds = (b.t - a.t) / 1000;
    if (seconds <= 0.2) continue;
    const latency: TimelinePoint['latency'] = {};
    const lag: Record<string, number> = {};
    for (const [name, consumer] of Object.entries(b.consumers)) {
      const before = a.consumers[name];
      const delta = before ? subtract(consumer.toSink, before.toSink) : consumer.toSink;
      const toMs = (value: number | null) => (value === null ? null : Math.round(value * 10_000) / 10);
      latency[name] = { p50: toMs(quantile(delta, 0.5)), p99: toMs(quantile(delta, 0.99)) };
      lag[name] = consumer.lag;
    }
    const cpu: Record<string, number> = {};
    for (const [name, used] of Object.entries(b.cpu)) {
      const before = a.cpu[name];
      if (used !== null && before !== null && before !== undefined) cpu[name] = Math.round(((used - before) / 1e6 / seconds) * 100) / 100;
    }
    points.push({
      t: Math.round(b.t) / 1000,
      step: b.step,
      ordersPerSecond: Math.round((b.orders - a.orders) / seconds),
      eventsPerSecond: Math.round((b.produced - a.produced) / seconds),
      latency,
      lag,
      cpu,
    });
  }
  return points;
}

export function probeSeries(samples: Map<ProbeTarget, ProbeSample[]>, benchStartedAt: number): BenchResult['probes'] {
  const out: BenchResult['probes'] = {};
  for (const [target, list] of samples) {
    out[target] = list.map((sample) => ({ t: Math.round(sample.at - benchStartedAt) / 1000, latencyMs: sample.latencyMs === null ? null : Math.round(sample.latencyMs * 10) / 10 }));
  }
  return out;
}

// --- terminal --------------------------------------------------------------------------------

const fmt = (value: number | null, digits = 0) => (value === null ? '-' : value >= 10_000 ? `${(value / 1000).toFixed(1)}s` : value.toFixed(digits));
const quad = (p: Percentiles) => `${fmt(p.p50)} / ${fmt(p.p95)} / ${fmt(p.p99)} / ${fmt(p.max)}`;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

export function terminalReport(result: BenchResult): string {
  const out: string[] = [];
  out.push(`consumers running: ${result.consumers.running.join(', ') || 'none'}`);
  for (const missing of result.consumers.missing) out.push(`not running: ${missing.name} (${missing.reason})`);
  out.push('');
  out.push('commit -> sink holds it, ms: p50 / p95 / p99 / max (consumer histograms: max is the bucket bound; probe: read from the sink)');
  const rows: string[][] = [];
  for (const step of result.steps) {
    const stepCell = `${step.label} (${fmt(step.achievedOrdersPerSecond)}/${step.targetOrdersPerSecond} orders/s, ${fmt(step.eventsPerSecond)} ev/s)`;
    const sinks = new Set([...Object.keys(step.histograms), ...Object.keys(step.probes).map((target) => target.replace('-search', ''))]);
    let first = true;
    for (const sink of sinks) {
      const histogram = step.histograms[sink];
      const probe = step.probes[sink];
      const lag = step.lag[sink];
      rows.push([
        first ? stepCell : '',
        sink,
        histogram ? quad(histogram.toSink) : '-',
        histogram ? quad(histogram.toKafka) : '-',
        probe ? `${quad(probe)}${probe.timeouts ? ` (${probe.timeouts} t/o)` : ''}` : '-',
        lag ? `${lag.max} / ${lag.end}` : '-',
        histogram ? fmt(histogram.eventsPerSecond) : '-',
      ]);
      first = false;
    }
    const search = step.probes['elasticsearch-search'];
    if (search) rows.push(['', 'elasticsearch search (refresh)', '-', '-', `${quad(search)}${search.timeouts ? ` (${search.timeouts} t/o)` : ''}`, '-', '-']);
  }
  out.push(table(['step', 'sink', 'histogram', 'of it commit->Kafka', 'probe', 'lag max / end', 'events/s'], rows));
  out.push('');
  out.push(`CPU: machine = busy share of all ${result.machine.cpus} CPUs; pipeline = the measured processes together; then each process: share of one core and µs per event (a consumer: per event it settled; others: per event Debezium produced)`);
  const processes = [...new Set(result.steps.flatMap((step) => Object.keys(step.cpu)))];
  out.push(
    table(
      ['step', 'machine', 'pipeline', ...processes],
      result.steps.map((step) => [
        step.label,
        `${(step.machineBusy * 100).toFixed(0)}%`,
        `${(step.pipelineCores * 100).toFixed(0)}%`,
        ...processes.map((name) => {
          const cpu = step.cpu[name];
          return cpu ? `${(cpu.cores * 100).toFixed(0)}% ${fmt(cpu.usPerEvent)}µs` : '-';
        }),
      ]),
    ),
  );
  out.push('');
  for (const step of result.steps) out.push(`${step.label}: ${step.sustained ? 'sustained' : 'NOT sustained'}: ${step.verdict}`);
  out.push('');
  out.push(...targetLines(result.steps));
  return out.join('\n');
}

/**
 * The issue's targets, from the consumers' histograms: at the seed's 28 orders/s every sink
 * p50 <= 20 ms and p99 <= 100 ms; at 1,000 orders/s sustained (lag bounded) and p99 <= 1 s.
 */
function targetLines(steps: readonly StepSummary[]): string[] {
  const lines: string[] = [];
  for (const step of steps) {
    const sinks = Object.entries(step.histograms);
    if (step.targetOrdersPerSecond === 28) {
      const checks = sinks.map(([sink, h]) => `${sink} p50 ${fmt(h.toSink.p50)} ms ${(h.toSink.p50 ?? Infinity) <= 20 ? '<=' : '>'} 20, p99 ${fmt(h.toSink.p99)} ms ${(h.toSink.p99 ?? Infinity) <= 100 ? '<=' : '>'} 100`);
      const met = sinks.every(([, h]) => (h.toSink.p50 ?? Infinity) <= 20 && (h.toSink.p99 ?? Infinity) <= 100);
      lines.push(`target at the seed's load (${step.label}): ${met ? 'met' : 'NOT met'}: ${checks.join('; ')}`);
    }
    if (step.targetOrdersPerSecond === 1000) {
      const met = step.sustained && sinks.every(([, h]) => (h.toSink.p99 ?? Infinity) <= 1000);
      lines.push(`target at 1,000 orders/s (${step.label}): ${met ? 'met' : 'NOT met'}: ${step.sustained ? 'lag bounded' : 'not sustained'}; ${sinks.map(([sink, h]) => `${sink} p99 ${fmt(h.toSink.p99)} ms`).join(', ')}${met ? '' : `; ${step.verdict}`}`);
    }
  }
  return lines;
}

// --- HTML --------------------------------------------------------------------------------------

function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const dist = resolve(dirname(require.resolve('uplot/package.json')), 'dist');
  return { js: readFileSync(resolve(dist, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(resolve(dist, 'uPlot.min.css'), 'utf8') };
}

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function htmlReport(result: BenchResult, terminalText: string): string {
  const { js, css } = uplotAssets();
  // </script> inside the JSON would end the script element early.
  const data = JSON.stringify(result).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CDC pipeline bench ${escapeHtml(result.run)}</title>
<style>${css}
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
pre{background:#f6f6f6;padding:12px;overflow-x:auto;font-size:12px}
h2{margin-top:32px}.chart{margin:12px 0 28px}
</style></head><body>
<h1>CDC pipeline bench</h1>
<p>Run ${escapeHtml(result.run)}, started ${escapeHtml(result.startedAt)} on ${result.machine.cpus} CPUs (Node ${escapeHtml(result.machine.node)}).
Each step drives the shop workload (scripts/load/shop-workload.ts) at a fixed rate of orders into PostgreSQL with the consumers running.</p>
<h2>Summary</h2><pre>${escapeHtml(terminalText)}</pre>
<h2>Commit → sink latency over time (consumer histograms, p50 and p99 per second, ms)</h2><div id="latency" class="chart"></div>
<h2>Probe: commit → readable in the sink (every probed change, ms)</h2><div id="probe" class="chart"></div>
<h2>Consumer lag (messages not yet committed)</h2><div id="lag" class="chart"></div>
<h2>Throughput (per second)</h2><div id="rate" class="chart"></div>
<h2>CPU (share of one core)</h2><div id="cpu" class="chart"></div>
<script>${js}</script>
<script>
const result = ${data};
const points = result.timeline;
const palette = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#7f7f7f','#17becf','#bcbd22'];
const width = Math.min(1250, window.innerWidth - 60);
const stepBands = { hooks: { draw: [(u) => {
  const ctx = u.ctx; let previous = null;
  ctx.save(); ctx.strokeStyle = '#bbb'; ctx.fillStyle = '#666'; ctx.font = '11px sans-serif';
  for (const p of points) {
    if (p.step === previous) continue; previous = p.step;
    const x = u.valToPos(p.t, 'x', true);
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    ctx.fillText(p.step, x + 4, u.bbox.top + 12);
  }
  ctx.restore();
}] } };
function chart(id, title, series, data, yLabel, options = {}) {
  new uPlot({ title, width, height: 300, plugins: [stepBands], scales: { x: { time: false }, ...(options.scales || {}) },
    axes: [{ label: 'seconds since start' }, { label: yLabel }],
    series: [{ label: 't (s)' }, ...series.map((s, i) => ({ stroke: palette[i % palette.length], width: 1.5, spanGaps: false, ...s }))] },
    data, document.getElementById(id));
}
const consumers = result.consumers.running;
// Log scales cannot show 0: such points are left out.
const positive = (v) => (v > 0 ? v : null);
const ts = points.map((p) => p.t);
chart('latency', 'commit → sink (ms)', consumers.flatMap((c) => [{ label: c + ' p50' }, { label: c + ' p99', dash: [6, 3] }]),
  [ts, ...consumers.flatMap((c) => [points.map((p) => positive(p.latency[c]?.p50)), points.map((p) => positive(p.latency[c]?.p99))])], 'ms',
  { scales: { y: { distr: 3 } } });
const targets = Object.keys(result.probes);
const probeTimes = [...new Set(targets.flatMap((t) => result.probes[t].map((s) => s.t)))].sort((a, b) => a - b);
const probeIndex = new Map(probeTimes.map((t, i) => [t, i]));
const probeData = targets.map((t) => { const column = new Array(probeTimes.length).fill(null); for (const s of result.probes[t]) column[probeIndex.get(s.t)] = positive(s.latencyMs); return column; });
chart('probe', 'probe latency (ms, log scale)', targets.map((t) => ({ label: t, width: 0, points: { show: true, size: 3 } })), [probeTimes, ...probeData], 'ms',
  { scales: { y: { distr: 3 } } });
chart('lag', 'lag (messages)', consumers.map((c) => ({ label: c })), [ts, ...consumers.map((c) => points.map((p) => p.lag[c] ?? null))], 'messages');
chart('rate', 'orders/s and change events/s', [{ label: 'orders/s' }, { label: 'events/s' }], [ts, points.map((p) => p.ordersPerSecond), points.map((p) => p.eventsPerSecond)], 'per second');
const processes = [...new Set(points.flatMap((p) => Object.keys(p.cpu)))];
chart('cpu', 'CPU (1 = one full core)', processes.map((name) => ({ label: name })), [ts, ...processes.map((name) => points.map((p) => p.cpu[name] ?? null))], 'cores');
</script></body></html>
`;
}
