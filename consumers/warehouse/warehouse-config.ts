/**
 * The warehouse consumer's own variables (the common ones are in consumers/core/config.ts),
 * parsed once at start-up; a bad value stops the process with a message naming the variable.
 *
 *   MONGODB_URL                     mongodb://127.0.0.1:27017   (Docker: with admin:admin123, see .env.example)
 *   WAREHOUSE_DATABASE              ecommerce_warehouse
 *   WAREHOUSE_REQUEST_TIMEOUT_MS    30000   a MongoDB command with no answer after this long is retried
 *   WAREHOUSE_STARTUP_WAIT_MS       120000  how long start-up waits for MongoDB to answer
 */
import { ConfigError, envReader } from '../core/config.js';

export interface WarehouseConfig {
  readonly url: string;
  readonly database: string;
  readonly requestTimeoutMs: number;
  readonly startupWaitMs: number;
}

export function warehouseConfigFromEnv(env: NodeJS.ProcessEnv | Record<string, string | undefined>): WarehouseConfig {
  const read = envReader(env);
  const database = read.string('WAREHOUSE_DATABASE', 'ecommerce_warehouse');
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(database)) {
    // MongoDB refuses / \ . " $ * < > : | ? and spaces in database names.
    throw new ConfigError('WAREHOUSE_DATABASE', `WAREHOUSE_DATABASE=${JSON.stringify(database)} is invalid: expected letters, digits, _ or -, at most 63`);
  }
  return Object.freeze({
    url: read.url('MONGODB_URL', 'mongodb://127.0.0.1:27017', ['mongodb:', 'mongodb+srv:']),
    database,
    requestTimeoutMs: read.int('WAREHOUSE_REQUEST_TIMEOUT_MS', 30_000, { min: 100, max: 600_000 }),
    startupWaitMs: read.int('WAREHOUSE_STARTUP_WAIT_MS', 120_000, { min: 0, max: 3_600_000 }),
  });
}
