import { describe, expect, it } from 'vitest';
import { backoffDelay, sleep } from '../../consumers/core/backoff.js';

const policy = { initialMs: 100, maxMs: 5_000 };

describe('backoffDelay', () => {
  it.each([
    [1, 50, 100],
    [2, 100, 200],
    [3, 200, 400],
    [6, 1_600, 3_200],
    [7, 2_500, 5_000], // 6400 capped at 5000
    [50, 2_500, 5_000],
    [10_000, 2_500, 5_000],
  ])('attempt %i lies in [%i, %i]', (attempt, low, high) => {
    expect(backoffDelay(attempt, policy, () => 0)).toBe(low);
    expect(backoffDelay(attempt, policy, () => 1)).toBe(high);
    expect(backoffDelay(attempt, policy, () => 0.5)).toBe((low + high) / 2);
  });

  it('never exceeds the cap and is jittered', () => {
    const delays = Array.from({ length: 500 }, () => backoffDelay(40, policy));
    expect(Math.max(...delays)).toBeLessThanOrEqual(policy.maxMs);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(policy.maxMs / 2);
    expect(new Set(delays).size).toBeGreaterThan(50);
  });
});

describe('sleep', () => {
  it('wakes early when aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const sleeping = sleep(10_000, controller.signal);
    setTimeout(() => controller.abort(), 20);
    await sleeping;
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
