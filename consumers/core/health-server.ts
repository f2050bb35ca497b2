/**
 * The per-consumer HTTP endpoint (own port each, HEALTH_PORT):
 * - GET /live    200 while the process runs (a liveness probe restarts it otherwise);
 * - GET /ready   200 only when the runner has joined its consumer group, no partition has been
 *                retrying without progress for longer than LANE_STUCK_AFTER_MS, AND the sink
 *                says its engine is reachable, else 503 with the reason (stuck lanes listed);
 * - GET /metrics Prometheus text from the consumer's registry (and its companions', see run-consumer.ts).
 * It never blocks consuming: each check is answered from in-memory state plus one sink ping.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import { renderMetrics, type Metrics } from './metrics.js';

export interface ReadinessSources {
  /** True once the runner joined the group (and is not stopping). */
  runnerReady(): boolean;
  /** The sink's own reachability check. */
  sinkReady(): Promise<boolean>;
  /** Partitions retrying without progress right now (shown in the /ready body when any). */
  stuckLanes?(): { topic: string; partition: number; seconds: number }[];
}

const SINK_CHECK_TIMEOUT_MS = 2_000;

export class HealthServer {
  private readonly server: http.Server;
  private closed = false;

  constructor(
    private readonly options: { port: number; host?: string; metrics: Metrics; moreMetrics?: readonly Metrics[]; readiness: ReadinessSources; logger: Logger },
  ) {
    this.server = http.createServer((request, response) => {
      this.handle(request.method ?? 'GET', request.url ?? '/', response).catch((error: unknown) => {
        options.logger.error({ err: error }, 'health endpoint failed');
        if (!response.headersSent) response.writeHead(500);
        response.end();
      });
    });
  }

  /** Resolves once listening; rejects if the port is taken. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      // Loopback unless told otherwise (HEALTH_HOST): /metrics tells a lot about the pipeline.
      this.server.listen(this.options.port, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.options.logger.info({ host: this.address, port: this.port }, 'health server listening (/live, /ready, /metrics)');
  }

  /** The bound address. */
  get address(): string {
    return (this.server.address() as AddressInfo).address;
  }

  /** The bound port (useful when configured with 0). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting connections and drops idle keep-alive ones. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed || !this.server.listening) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  private async handle(method: string, url: string, response: http.ServerResponse): Promise<void> {
    const path = url.split('?')[0];
    if (method !== 'GET' && method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/live':
        json(response, 200, { status: 'live' });
        return;
      case '/ready': {
        const runner = this.options.readiness.runnerReady();
        const sink = await withTimeout(this.options.readiness.sinkReady(), SINK_CHECK_TIMEOUT_MS).catch(() => false);
        const stuckLanes = this.options.readiness.stuckLanes?.() ?? [];
        json(response, runner && sink ? 200 : 503, {
          status: runner && sink ? 'ready' : 'not ready',
          runner,
          sink,
          ...(stuckLanes.length > 0 ? { stuckLanes } : {}),
        });
        return;
      }
      case '/metrics':
        response.writeHead(200, { 'content-type': this.options.metrics.contentType });
        response.end(await renderMetrics([this.options.metrics, ...(this.options.moreMetrics ?? [])]));
        return;
      default:
        json(response, 404, { error: `no route ${path}; try /live, /ready or /metrics` });
    }
  }
}

function json(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error: unknown) => { clearTimeout(timer); reject(error); },
    );
  });
}
