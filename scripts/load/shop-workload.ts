/**
 * A shop's write traffic against PostgreSQL at a fixed rate of new orders, for the pipeline bench
 * (scripts/bench/pipeline-bench.ts) or on its own:
 *
 *   npx tsx scripts/load/shop-workload.ts 28 60        (28 orders/s for 60 s; POSTGRES_URL)
 *
 * What one order does (each line is one transaction, as separate requests of a shop would be):
 * - at once: 1 in 10 orders comes from a new customer (INSERT customers); INSERT the order
 *   (pending) with 1-5 items of distinct products, and decrement each product's stock: one
 *   statement, so one commit (the order and its stock are consistent);
 * - after 1 s: paid (19 in 20) or cancelled (1 in 20); after 3 s: shipped; after 5 s: delivered;
 *   1 in 5 cancelled orders is deleted after 3 s (its items, then the order);
 * - 1 in 20 orders also changes a product's price.
 * That is ~10 row changes per order (1 order + 3 items + 3 stock updates + 3 status changes +
 * 0.1 customer + 0.05 price), i.e. ~280 changes/s at the seed's 100,000 orders/hour.
 * Status changes due in the same 10 ms tick go out as one UPDATE per status (a back-office job
 * does that); everything else is one statement per order.
 *
 * The generator is open-loop: orders are started on schedule whether or not earlier ones are
 * done, at most MAX_IN_FLIGHT at a time; an order that finds no free slot is counted as missed,
 * so `achieved` below target means PostgreSQL (or this process) could not keep up.
 * Every row the workload creates is tagged with the run tag (order numbers, SKUs, emails).
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';

const TICK_MS = 10;
const MAX_IN_FLIGHT = 48;
const STATUS_DELAYS_MS = { paid: 1_000, shipped: 3_000, delivered: 5_000 } as const;
const DEADLOCK = '40P01';

export interface Catalogue {
  readonly products: { id: number; price: number }[];
  readonly customers: number[];
}

/** Something the probe can wait for: order `orderId` shows `status` in a sink. */
export interface Committed {
  readonly orderId: number;
  /** The order's status after this commit, or null when the order was deleted. */
  readonly status: string | null;
  /** performance.now() when PostgreSQL acknowledged the COMMIT. */
  readonly committedAt: number;
}

export interface StepLoad {
  readonly targetOrdersPerSecond: number;
  ordersStarted: number;
  ordersCommitted: number;
  ordersMissed: number;
  statusChanges: number;
  deletes: number;
  priceChanges: number;
  newCustomers: number;
  errors: number;
  deadlocksRetried: number;
  /** Rows inserted, updated or deleted by committed statements (what the pipeline must carry). */
  rowChanges: number;
  /** Commit round trips of order inserts, ms. */
  readonly insertMs: number[];
}

type Action = 'paid' | 'cancelled' | 'shipped' | 'delivered' | 'delete';

interface Due {
  readonly at: number;
  readonly orderId: number;
}

const FIRST = ['Emma', 'Liam', 'Olivia', 'Noah', 'Ava', 'Mia', 'Lucas', 'Sofia', 'Ethan', 'Chloe'];
const LAST = ['Johnson', 'Smith', 'Garcia', 'Brown', 'Miller', 'Davis', 'Lopez', 'Wilson', 'Moore', 'Clark'];
const CATEGORIES = ['electronics', 'books', 'clothing', 'home', 'toys', 'sports', 'beauty', 'garden'];
const PAYMENTS = ['credit_card', 'paypal', 'debit_card', 'bank_transfer'];
const CITIES = ['Springfield', 'Portland', 'Austin', 'Denver', 'Boston'];

const ORDER_SQL = `
WITH c AS (
  INSERT INTO customers (email, first_name, last_name, phone)
  SELECT $1::text, $2::text, $3::text, $4::text WHERE $1::text IS NOT NULL
  RETURNING id
), o AS (
  INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method, shipping_address)
  VALUES (COALESCE((SELECT id FROM c), $5::int), $6, $7::numeric, 'pending', $8, $9::jsonb)
  RETURNING id
), i AS (
  INSERT INTO order_items (order_id, product_id, quantity, unit_price)
  SELECT o.id, x.product_id, x.quantity, x.unit_price
  FROM o, unnest($10::int[], $11::int[], $12::numeric[]) AS x(product_id, quantity, unit_price)
  RETURNING id
), s AS (
  UPDATE products p SET stock_quantity = p.stock_quantity - x.quantity
  FROM unnest($10::int[], $11::int[]) AS x(product_id, quantity)
  WHERE p.id = x.product_id
  RETURNING p.id
)
SELECT (SELECT id FROM o) AS order_id, (SELECT count(*) FROM i)::int AS items, (SELECT count(*) FROM s)::int AS stock`;

