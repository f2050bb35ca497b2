/**
 * Reads the consumers' Prometheus histograms (text exposition from /metrics) and turns the
 * difference of two scrapes into percentiles, the way Prometheus' histogram_quantile does:
 * linear interpolation inside the bucket the rank falls in.
 */

/** Cumulative bucket counts by upper bound (seconds), summed over every label set but `le`. */
export interface Histogram {
  readonly bounds: number[];
  readonly counts: number[];
  readonly count: number;
  readonly sum: number;
}

export const emptyHistogram: Histogram = { bounds: [], counts: [], count: 0, sum: 0 };

/** The histogram `name` in a /metrics text, summed over tables (or other labels). */
export function parseHistogram(text: string, name: string): Histogram {
  const byBound = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const space = line.lastIndexOf(' ');
    const value = Number(line.slice(space + 1));
    const head = line.slice(0, space);
    if (head.startsWith(`${name}_bucket`)) {
      const le = /le="([^"]+)"/.exec(head)?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      byBound.set(bound, (byBound.get(bound) ?? 0) + value);
    } else if (head.startsWith(`${name}_count`)) count += value;
    else if (head.startsWith(`${name}_sum`)) sum += value;
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { bounds, counts: bounds.map((bound) => byBound.get(bound)!), count, sum };
}

/** Sum of a counter over all its label sets whose labels contain every `match` pair. */
export function parseCounter(text: string, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(match).every(([label, value]) => line.includes(`${label}="${value}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** What happened between two scrapes of the same histogram. */
export function subtract(later: Histogram, earlier: Histogram): Histogram {
  if (earlier.bounds.length === 0) return later;
  return {
    bounds: later.bounds,
    counts: later.counts.map((count, i) => count - (earlier.counts[i] ?? 0)),
    count: later.count - earlier.count,
    sum: later.sum - earlier.sum,
  };
}

export function add(a: Histogram, b: Histogram): Histogram {
  if (a.bounds.length === 0) return b;
  if (b.bounds.length === 0) return a;
  return { bounds: a.bounds, counts: a.counts.map((count, i) => count + (b.counts[i] ?? 0)), count: a.count + b.count, sum: a.sum + b.sum };
}

/** The q-quantile (0..1) in seconds, or null without observations. */
export function quantile(histogram: Histogram, q: number): number | null {
  const total = histogram.counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < histogram.bounds.length; i++) {
    const upTo = histogram.counts[i]!;
    if (upTo < rank) continue;
    const lower = i === 0 ? 0 : histogram.bounds[i - 1]!;
    const upper = histogram.bounds[i]!;
    if (upper === Infinity) return lower; // beyond the last bound: say at least that
    const below = i === 0 ? 0 : histogram.counts[i - 1]!;
    const inBucket = upTo - below;
    return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
  }
  return histogram.bounds.at(-2) ?? null;
}

/** Upper bound of the highest bucket holding an observation: the histogram's "max is at most". */
export function maxBound(histogram: Histogram): number | null {
  for (let i = histogram.bounds.length - 1; i >= 0; i--) {
    const below = i === 0 ? 0 : histogram.counts[i - 1]!;
    if (histogram.counts[i]! - below > 0) return histogram.bounds[i]!;
  }
  return null;
}
