/**
 * The whole life of a consumer process, so that an entrypoint is a few lines:
 *
 *   await runConsumer({ name: 'redis', createSink: (config, logger) => new RedisSink(...) });
 *
 * Start-up: `.env` (never overriding the real environment) -> config (a ConfigError prints the
 * message and exits 1) -> logger and metrics -> sink.start() -> health server -> runner.start().
 * SIGINT/SIGTERM: the runner finishes its batch and commits, then the health server and the sink
 * close (reverse order of start), exit 0.
 *
 * Companions: a consumer may run more pipelines in the same process, each its own Runner (its own
 * Kafka consumer, consumer group `<group>-<companion>`) over its own tables into its own sink;
 * e.g. the notification consumer materialises contacts from the customers topic beside its main
 * pipeline. They start before the main runner and stop after it; /ready needs all of them, and
 * /metrics shows them with `consumer="<name>-<companion>"`. A fatal error (start-up failure, kafkajs giving up,
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
  /** MAX_EVENTS_PER_WRITE when neither <NAME>_MAX_EVENTS_PER_WRITE nor MAX_EVENTS_PER_WRITE is set. */
  defaultMaxEventsPerWrite?: number;
  /**
   * Builds the sink (not started yet). Read the sink's own variables here with
   * `envReader(process.env)`; a ConfigError thrown here stops start-up like a bad common variable.
   */
  createSink(config: ConsumerConfig, logger: Logger, metrics: Metrics): Sink | Promise<Sink>;
  /** More pipelines in this process (see the file comment). */
  companions?: readonly CompanionDefinition[];
}

/**
 * A pipeline beside the main one. It gets the main configuration with its own group id
 * (`<groupId>-<name>`), client id, tables and topics; dead letters go to the same topic.
 */
export interface CompanionDefinition {
  /** Lower-case letters, digits and dashes. */
  name: string;
  /** Tables it reads, instead of TABLES. */
  tables: readonly string[];
  /** Where its group starts when new, instead of FROM_BEGINNING (true for a table it must see whole). */
  fromBeginning?: boolean;
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
    config = loadConfig(definition.name, env, { healthPort: definition.defaultHealthPort, maxEventsPerWrite: definition.defaultMaxEventsPerWrite });
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
    const pipelines: { config: ConsumerConfig; sink: Sink; metrics: Metrics; runner?: Runner }[] = [];
    try {
      const sink = await definition.createSink(config, logger.child({ component: 'sink' }), metrics);
      pipelines.push({ config, sink, metrics });
      for (const companion of definition.companions ?? []) {
        const companionConfig = companionConfigOf(config, companion);
        const companionMetrics = new Metrics(companionConfig.consumer, { defaultMetrics: false });
        const companionSink = await companion.createSink(companionConfig, logger.child({ component: 'sink', pipeline: companion.name }), companionMetrics);
        pipelines.push({ config: companionConfig, sink: companionSink, metrics: companionMetrics });
      }
    } catch (error) {
      for (const { sink } of pipelines) await sink.close().catch(() => undefined);
      if (error instanceof ConfigError) return configFailure(definition.name, error, exit);
      throw error;
    }
    for (const { sink } of pipelines) {
      shutdown.add(`sink ${sink.name}`, () => sink.close());
      await sink.start();
      logger.info({ sink: sink.name }, 'sink started');
    }

    for (const pipeline of pipelines) {
      const { config: pipelineConfig, sink } = pipeline;
      pipeline.runner = new Runner({
        consumerName: pipelineConfig.consumer,
        clientId: pipelineConfig.kafka.clientId,
        brokers: [...pipelineConfig.kafka.brokers],
        groupId: pipelineConfig.groupId,
        topics: [...pipelineConfig.topics],
        fromBeginning: pipelineConfig.fromBeginning,
        deadLetterTopic: pipelineConfig.deadLetterTopic,
        sink,
        logger: pipeline === pipelines[0] ? logger : logger.child({ pipeline: pipelineConfig.consumer }),
        metrics: pipeline.metrics,
        partitionsConsumedConcurrently: pipelineConfig.partitionsConcurrency,
        retry: pipelineConfig.retry,
        stuckAfterMs: pipelineConfig.laneStuckAfterMs,
        sessionTimeoutMs: pipelineConfig.session.timeoutMs,
        heartbeatIntervalMs: pipelineConfig.session.heartbeatIntervalMs,
        maxEventsPerWrite: pipelineConfig.maxEventsPerWrite,
        fetchMaxBytesPerPartition: pipelineConfig.fetchMaxBytesPerPartition,
        fetchMaxWaitMs: pipelineConfig.fetchMaxWaitMs,
        fetchMinBytes: pipelineConfig.fetchMinBytes,
        onFatalError: (error) => void shutdown.fail(error),
      });
    }
    const runners = pipelines.map((p) => p.runner!);

    const health = new HealthServer({
      port: config.healthPort,
      host: config.healthHost,
      metrics,
      moreMetrics: pipelines.slice(1).map((p) => p.metrics),
      logger,
      readiness: {
        runnerReady: () => runners.every((runner) => runner.isReady()),
        sinkReady: async () => (await Promise.all(pipelines.map(({ sink }) => sink.isReady()))).every(Boolean),
        stuckLanes: () => runners.flatMap((runner) => runner.stuckLanes()),
      },
    });
    await health.start();
    shutdown.add('health server', () => health.close());

    // Companions first, the main runner last: it stops first, so what it waits for keeps flowing.
    for (const pipeline of [...pipelines.slice(1), pipelines[0]!]) {
      const runner = pipeline.runner!;
      shutdown.add(pipeline === pipelines[0] ? 'runner' : `runner ${pipeline.config.consumer}`, () => runner.stop());
      await runner.start();
    }
    logger.info({ groupId: config.groupId, topics: config.topics, healthPort: health.port, healthHost: health.address, companions: pipelines.slice(1).map((p) => p.config.groupId) }, `consumer:${config.consumer} running`);
  } catch (error) {
    await shutdown.fail(error);
  }
}

/** The main configuration for a companion: its own group, client id, tables and topics. */
export function companionConfigOf(config: ConsumerConfig, companion: CompanionDefinition): ConsumerConfig {
  if (!/^[a-z][a-z0-9-]*$/.test(companion.name)) throw new ConfigError('companion name', `companion name ${JSON.stringify(companion.name)} must be lower-case letters, digits and dashes`);
  const topics = companion.tables.map((table) => `${config.topicPrefix}.${table.includes('.') ? table : `public.${table}`}`);
  return Object.freeze({
    ...config,
    consumer: `${config.consumer}-${companion.name}`,
    kafka: Object.freeze({ ...config.kafka, clientId: `${config.kafka.clientId}-${companion.name}` }),
    tables: Object.freeze([...companion.tables]),
    topics: Object.freeze(topics),
    groupId: `${config.groupId}-${companion.name}`,
    fromBeginning: companion.fromBeginning ?? config.fromBeginning,
  });
}

function configFailure(name: string, error: unknown, exit: ExitFunction): void {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`consumer:${name}: configuration error: ${error.message}\n`);
  exit(1);
}
