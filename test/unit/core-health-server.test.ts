import { afterEach, describe, expect, it } from 'vitest';
import { HealthServer } from '../../consumers/core/health-server.js';
import { createLogger } from '../../consumers/core/logger.js';
import { Metrics } from '../../consumers/core/metrics.js';

const logger = createLogger({ consumer: 'redis', level: 'silent' });

describe('HealthServer', () => {
  let server: HealthServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  type State = { runner: boolean; sink: boolean | 'throw'; stuck?: { topic: string; partition: number; seconds: number }[] };
  async function serve(state: State, metrics = new Metrics('redis', { defaultMetrics: false })) {
    server = new HealthServer({
      port: 0,
      host: '127.0.0.1',
      metrics,
      logger,
      readiness: {
        runnerReady: () => state.runner,
        sinkReady: async () => {
          if (state.sink === 'throw') throw new Error('ECONNREFUSED');
          return state.sink;
        },
        stuckLanes: () => state.stuck ?? [],
      },
    });
    await server.start();
    return `http://127.0.0.1:${server.port}`;
  }

  it('is live while the process runs, ready only when the runner joined and the sink answers', async () => {
    const state: { runner: boolean; sink: boolean | 'throw' } = { runner: false, sink: true };
    const base = await serve(state);
    expect((await fetch(`${base}/live`)).status).toBe(200);

    let ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready', runner: false, sink: true });

    state.runner = true;
    expect((await fetch(`${base}/ready`)).status).toBe(200);

    state.sink = 'throw';
    ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready', runner: true, sink: false });

    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('lists the stuck lanes in the /ready body', async () => {
    const stuck = [{ topic: 'ecommerce.public.orders', partition: 2, seconds: 42.5 }];
    const base = await serve({ runner: false, sink: true, stuck });
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready', runner: false, sink: true, stuckLanes: stuck });
  });

  it('serves the consumer metrics in Prometheus text format', async () => {
    const metrics = new Metrics('redis', { defaultMetrics: false });
    metrics.events.inc({ table: 'orders', op: 'create', result: 'ok' }, 3);
    metrics.partitionLag.set({ topic: 'ecommerce.public.orders', partition: '1' }, 42);
    metrics.commitToSinkSeconds.observe({ table: 'orders' }, 0.03);
    const base = await serve({ runner: true, sink: true }, metrics);
    const response = await fetch(`${base}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('cdc_events_total{table="orders",op="create",result="ok",consumer="redis"} 3');
    expect(text).toContain('cdc_partition_lag{topic="ecommerce.public.orders",partition="1",consumer="redis"} 42');
    expect(text).toContain('cdc_commit_to_sink_seconds_bucket{le="0.05",consumer="redis",table="orders"} 1');
    for (const name of ['cdc_batch_size', 'cdc_sink_write_seconds', 'cdc_retries_total', 'cdc_dead_lettered_total']) expect(text).toContain(`# TYPE ${name}`);
  });
});
