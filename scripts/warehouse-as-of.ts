/**
 * The warehouse, as it was at a given time (answered from change_log, exact to the microsecond):
 *
 *   npm run warehouse:as-of -- orders 42 2026-11-24T10:00:00Z          one row (JSON), or "did not exist"
 *   npm run warehouse:as-of -- orders --at 2026-11-24T10:00:00.5Z       the whole table (JSON lines)
 *   npm run warehouse:as-of -- orders --at 2026-11-24T10:00:00Z --into orders_at_1000
 *                                                                       ... written to a collection instead
 *
 * Times are ISO-8601 with Z or an offset, up to microseconds. Reads MONGODB_URL and
 * WAREHOUSE_DATABASE like the consumer (.env). Exit code: 0 found / written, 1 the row did not
 * exist then, 2 bad arguments.
 */
import { parseKey, printJson, usage, withWarehouse } from '../consumers/warehouse/cli-support.js';
import { dateFromIso, toDocument } from '../consumers/warehouse/bson-values.js';
import { TABLE_CATALOG, tableDefinition } from '../consumers/warehouse/table-catalog.js';
import { parseInstant, rowAsOf, tableAsOf } from '../consumers/warehouse/time-travel.js';

const USAGE = 'usage: npm run warehouse:as-of -- <table> <key> <time>\n       npm run warehouse:as-of -- <table> --at <time> [--into <collection>]';
const args = process.argv.slice(2);
const [table, second] = args;
if (!table || !second) usage(USAGE);

if (second === '--at') {
  const at = args[2] ?? usage(USAGE);
  const intoAt = args.indexOf('--into');
  const into = intoAt > 0 ? (args[intoAt + 1] ?? usage(USAGE)) : null;
  const instant = parseInstant(at);
  await withWarehouse(async (db) => {
    const rows = await tableAsOf(db, table, instant);
    if (into === null) {
      for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
      process.stderr.write(`${rows.length} ${table} rows existed at ${instant}\n`);
      return;
    }
    // Typed like the current-state collections (Decimal128, dates), marked with the time asked for.
    const definition = tableDefinition(TABLE_CATALOG, table);
    const target = db.collection(into);
    await target.deleteMany({});
    const asOf = dateFromIso(instant);
    const documents = rows.map((row) => ({ _id: row[definition.primaryKey[0] ?? 'id'] as never, ...toDocument(row, definition, table), _as_of: asOf, _as_of_us: instant }));
    for (let start = 0; start < documents.length; start += 1000) await target.insertMany(documents.slice(start, start + 1000));
    process.stderr.write(`wrote ${documents.length} ${table} rows as of ${instant} into ${db.databaseName}.${into}\n`);
  });
} else {
  const at = args[2] ?? usage(USAGE);
  const key = parseKey(second);
  const found = await withWarehouse((db) => rowAsOf(db, table, key, at));
  if (!found.exists) {
    const why = found.version ? `it was ${found.version.op === 'truncate' ? 'truncated' : 'deleted'} at ${found.version.commitTimeUs} (version ${found.version.versionNumber})` : 'the warehouse has no version of it that early';
    process.stderr.write(`${table} ${JSON.stringify(key)} did not exist at ${parseInstant(at)}: ${why}\n`);
    process.exit(1);
  }
  printJson({ table, key, as_of: parseInstant(at), version_number: found.version!.versionNumber, changed_at: found.version!.commitTimeUs, lsn: found.version!.lsn, row: found.row });
}
