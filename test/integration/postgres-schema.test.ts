/**
 * postgres/init.sql and postgres/test-queries.sql on a real PostgreSQL, with the real psql (the
 * way Docker's entrypoint and the native stack run them). Two scratch databases get init.sql, so
 * the second load meets the cluster-wide `debezium` role already created; the first then runs
 * test-queries.sql twice (it must be re-runnable) and the README's seed INSERT. Both databases
 * are dropped afterwards. The shop database `ecommerce` is never touched.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';

const ROOT = resolve(import.meta.dirname, '../..');
const INIT_SQL = resolve(ROOT, 'postgres/init.sql');
const TEST_QUERIES = resolve(ROOT, 'postgres/test-queries.sql');
const CONNECTOR = JSON.parse(readFileSync(resolve(ROOT, 'debezium/connector-config.json'), 'utf8')).config as Record<string, string>;
const CAPTURED = ['customers', 'products', 'orders', 'order_items', 'debezium_heartbeat'];
const SEED_INSERT =
  "INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method) VALUES (1, 'ORD-TEST-001', 25000.00, 'pending', 'credit_card');";

const run = promisify(execFile);

/** The server's URL with another database name. */
function databaseUrl(database: string): string {
  const url = new URL(engines().postgres);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs a SQL file with psql, stopping at the first error; returns psql's output. */
async function psqlFile(database: string, file: string): Promise<string> {
  try {
    const { stdout } = await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, databaseUrl(database)], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`psql -f ${file} on ${database} failed:\n${stderr ?? ''}\n${stdout ?? ''}`, { cause: error });
  }
}

