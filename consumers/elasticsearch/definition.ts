/**
 * The Elasticsearch consumer, importable without starting it: main.ts runs it, and the operator
 * tools (`npm run dlq -- replay`, the pipeline page's replay button) build the same sink from it
 * to write a dead letter back through this consumer's own code. Group `cdc-elasticsearch`; the
 * sink's own variables are listed in elasticsearch-config.ts, the index design in README.md.
 */
import type { ConsumerDefinition } from '../core/run-consumer.js';
import { loadElasticsearchConfig } from './elasticsearch-config.js';
import { ElasticsearchSink } from './elasticsearch-sink.js';

export const definition: ConsumerDefinition = {
  name: 'elasticsearch',
  defaultHealthPort: 9101,
  createSink: (_config, logger) => new ElasticsearchSink({ config: loadElasticsearchConfig(process.env), logger }),
};
