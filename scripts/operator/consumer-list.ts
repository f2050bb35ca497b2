/**
 * The consumers this project runs, in one list: `npm start` runs each of them, the pipeline page
 * and `npm run dlq` watch and replay for each of them. Everything else about a consumer (group,
 * topics, dead-letter topic, health port) comes from its own configuration (core/config.ts), so
 * what the tools see is what the consumer itself uses.
 *
 * Adding a consumer is one entry here, once the consumer follows the convention:
 *   consumers/<name>/definition.ts  exports `definition: ConsumerDefinition` (name, default
 *                                   health port, createSink) and starts nothing;
 *   consumers/<name>/main.ts        is `await runConsumer(definition)`;
 *   package.json                    "consumer:<name>": "tsx consumers/<name>/main.ts".
 * (test/unit/start-consumer-list.test.ts checks all three for every entry.)
 */
import type { ConsumerDefinition } from '../../consumers/core/run-consumer.js';

export interface ConsumerEntry {
  /** As in the definition: group `cdc-<name>`, dead letters in `<prefix>.dlq.<name>`. */
  readonly name: string;
  /** Health port when no `<NAME>_HEALTH_PORT` sets one (the definition's defaultHealthPort). */
  readonly healthPort: number;
  /** The package.json script of the four-terminal way, e.g. "consumer:redis". */
  readonly npmScript: string;
  /** Entrypoint, relative to the repository root (what the npm script runs). */
  readonly main: string;
  /** The definition, imported on demand (replay builds the consumer's own sink from it). */
  readonly load: () => Promise<ConsumerDefinition>;
}

export const CONSUMERS: readonly ConsumerEntry[] = Object.freeze([
  {
    name: 'elasticsearch',
    healthPort: 9101,
    npmScript: 'consumer:elasticsearch',
    main: 'consumers/elasticsearch/main.ts',
    load: async () => (await import('../../consumers/elasticsearch/definition.js')).definition,
  },
  {
    name: 'redis',
    healthPort: 9102,
    npmScript: 'consumer:redis',
    main: 'consumers/redis/main.ts',
    load: async () => (await import('../../consumers/redis/definition.js')).definition,
  },
  {
    name: 'warehouse',
    healthPort: 9103,
    npmScript: 'consumer:warehouse',
    main: 'consumers/warehouse/main.ts',
    load: async () => (await import('../../consumers/warehouse/definition.js')).definition,
  },
  {
    name: 'notification',
    healthPort: 9104,
    npmScript: 'consumer:notification',
    main: 'consumers/notification/main.ts',
    load: async () => (await import('../../consumers/notification/definition.js')).definition,
  },
]);

/** The entry named `name`, or an error listing the known names. */
export function consumerEntry(name: string): ConsumerEntry {
  const entry = CONSUMERS.find((consumer) => consumer.name === name);
  if (!entry) throw new Error(`unknown consumer '${name}' (known: ${CONSUMERS.map((c) => c.name).join(', ')})`);
  return entry;
}