describe.runIf(requireEngines('postgres'))('postgres/init.sql and test-queries.sql on PostgreSQL', () => {
  const shop = uniqueName('schema_test').replace(/\W/g, '_').toLowerCase();
  const second = `${shop}_b`;
  let admin: pg.Client;
  let db: pg.Client;
  const runOutputs: string[] = [];

  const one = async <T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T> => {
    const result = await db.query(sql, params);
    expect(result.rows, sql).toHaveLength(1);
    return result.rows[0] as T;
  };

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: engines().postgres });
    await admin.connect();
    const { rows } = await admin.query(`SELECT current_setting('server_version_num')::int AS version`);
    expect(rows[0].version, 'the project targets PostgreSQL 15').toBeGreaterThanOrEqual(150000);
    await admin.query(`CREATE DATABASE ${shop}`);
    await admin.query(`CREATE DATABASE ${second}`);
    await psqlFile(shop, INIT_SQL);
    await psqlFile(second, INIT_SQL);
    runOutputs.push(await psqlFile(shop, TEST_QUERIES));
    runOutputs.push(await psqlFile(shop, TEST_QUERIES));
    db = new pg.Client({ connectionString: databaseUrl(shop) });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    if (admin) {
      for (const database of [shop, second]) await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
  });

  describe('sample data', () => {
    it('has 40 customers, ids from 1, some with a phone and some with a push token', async () => {
      const row = await one<{ min: number; max: number; phones: string; tokens: string }>(`
        SELECT min(id) AS min, max(id) AS max, count(phone) AS phones, count(push_token) AS tokens
        FROM customers WHERE email LIKE '%@example.com' AND email NOT LIKE '%+%'`);
      expect(row).toEqual({ min: 1, max: 40, phones: '35', tokens: '13' });
    });

    it('has 30 products in 8 categories with jsonb attributes', async () => {
      const row = await one<{ products: string; categories: string; with_attributes: string }>(`
        SELECT count(*) AS products, count(DISTINCT category) AS categories,
               count(*) FILTER (WHERE attributes <> '{}'::jsonb) AS with_attributes FROM products`);
      expect(row).toEqual({ products: '30', categories: '8', with_attributes: '30' });
    });

    it('has 300 orders of 1 to 4 items, each total the sum of its items', async () => {
      const row = await one<{ orders: string; min_items: string; max_items: string; wrong_totals: string }>(`
        SELECT count(*) AS orders, min(items) AS min_items, max(items) AS max_items,
               count(*) FILTER (WHERE total_amount <> item_sum) AS wrong_totals
        FROM (SELECT o.total_amount, count(i.id) AS items, sum(i.quantity * i.unit_price) AS item_sum
              FROM orders o JOIN order_items i ON i.order_id = o.id
              WHERE o.order_number LIKE 'ORD-2025-%' GROUP BY o.id) AS t`);
      expect(row).toEqual({ orders: '300', min_items: '1', max_items: '4', wrong_totals: '0' });
    });

    it('has orders in every status', async () => {
      const { rows } = await db.query(`SELECT DISTINCT status FROM orders WHERE order_number LIKE 'ORD-2025-%' ORDER BY status`);
      expect(rows.map((r) => r.status)).toEqual(['cancelled', 'delivered', 'paid', 'pending', 'processing', 'refunded', 'shipped']);
    });

    it('is deterministic: the same rows in both databases', async () => {
      const fingerprint = `SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) AS hash FROM (
          SELECT o.id, o.customer_id, o.order_number, o.total_amount, o.status, o.created_at, o.shipping_address, o.notes
          FROM orders o WHERE o.order_number LIKE 'ORD-2025-%') AS t`;
      const other = new pg.Client({ connectionString: databaseUrl(second) });
      await other.connect();
      try {
        const [a, b] = [(await db.query(fingerprint)).rows[0].hash, (await other.query(fingerprint)).rows[0].hash];
        expect(a).toMatch(/^[0-9a-f]{32}$/);
        expect(a).toBe(b);
      } finally {
        await other.end();
      }
    });

    it('holds a product description larger than a page, stored out of line (TOAST)', async () => {
      const row = await one<{ length: number; toast: string }>(`
        SELECT octet_length(description) AS length, reltoastrelid::regclass::text AS toast
        FROM products JOIN pg_class ON pg_class.oid = 'products'::regclass WHERE sku = 'BOOK-0003'`);
      expect(row.length).toBeGreaterThan(8192);
      const chunks = await one<{ count: string }>(`SELECT count(*) AS count FROM ${row.toast}`);
      expect(Number(chunks.count)).toBeGreaterThan(0);
    });
  });

  describe('change data capture prerequisites', () => {
    it('publishes exactly the captured tables', async () => {
      const { rows } = await db.query(
        `SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`,
        [CONNECTOR['publication.name']],
      );
      expect(rows.map((r) => r.name)).toEqual(CONNECTOR['table.include.list']!.split(',').sort());
    });

    it('publishes inserts, updates, deletes and truncates', async () => {
      const row = await one(`SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = 'dbz_publication'`);
      expect(row).toEqual({ pubinsert: true, pubupdate: true, pubdelete: true, pubtruncate: true });
    });

    it.each(CAPTURED)('%s has REPLICA IDENTITY FULL', async (table) => {
      const row = await one<{ relreplident: string }>(`SELECT relreplident FROM pg_class WHERE oid = $1::regclass`, [table]);
      expect(row.relreplident).toBe('f');
    });

    it('the debezium role can log in and replicate, and is not a superuser', async () => {
      const row = await one(`SELECT rolsuper, rolreplication, rolcanlogin, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'debezium'`);
      expect(row).toEqual({ rolsuper: false, rolreplication: true, rolcanlogin: true, rolcreatedb: false, rolcreaterole: false });
    });

    it.each([
      ['customers', 'SELECT', true],
      ['orders', 'SELECT', true],
      ['order_items', 'SELECT', true],
      ['products', 'SELECT', true],
      ['orders', 'INSERT', false],
      ['products', 'UPDATE', false],
      ['customers', 'DELETE', false],
      ['debezium_heartbeat', 'INSERT', true],
      ['debezium_heartbeat', 'UPDATE', true],
      ['debezium_heartbeat', 'DELETE', false],
    ])('debezium on %s: %s is %s', async (table, privilege, granted) => {
      const row = await one<{ granted: boolean }>(`SELECT has_table_privilege('debezium', $1, $2) AS granted`, [table, privilege]);
      expect(row.granted).toBe(granted);
    });

    it('the debezium role owns nothing', async () => {
      const row = await one<{ owned: string }>(`SELECT count(*) AS owned FROM pg_class WHERE relowner = 'debezium'::regrole`);
      expect(row.owned).toBe('0');
    });

    it("the connector's heartbeat.action.query runs as the debezium role", async () => {
      await db.query('BEGIN');
      try {
        await db.query('SET LOCAL ROLE debezium');
        await db.query(CONNECTOR['heartbeat.action.query']!);
        await db.query(CONNECTOR['heartbeat.action.query']!);
        const row = await one<{ rows: string; fresh: boolean }>(
          `SELECT count(*) AS rows, bool_and(beat_at > now() - interval '1 minute') AS fresh FROM debezium_heartbeat`);
        expect(row).toEqual({ rows: '1', fresh: true });
      } finally {
        await db.query('ROLLBACK');
      }
    });
  });

  describe('test-queries.sql, run twice', () => {
    const stamps = () => runOutputs.map((output) => /== done: (\d{20})/.exec(output)?.[1]);

    it('ran to the end both times, with different run stamps', () => {
      const [first, again] = stamps();
      expect(first).toMatch(/^\d{20}$/);
      expect(again).toMatch(/^\d{20}$/);
      expect(again).not.toBe(first);
    });

    it('bulk-inserted 10,000 orders per run', async () => {
      const { rows } = await db.query(`
        SELECT split_part(order_number, '-', 2) AS stamp, count(*)::int AS orders
        FROM orders WHERE order_number LIKE 'BULK-%' GROUP BY 1 ORDER BY 1`);
      expect(rows).toEqual(stamps().map((stamp) => ({ stamp, orders: 10_000 })));
    });

    it('took each run’s order through paid, shipped and delivered, with updated_at moving', async () => {
      const { rows } = await db.query(`
        SELECT o.status, o.updated_at > o.created_at AS touched, count(i.id)::int AS items,
               o.total_amount = sum(i.quantity * i.unit_price) AS total_matches
        FROM orders o JOIN order_items i ON i.order_id = o.id
        WHERE o.order_number = ANY($1) GROUP BY o.id ORDER BY o.id`,
        [stamps().map((stamp) => `ORD-${stamp}-A`)]);
      expect(rows).toEqual([
        { status: 'delivered', touched: true, items: 2, total_matches: true },
        { status: 'delivered', touched: true, items: 2, total_matches: true },
      ]);
    });

    it('deleted the cancelled orders (items first) and the customer who never ordered', async () => {
      const row = await one(`
        SELECT (SELECT count(*)::int FROM orders WHERE order_number LIKE 'ORD-%-B') AS cancelled_orders,
               (SELECT count(*)::int FROM customers WHERE email LIKE 'window.shopper+%') AS shoppers,
               (SELECT count(*)::int FROM customers WHERE email LIKE 'grace.hopper+%') AS new_customers`);
      expect(row).toEqual({ cancelled_orders: 0, shoppers: 0, new_customers: 2 });
    });

    it('left the price drop in place and the low-stock product below its threshold', async () => {
      const { rows } = await db.query(`
        SELECT sku, price, stock_quantity < low_stock_threshold AS below_threshold
        FROM products WHERE sku IN ('ELEC-0001', 'TOYS-0002') ORDER BY sku`);
      expect(rows).toEqual([
        { sku: 'ELEC-0001', price: '1149.00', below_threshold: false },
        { sku: 'TOYS-0002', price: '129.00', below_threshold: true },
      ]);
    });
  });

  describe("the README's statements", () => {
    it('the seed INSERT works as written and gets the next order id', async () => {
      const before = await one<{ max: number }>('SELECT max(id) AS max FROM orders');
      await db.query(SEED_INSERT);
      const row = await one<{ id: number; customer_id: number; total_amount: string; currency: string; status: string }>(
        `SELECT id, customer_id, total_amount, currency, status FROM orders WHERE order_number = 'ORD-TEST-001'`);
      expect(row).toEqual({ id: before.max + 1, customer_id: 1, total_amount: '25000.00', currency: 'USD', status: 'pending' });
    });

    it("UPDATE ... SET status = 'shipped' works and the trigger moves updated_at", async () => {
      const before = await one<{ updated_at: Date }>(`SELECT updated_at FROM orders WHERE order_number = 'ORD-TEST-001'`);
      await db.query(`UPDATE orders SET status = 'shipped' WHERE order_number = 'ORD-TEST-001'`);
      const after = await one<{ updated_at: Date; status: string }>(`SELECT updated_at, status FROM orders WHERE order_number = 'ORD-TEST-001'`);
      expect(after.status).toBe('shipped');
      expect(after.updated_at.getTime()).toBeGreaterThanOrEqual(before.updated_at.getTime());
      const moved = await one<{ moved: boolean }>(
        `SELECT updated_at > created_at AS moved FROM orders WHERE order_number = 'ORD-TEST-001'`);
      expect(moved.moved).toBe(true);
    });

    it('the status check constraint refuses an unknown status', async () => {
      await expect(db.query(`UPDATE orders SET status = 'lost' WHERE order_number = 'ORD-TEST-001'`)).rejects.toThrow(/orders_status_check/);
    });
  });
});
