/**
 * consumer:warehouse — keeps the MongoDB warehouse (database `ecommerce_warehouse`) with every
 * captured row's current state and every version in `change_log` (design: README.md here).
 * Group `cdc-warehouse`; its own variables are listed in warehouse-config.ts.
 */
import { runConsumer } from '../core/run-consumer.js';
import { warehouseConfigFromEnv } from './warehouse-config.js';
import { WarehouseSink } from './warehouse-sink.js';

await runConsumer({
  name: 'warehouse',
  createSink: (_config, logger) => new WarehouseSink({ config: warehouseConfigFromEnv(process.env), logger }),
});
