/**
 * The whole life of a consumer process, so that an entrypoint is a few lines:
 *
 *   await runConsumer({ name: 'redis', createSink: (config, logger) => new RedisSink(...) });
 *
 * Start-up: `.env` (never overriding the real environment) -> config (a ConfigError prints the
 * message and exits 1) -> logger and metrics -> sink.start() -> health server -> runner.start().
 * SIGINT/SIGTERM: the runner finishes its batch and commits, then the health server and the sink
 * close (reverse order of start), exit 0. A fatal error (start-up failure, kafkajs giving up,
 * uncaught exception) is logged, everything is closed, exit 1.
 */
import { ConfigError, loadConfig, loadDotenv, type ConsumerConfig } from './config.js';
import { HealthServer } from './health-server.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { Runner } from './runner.js';
import { Shutdown, type ExitFunction } from './shutdown.js';
import type { Sink } from './sink.js';

export interface ConsumerDefinition {
  /** Lower-case name: group `cdc-<name>`, DLQ `<prefix>.dlq.<name>`, `<NAME>_*` variables. */
  name: string;
  /** Health port when no variable sets one; required for consumers not in DEFAULT_HEALTH_PORTS. */
  defaultHealthPort?: number;
  /**
   * Builds the sink (not started yet). Read the sink's own variables here with
   * `envReader(process.env)`; a ConfigError thrown here stops start-up like a bad common variable.
   */
  createSink(config: ConsumerConfig, logger: Logger, metrics: Metrics): Sink | Promise<Sink>;
}

export interface RunConsumerOptions {
  /** Environment to read (default process.env, after loading `.env`). */
  env?: NodeJS.ProcessEnv;
  /** Replaces process.exit (tests). */
  exit?: ExitFunction;
}

export async function runConsumer(definition: ConsumerDefinition, options: RunConsumerOptions = {}): Promise<void> {
  const exit = options.exit ?? process.exit;
  if (!options.env) loadDotenv();
  const env = options.env ?? process.env;

  let config: ConsumerConfig;
  try {
    config = loadConfig(definition.name, env, { healthPort: definition.defaultHealthPort });
  } catch (error) {
    return configFailure(definition.name, error, exit);
  }

  const logger = createLogger({ consumer: config.consumer, level: config.logLevel });
  const metrics = new Metrics(config.consumer);
  const shutdown = new Shutdown(logger, { timeoutMs: config.shutdownTimeoutMs, exit });
  shutdown.installSignalHandlers();
  process.on('uncaughtException', (error) => void shutdown.fail(error));
  process.on('unhandledRejection', (reason) => void shutdown.fail(reason));

  try {
    let sink: Sink;
    try {
      sink = await definition.createSink(config, logger.child({ component: 'sink' }), metrics);
    } catch (error) {
      if (error instanceof ConfigError) return configFailure(definition.name, error, exit);
      throw error;
    }
    shutdown.add(`sink ${sink.name}`, () => sink.close());
    await sink.start();
    logger.info({ sink: sink.name }, 'sink started');

    const runner = new Runner({
      consumerName: config.consumer,
      clientId: config.kafka.clientId,
      brokers: [...config.kafka.brokers],
      groupId: config.groupId,
      topics: [...config.topics],
      fromBeginning: config.fromBeginning,
      deadLetterTopic: config.deadLetterTopic,
      sink,
      logger,
      metrics,
      partitionsConsumedConcurrently: config.partitionsConcurrency,
      retry: config.retry,
      stuckAfterMs: config.laneStuckAfterMs,
      sessionTimeoutMs: config.session.timeoutMs,
      heartbeatIntervalMs: config.session.heartbeatIntervalMs,
      maxEventsPerWrite: config.maxEventsPerWrite,
      fetchMaxBytesPerPartition: config.fetchMaxBytesPerPartition,
      fetchMaxWaitMs: config.fetchMaxWaitMs,
      fetchMinBytes: config.fetchMinBytes,
      onFatalError: (error) => void shutdown.fail(error),
    });

    const health = new HealthServer({
      port: config.healthPort,
      host: config.healthHost,
      metrics,
      logger,
      readiness: { runnerReady: () => runner.isReady(), sinkReady: () => sink.isReady(), stuckLanes: () => runner.stuckLanes() },
    });
    await health.start();
    shutdown.add('health server', () => health.close());

    shutdown.add('runner', () => runner.stop());
    await runner.start();
    logger.info({ groupId: config.groupId, topics: config.topics, healthPort: health.port, healthHost: health.address }, `consumer:${config.consumer} running`);
  } catch (error) {
    await shutdown.fail(error);
  }
}

function configFailure(name: string, error: unknown, exit: ExitFunction): void {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`consumer:${name}: configuration error: ${error.message}\n`);
  exit(1);
}
