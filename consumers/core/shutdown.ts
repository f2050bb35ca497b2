/**
 * Orderly process shutdown: resources register a closer as they open; on SIGINT/SIGTERM (or a
 * fatal error) the closers run in REVERSE order of registration, one at a time, each error logged
 * and the next one still run. Then the process exits: 0 for a signal, 1 for a fatal error or when
 * a closer failed or the whole shutdown outlived its timeout. A second signal during shutdown
 * exits 1 at once (the operator pressed Ctrl-C twice).
 *
 * In a consumer the order is: runner (finishes the batch, commits, leaves the group), then the
 * health server, then the sink (close() is safe to call twice).
 */
import type { Logger } from './logger.js';

export type ExitFunction = (code: number) => never | void;

export class Shutdown {
  private readonly closers: { name: string; close: () => Promise<void> }[] = [];
  private running: Promise<void> | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly options: { timeoutMs: number; exit?: ExitFunction },
  ) {}

  /** Registers a resource to close; the latest registered closes first. */
  add(name: string, close: () => Promise<void>): void {
    this.closers.push({ name, close });
  }

  /** SIGINT/SIGTERM start a clean shutdown (exit 0); a second signal forces exit 1. */
  installSignalHandlers(): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        if (this.running) {
          this.logger.warn({ signal }, 'second signal during shutdown: exiting now');
          this.exit(1);
          return;
        }
        this.logger.info({ signal }, 'signal received: shutting down');
        void this.run(0);
      });
    }
  }

  /** True once a shutdown started (errors after that are expected fallout, not new failures). */
  get started(): boolean {
    return this.running !== null;
  }

  /** Logs a fatal error and shuts down with exit code 1 (unless a shutdown is already under way). */
  fail(error: unknown): Promise<void> {
    if (this.running) {
      this.logger.warn({ err: error }, 'error during shutdown');
      return this.running;
    }
    this.logger.fatal({ err: error }, 'fatal error: shutting down');
    return this.run(1);
  }

  /** Closes everything (once; later calls return the same promise) and exits with `code`. */
  run(code: number): Promise<void> {
    this.running ??= this.closeAll(code);
    return this.running;
  }

  private async closeAll(code: number): Promise<void> {
    const timer = setTimeout(() => {
      this.logger.error({ timeoutMs: this.options.timeoutMs }, 'shutdown timed out: exiting');
      this.exit(1);
    }, this.options.timeoutMs);
    timer.unref();
    let exitCode = code;
    for (const { name, close } of [...this.closers].reverse()) {
      try {
        await close();
        this.logger.debug({ resource: name }, 'closed');
      } catch (error) {
        exitCode = 1;
        this.logger.error({ err: error, resource: name }, 'close failed');
      }
    }
    clearTimeout(timer);
    this.logger.info({ exitCode }, 'shutdown complete');
    this.exit(exitCode);
  }

  private exit(code: number): void {
    (this.options.exit ?? process.exit)(code);
  }
}