/** Deterministic pseudo-random numbers (mulberry32): the same run tag gives the same shop. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ShopWorkload {
  private readonly rand = random(42);
  /** Per action, the orders it falls due for, in due order. */
  private readonly due = new Map<Action, Due[]>((['paid', 'cancelled', 'shipped', 'delivered', 'delete'] as const).map((action) => [action, []]));
  private orderCount = 0;
  private inFlight = 0;
  private running = false;
  /** Each status or delete batch still running, so stop() can wait for them. */
  private readonly pending = new Set<Promise<unknown>>();
  /** Item rows of each order that is going to be deleted (its delete removes them too). */
  private readonly itemsOfDoomed = new Map<number, number>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly tag: string,
    private readonly catalogue: Catalogue,
    /** Called after each commit the probe may watch (sampled by the caller). */
    private readonly onCommitted: (committed: Committed) => void = () => {},
  ) {}

  /**
   * Creates the run's own products (stock high enough for hours of orders) and customers, in a
   * few statements. These changes flow through the pipeline too: wait for them before measuring.
   */
  static async prepare(pool: pg.Pool, tag: string, sizes = { products: 500, customers: 1000 }): Promise<Catalogue> {
    const products = await pool.query<{ id: number; price: string }>(
      `INSERT INTO products (sku, name, description, category, price, stock_quantity, low_stock_threshold, attributes)
       SELECT $1 || '-P' || g, 'Bench product ' || g, 'A product of the load generator''s catalogue, number ' || g || ', for benchmarks.',
              ($2::text[])[1 + g % 8], (5 + (g * 37) % 495)::numeric(12,2) + 0.99, 100000000, 10, jsonb_build_object('bench', $1::text)
       FROM generate_series(1, $3::int) g RETURNING id, price`,
      [tag, CATEGORIES, sizes.products],
    );
    const customers = await pool.query<{ id: number }>(
      `INSERT INTO customers (email, first_name, last_name, phone)
       SELECT lower($1) || '.c' || g || '@bench.example.com', ($2::text[])[1 + g % 10], ($3::text[])[1 + (g / 10) % 10], '+1555' || lpad(g::text, 7, '0')
       FROM generate_series(1, $4::int) g RETURNING id`,
      [tag, FIRST, LAST, sizes.customers],
    );
    return {
      products: products.rows.map((row) => ({ id: row.id, price: Number(row.price) })),
      customers: customers.rows.map((row) => row.id),
    };
  }

  /**
   * Runs the shop at `ordersPerSecond` for `seconds`; `onTick` is called every tick with the
   * step's counts so far. Status changes of earlier orders that fall due meanwhile are applied
   * too (they carry on from one step into the next).
   */
  async runStep(ordersPerSecond: number, seconds: number, onTick: (load: StepLoad, elapsedMs: number) => void = () => {}): Promise<StepLoad> {
    const load: StepLoad = {
      targetOrdersPerSecond: ordersPerSecond,
      ordersStarted: 0,
      ordersCommitted: 0,
      ordersMissed: 0,
      statusChanges: 0,
      deletes: 0,
      priceChanges: 0,
      newCustomers: 0,
      errors: 0,
      deadlocksRetried: 0,
      rowChanges: 0,
      insertMs: [],
    };
    this.running = true;
    const started = performance.now();
    const endAt = started + seconds * 1000;
    let next = started;
    while (this.running) {
      const now = performance.now();
      if (now >= endAt) break;
      const dueOrders = Math.floor(((now - started) / 1000) * ordersPerSecond) - load.ordersStarted - load.ordersMissed;
      for (let i = 0; i < dueOrders; i++) {
        if (this.inFlight >= MAX_IN_FLIGHT) load.ordersMissed++;
        else this.track(this.placeOrder(load));
      }
      this.applyDue(load, now);
      onTick(load, now - started);
      next += TICK_MS;
      const wait = next - performance.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    }
    return load;
  }

  /** Stops issuing; waits for what is in flight. Transitions not yet due are dropped. */
  async stop(): Promise<void> {
    this.running = false;
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    for (const queue of this.due.values()) queue.length = 0;
    this.itemsOfDoomed.clear();
  }

  private track(work: Promise<unknown>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)]!;
  }

  private async placeOrder(load: StepLoad): Promise<void> {
    load.ordersStarted++;
    this.inFlight++;
    const n = ++this.orderCount;
    const newCustomer = this.rand() < 0.1;
    const itemCount = 1 + Math.floor(this.rand() * 5);
    const chosen = new Map<number, { id: number; price: number }>();
    while (chosen.size < itemCount) {
      const product = this.pick(this.catalogue.products);
      chosen.set(product.id, product);
    }
    // Sorted by id: concurrent orders lock shared products in the same order (no deadlock cycles).
    const items = [...chosen.values()].sort((a, b) => a.id - b.id).map((product) => ({ ...product, quantity: 1 + Math.floor(this.rand() * 3) }));
    const total = items.reduce((sum, item) => sum + item.price * item.quantity, 0);
    const first = this.pick(FIRST);
    const last = this.pick(LAST);
    const params = [
      newCustomer ? `${this.tag.toLowerCase()}.n${n}@bench.example.com` : null,
      first,
      last,
      newCustomer ? `+1666${String(n % 10_000_000).padStart(7, '0')}` : null,
      this.pick(this.catalogue.customers),
      `${this.tag}-${n}`,
      total.toFixed(2),
      this.pick(PAYMENTS),
      JSON.stringify({ street: `${n % 999} Main St`, city: this.pick(CITIES), zip: String(10000 + (n % 89999)) }),
      items.map((item) => item.id),
      items.map((item) => item.quantity),
      items.map((item) => item.price.toFixed(2)),
    ];
    const priceChange = this.rand() < 0.05 ? this.pick(this.catalogue.products) : null;
    try {
      const sent = performance.now();
      const placed = await this.withDeadlockRetry(load, async () => (await this.pool.query<{ order_id: number; items: number; stock: number }>(ORDER_SQL, params)).rows[0]!);
      const orderId = placed.order_id;
      const committedAt = performance.now();
      load.insertMs.push(committedAt - sent);
      load.ordersCommitted++;
      load.rowChanges += 1 + placed.items + placed.stock + (newCustomer ? 1 : 0);
      if (newCustomer) load.newCustomers++;
      this.onCommitted({ orderId, status: 'pending', committedAt });
      const cancelled = this.rand() < 0.05;
      if (cancelled) {
        this.schedule('cancelled', committedAt + STATUS_DELAYS_MS.paid, orderId);
        if (this.rand() < 0.2) {
          this.schedule('delete', committedAt + STATUS_DELAYS_MS.shipped, orderId);
          this.itemsOfDoomed.set(orderId, placed.items);
        }
      } else {
        for (const action of ['paid', 'shipped', 'delivered'] as const) this.schedule(action, committedAt + STATUS_DELAYS_MS[action], orderId);
      }
      if (priceChange) {
        priceChange.price = Math.max(1, Math.round(priceChange.price * (0.9 + this.rand() * 0.2) * 100) / 100);
        const changed = await this.pool.query('UPDATE products SET price = $1 WHERE id = $2', [priceChange.price.toFixed(2), priceChange.id]);
        load.priceChanges++;
        load.rowChanges += changed.rowCount ?? 0;
      }
    } catch (error) {
      load.errors++;
      if (load.errors <= 3) console.error(`[load] order failed: ${(error as Error).message}`);
    } finally {
      this.inFlight--;
    }
  }

  /** Applies every status change and delete that is due, one statement per kind. */
  private applyDue(load: StepLoad, now: number): void {
    for (const [action, queue] of this.due) {
      // Each kind has a fixed delay and is queued in commit order, so its queue is sorted.
      let count = 0;
      while (count < queue.length && queue[count]!.at <= now) count++;
      if (count === 0) continue;
      const ids = queue.splice(0, count).map((item) => item.orderId);
      this.track(this.applyAction(load, action, ids));
    }
  }

  private schedule(action: Action, at: number, orderId: number): void {
    this.due.get(action)!.push({ at, orderId });
  }

  private async applyAction(load: StepLoad, action: Action, ids: number[]): Promise<void> {
    try {
      if (action === 'delete') {
        const deleted = await this.withDeadlockRetry(load, () =>
          this.pool.query('WITH i AS (DELETE FROM order_items WHERE order_id = ANY($1::int[])) DELETE FROM orders WHERE id = ANY($1::int[])', [ids]),
        );
        load.deletes += ids.length;
        load.rowChanges += (deleted.rowCount ?? 0) + ids.reduce((sum, id) => sum + (this.itemsOfDoomed.get(id) ?? 0), 0);
        for (const id of ids) this.itemsOfDoomed.delete(id);
        const committedAt = performance.now();
        for (const orderId of ids) this.onCommitted({ orderId, status: null, committedAt });
        return;
      }
      const updated = await this.withDeadlockRetry(load, () => this.pool.query('UPDATE orders SET status = $1 WHERE id = ANY($2::int[])', [action, ids]));
      load.statusChanges += ids.length;
      load.rowChanges += updated.rowCount ?? 0;
      const committedAt = performance.now();
      for (const orderId of ids) this.onCommitted({ orderId, status: action, committedAt });
    } catch (error) {
      load.errors++;
      if (load.errors <= 3) console.error(`[load] ${action} failed: ${(error as Error).message}`);
    }
  }

  private async withDeadlockRetry<T>(load: StepLoad, work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if ((error as { code?: string }).code !== DEADLOCK || attempt >= 5) throw error;
        load.deadlocksRetried++;
      }
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rate = Number(process.argv[2] ?? 28);
  const seconds = Number(process.argv[3] ?? 60);
  const pool = new pg.Pool({ connectionString: process.env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce', max: 16 });
  const tag = `LOAD-${Date.now().toString(36).toUpperCase()}`;
  const workload = new ShopWorkload(pool, tag, await ShopWorkload.prepare(pool, tag));
  const load = await workload.runStep(rate, seconds);
  await workload.stop();
  await pool.end();
  console.log(`${tag}: ${load.ordersCommitted} orders (${(load.ordersCommitted / seconds).toFixed(1)}/s, ${load.ordersMissed} missed), ${load.statusChanges} status changes, ${load.deletes} deletes, ${load.priceChanges} price changes, ${load.errors} errors`);
}
