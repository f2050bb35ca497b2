import { describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { Shutdown } from '../../consumers/core/shutdown.js';

const logger = createLogger({ consumer: 'redis', level: 'silent' });

describe('Shutdown', () => {
  it('closes in reverse order of registration, once, and exits 0', async () => {
    const closed: string[] = [];
    const exits: number[] = [];
    const shutdown = new Shutdown(logger, { timeoutMs: 5_000, exit: (code) => void exits.push(code) });
    for (const name of ['sink', 'health server', 'runner']) shutdown.add(name, async () => void closed.push(name));
    await Promise.all([shutdown.run(0), shutdown.run(0)]);
    expect(closed).toEqual(['runner', 'health server', 'sink']);
    expect(exits).toEqual([0]);
  });

  it('keeps closing after a failed closer and exits 1', async () => {
    const closed: string[] = [];
    const exits: number[] = [];
    const shutdown = new Shutdown(logger, { timeoutMs: 5_000, exit: (code) => void exits.push(code) });
    shutdown.add('sink', async () => void closed.push('sink'));
    shutdown.add('runner', async () => {
      throw new Error('broker gone');
    });
    await shutdown.run(0);
    expect(closed).toEqual(['sink']);
    expect(exits).toEqual([1]);
  });

  it('a fatal error exits 1; a later error does not start a second shutdown', async () => {
    const exits: number[] = [];
    const shutdown = new Shutdown(logger, { timeoutMs: 5_000, exit: (code) => void exits.push(code) });
    await shutdown.fail(new Error('kafka gave up'));
    await shutdown.fail(new Error('fallout'));
    expect(exits).toEqual([1]);
  });

  it('exits 1 when closing outlives the timeout', async () => {
    const exits: number[] = [];
    const shutdown = new Shutdown(logger, { timeoutMs: 50, exit: (code) => void exits.push(code) });
    shutdown.add('stuck', () => new Promise<void>((resolve) => setTimeout(resolve, 300)));
    await shutdown.run(0);
    expect(exits[0]).toBe(1);
  });
});
