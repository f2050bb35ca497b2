/**
 * What the warehouse's command-line tools share (scripts/warehouse-*.ts): the same `.env` and
 * variables as the consumer (MONGODB_URL, WAREHOUSE_DATABASE), a key argument, and printing rows
 * with exact values.
 */
import { MongoClient, type Db } from 'mongodb';
import type { Row, Value } from '../core/change-event.js';
import { loadDotenv } from '../core/config.js';
import { warehouseConfigFromEnv } from './warehouse-config.js';

/** Connects to the warehouse database the consumer writes, runs `work`, and closes. */
export async function withWarehouse<T>(work: (db: Db) => Promise<T>): Promise<T> {
  loadDotenv();
  const config = warehouseConfigFromEnv(process.env);
  const client = new MongoClient(config.url, { serverSelectionTimeoutMS: 5_000 });
  try {
    await client.connect();
    return await work(client.db(config.database));
  } finally {
    await client.close();
  }
}

/** "42" -> 42, '{"order_id":1,"line":2}' -> that object, anything else stays a string. */
export function parseKey(text: string): Value | Row {
  if (/^-?\d+$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
  if (text.trim().startsWith('{')) return JSON.parse(text) as Row;
  return text;
}

/** Exits 2 with `usage` on stderr. */
export function usage(text: string): never {
  process.stderr.write(`${text}\n`);
  process.exit(2);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
