/**
 * The warehouse consumer, importable without starting it: main.ts runs it, and the operator tools
 * (`npm run dlq -- replay`, the pipeline page's replay button) build the same sink from it to
 * write a dead letter back through this consumer's own code. Group `cdc-warehouse`; the sink's
 * own variables are listed in warehouse-config.ts.
 */
import type { ConsumerDefinition } from '../core/run-consumer.js';
import { warehouseConfigFromEnv } from './warehouse-config.js';
import { WarehouseSink } from './warehouse-sink.js';

export const definition: ConsumerDefinition = {
  name: 'warehouse',
  defaultHealthPort: 9103,
  createSink: (_config, logger) => new WarehouseSink({ config: warehouseConfigFromEnv(process.env), logger }),
};
