/**
 * consumer:elasticsearch — keeps the search indexes (products, orders, customers, order_items)
 * in step with the database. Group `cdc-elasticsearch`; its own variables are listed in
 * elasticsearch-config.ts, the index design in README.md.
 */
import { runConsumer } from '../core/run-consumer.js';
import { loadElasticsearchConfig } from './elasticsearch-config.js';
import { ElasticsearchSink } from './elasticsearch-sink.js';

await runConsumer({
  name: 'elasticsearch',
  createSink: (_config, logger) => new ElasticsearchSink({ config: loadElasticsearchConfig(process.env), logger }),
});
