/**
 * A private redis-server for the Redis outage tests (never the shared one on 6379): started on
 * `port` with `args` added, resolved once it answers PING; stopped with SIGKILL, like a crash.
 * If it does not answer within `timeoutMs`, it is killed and the last connection error thrown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';

export async function startRedisServer(port: number, args: string[], timeoutMs: number): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...args], { stdio: 'ignore' });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => {}); // refused until the server listens; retried below
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return server;
    } catch (error) {
      if (Date.now() > deadline) {
        await killRedisServer(server);
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      probe.disconnect();
    }
  }
}

/** Kills the server with SIGKILL and waits until it is gone; nothing to do if it already exited. */
export async function killRedisServer(server: ChildProcess | undefined): Promise<void> {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGKILL');
  await exited;
}
