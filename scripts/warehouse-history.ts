/**
 * Every version of one row, oldest first, with what changed (from change_log):
 *
 *   npm run warehouse:history -- orders 42
 *   npm run warehouse:history -- orders 42 --json        the versions as JSON
 *
 * Reads MONGODB_URL and WAREHOUSE_DATABASE like the consumer (.env). Exit code 1 when the row has
 * no history, 2 on bad arguments.
 */
import { parseKey, printJson, usage, withWarehouse } from '../consumers/warehouse/cli-support.js';
import { rowHistory } from '../consumers/warehouse/time-travel.js';

const [table, keyText, flag] = process.argv.slice(2);
if (!table || !keyText) usage('usage: npm run warehouse:history -- <table> <key> [--json]');
const key = parseKey(keyText);
const versions = await withWarehouse((db) => rowHistory(db, table, key));
if (versions.length === 0) {
  process.stderr.write(`${table} ${JSON.stringify(key)} has no history in the warehouse\n`);
  process.exit(1);
}
if (flag === '--json') {
  printJson(versions);
} else {
  for (const version of versions) {
    process.stdout.write(`#${version.versionNumber}  ${version.commitTimeUs}  ${version.op.padEnd(8)}  lsn ${version.lsn}  tx ${version.txId ?? '-'}\n`);
    if (version.op === 'update') {
      for (const column of version.changedFields) {
        process.stdout.write(`      ${column}: ${JSON.stringify(version.before?.[column] ?? null)} -> ${JSON.stringify(version.row?.[column] ?? null)}\n`);
      }
    } else if (version.row) {
      process.stdout.write(`      ${JSON.stringify(version.row)}\n`);
    }
  }
}
