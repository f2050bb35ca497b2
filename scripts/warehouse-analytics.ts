/**
 * Runs one of the warehouse's analytics (consumers/warehouse/analytics.ts) and prints the result
 * with exact money (Decimal128 as its decimal text):
 *
 *   npm run warehouse:analytics -- daily-revenue | orders-by-status | top-products | customer-lifetime-value | low-stock
 *   npm run warehouse:analytics                  lists them
 */
import { Decimal128 } from 'mongodb';
import { ANALYTICS } from '../consumers/warehouse/analytics.js';
import { printJson, usage, withWarehouse } from '../consumers/warehouse/cli-support.js';

const name = process.argv[2];
const analysis = name ? ANALYTICS[name] : undefined;
if (!analysis) usage(`usage: npm run warehouse:analytics -- <name>\n${Object.entries(ANALYTICS).map(([n, a]) => `  ${n.padEnd(24)} ${a.description}`).join('\n')}`);
const rows = await withWarehouse((db) => db.collection(analysis.collection).aggregate(analysis.pipeline).toArray());
// The replacer sees values after toJSON; `this[key]` is the original (Decimal128 -> "25000.00", not {$numberDecimal}).
printJson(JSON.parse(JSON.stringify(rows, function (this: Record<string, unknown>, key: string, value: unknown) {
  const original = this[key];
  return original instanceof Decimal128 ? original.toString() : value;
})));
