/**
 * Reading a consumer's /metrics: the text comes from the consumers' own Metrics registry
 * (prom-client), so the parser sees exactly what a consumer serves; the quantiles follow
 * Prometheus' histogram_quantile (linear inside the bucket).
 */
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, Metrics } from '../../consumers/core/metrics.js';
import { histogramDelta, histogramOf, histogramQuantile, parsePrometheusText, sumOf } from '../../scripts/operator/prometheus-text.js';

async function scrape(metrics: Metrics) {
  return parsePrometheusText(await metrics.render());
}

describe('parsePrometheusText on a consumer registry', () => {
  it('reads counters with labels, summed over series', async () => {
    const metrics = new Metrics('redis', { defaultMetrics: false });
    metrics.events.inc({ table: 'orders', op: 'create', result: 'ok' }, 5);
    metrics.events.inc({ table: 'customers', op: 'update', result: 'ok' }, 2);
    metrics.events.inc({ table: 'orders', op: 'create', result: 'dead_lettered' }, 1);
    const samples = await scrape(metrics);
    expect(sumOf(samples, 'cdc_events_total')).toBe(8);
    expect(sumOf(samples, 'cdc_events_total', (labels) => labels.result === 'ok')).toBe(7);
    expect(samples.find((s) => s.name === 'cdc_events_total')?.labels.consumer).toBe('redis');
  });

  it('unescapes label values', () => {
    const [sample] = parsePrometheusText('x{a="say \\"hi\\"\\n",b="back\\\\slash"} 1.5e3\n# HELP x y\n');
    expect(sample).toEqual({ name: 'x', labels: { a: 'say "hi"\n', b: 'back\\slash' }, value: 1500 });
  });

  it('sums a histogram over tables and takes quantiles inside the right bucket', async () => {
    const metrics = new Metrics('redis', { defaultMetrics: false });
    // 90 observations at 0.04 s, 10 at 0.2 s.
    for (let i = 0; i < 90; i++) metrics.commitToSinkSeconds.observe({ table: i % 2 ? 'orders' : 'customers' }, 0.04);
    for (let i = 0; i < 10; i++) metrics.commitToSinkSeconds.observe({ table: 'orders' }, 0.2);
    const histogram = histogramOf(await scrape(metrics), 'cdc_commit_to_sink_seconds');
    expect(histogram.count).toBe(100);
    expect(histogram.buckets.at(-1)).toEqual({ le: Infinity, count: 100 });
    // Rank 50 is the 50th of the 90 in the bucket holding 0.04 s; rank 99 the 9th of the 10 in
    // the bucket holding 0.2 s (linear inside a bucket, as Prometheus' histogram_quantile).
    const [low04, high04] = bucketAround(0.04);
    const [low2, high2] = bucketAround(0.2);
    expect(histogramQuantile(0.5, histogram)).toBeCloseTo(low04 + (high04 - low04) * (50 / 90), 6);
    expect(histogramQuantile(0.99, histogram)).toBeCloseTo(low2 + (high2 - low2) * (9 / 10), 6);
  });

  it('gives the quantiles of what happened between two scrapes, and nothing across a restart', async () => {
    const metrics = new Metrics('redis', { defaultMetrics: false });
    for (let i = 0; i < 100; i++) metrics.commitToSinkSeconds.observe({ table: 'orders' }, 400); // old, slow
    const before = histogramOf(await scrape(metrics), 'cdc_commit_to_sink_seconds');
    for (let i = 0; i < 10; i++) metrics.commitToSinkSeconds.observe({ table: 'orders' }, 0.03);
    const after = histogramOf(await scrape(metrics), 'cdc_commit_to_sink_seconds');
    const delta = histogramDelta(before, after)!;
    expect(delta.count).toBe(10);
    expect(histogramQuantile(0.99, delta)!).toBeLessThanOrEqual(0.05);
    // Everything in +Inf: the highest finite bound is all one can say.
    expect(histogramQuantile(0.5, before)).toBe(300);
    const restarted = histogramOf(await scrape(new Metrics('redis', { defaultMetrics: false })), 'cdc_commit_to_sink_seconds');
    expect(histogramDelta(after, restarted)).toBeNull();
    expect(histogramQuantile(0.5, histogramDelta(after, after)!)).toBeNull();
  });
});

/** The (lower, upper] bounds of the latency bucket an observation of `seconds` falls in. */
function bucketAround(seconds: number): [number, number] {
  const index = LATENCY_BUCKETS.findIndex((le) => seconds <= le);
  return [index === 0 ? 0 : LATENCY_BUCKETS[index - 1]!, LATENCY_BUCKETS[index]!];
}
