/**
 * Reading a consumer's /metrics (Prometheus text exposition, as prom-client writes it) and
 * turning two scrapes into rates and latency quantiles, the way Prometheus' own `rate()` and
 * `histogram_quantile()` would over the same window.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line of the exposition (comments and blank lines skipped). */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line.trim());
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, name, raw] of (match[2] ?? '').matchAll(LABEL)) {
      labels[name!] = raw!.replace(/\\(["\\n])/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
    }
    samples.push({ name: match[1]!, labels, value: parseValue(match[3]!) });
  }
  return samples;
}

function parseValue(raw: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  return Number(raw);
}

/** Sum of every series of `name` (all label combinations) matching `where`. */
export function sumOf(samples: readonly Sample[], name: string, where: (labels: Readonly<Record<string, string>>) => boolean = () => true): number {
  let total = 0;
  for (const sample of samples) if (sample.name === name && where(sample.labels)) total += sample.value;
  return total;
}

/** A histogram summed over all its series: cumulative count per upper bound (`le`), ascending. */
export interface Histogram {
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly count: number;
  readonly sum: number;
}

export function histogramOf(samples: readonly Sample[], name: string): Histogram {
  const byBound = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket` || sample.labels.le === undefined) continue;
    const le = parseValue(sample.labels.le);
    byBound.set(le, (byBound.get(le) ?? 0) + sample.value);
  }
  return {
    buckets: [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
    count: sumOf(samples, `${name}_count`),
    sum: sumOf(samples, `${name}_sum`),
  };
}

/** What was observed between two scrapes of the same histogram (a restart in between: null). */
export function histogramDelta(before: Histogram, after: Histogram): Histogram | null {
  if (after.count < before.count) return null;
  const earlier = new Map(before.buckets.map((bucket) => [bucket.le, bucket.count]));
  const buckets = after.buckets.map(({ le, count }) => ({ le, count: count - (earlier.get(le) ?? 0) }));
  if (buckets.some((bucket) => bucket.count < 0)) return null;
  return { buckets, count: after.count - before.count, sum: after.sum - before.sum };
}

/**
 * The q-quantile (0..1) of a histogram, interpolating linearly inside the bucket that holds it
 * (Prometheus' histogram_quantile). Null when nothing was observed. A quantile that falls in the
 * +Inf bucket is the highest finite bound (all one can say).
 */
export function histogramQuantile(q: number, histogram: Histogram): number | null {
  const total = histogram.buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const { le, count } of histogram.buckets) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      if (count === lowerCount) return le;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}
