/**
 * Shop rows for the notification tests, changed through real SQL so that every change flows
 * PostgreSQL -> Debezium -> Kafka -> the consumer. Every address is unique to the test run (the
 * run id is in each email, phone number and push token), so assertions only ever look at this
 * run's messages in Mailpit and at the peers. `close()` deletes what was created (children first).
 */
import { randomInt } from 'node:crypto';
import pg from 'pg';

export interface TestCustomer {
  readonly id: number;
  readonly email: string;
  readonly firstName: string;
  readonly phone: string | null;
  readonly pushToken: string | null;
}

export class NotificationShop {
  readonly created = { customers: [] as number[], orders: [] as number[], products: [] as number[] };
  /** A random 7-digit block: this run's phone numbers are +1555<block><2 digits>. */
  private readonly phoneBlock = String(randomInt(1_000_000, 9_999_999));
  private phones = 0;

  private constructor(readonly db: pg.Client, readonly run: string) {}

  static async connect(url: string, run: string): Promise<NotificationShop> {
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    return new NotificationShop(db, run);
  }

  /** A phone number no other run uses. */
  phone(): string {
    return `+1555${this.phoneBlock}${String(this.phones++).padStart(2, '0')}`;
  }

  email(label: string): string {
    return `${this.run}-${label}@example.com`;
  }

  async customer(label: string, options: { firstName?: string; phone?: string | null; pushToken?: string | null } = {}): Promise<TestCustomer> {
    const email = this.email(label);
    const firstName = options.firstName ?? label;
    const phone = options.phone === undefined ? this.phone() : options.phone;
    const pushToken = options.pushToken === undefined ? `fcm:${this.run}-${label}` : options.pushToken;
    const { rows } = await this.db.query<{ id: number }>(
      `INSERT INTO customers (email, first_name, last_name, phone, push_token) VALUES ($1, $2, 'Tester', $3, $4) RETURNING id`,
      [email, firstName, phone, pushToken],
    );
    this.created.customers.push(rows[0]!.id);
    return { id: rows[0]!.id, email, firstName, phone, pushToken };
  }

  /** Inserts orders (one statement when several): their ids, in order. */
  async orders(customerId: number, count: number, label: string, total = '25000.00'): Promise<number[]> {
    const { rows } = await this.db.query<{ id: number }>(
      `INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method)
       SELECT $1, $2 || '-' || g, $3, 'pending', 'credit_card' FROM generate_series(1, $4) g ORDER BY g RETURNING id`,
      [customerId, `${this.run}-${label}`, total, count],
    );
    const ids = rows.map((r) => r.id);
    this.created.orders.push(...ids);
    return ids;
  }

  async order(customerId: number, label: string, total = '25000.00'): Promise<number> {
    return (await this.orders(customerId, 1, label, total))[0]!;
  }

  async setStatus(orderIds: number | readonly number[], status: string): Promise<void> {
    await this.db.query('UPDATE orders SET status = $2 WHERE id = ANY($1)', [Array.isArray(orderIds) ? orderIds : [orderIds], status]);
  }

  async product(label: string, stock: number, threshold: number): Promise<number> {
    const { rows } = await this.db.query<{ id: number }>(
      `INSERT INTO products (sku, name, description, category, price, stock_quantity, low_stock_threshold)
       VALUES ($1, $2, 'notification test product', 'test', 19.99, $3, $4) RETURNING id`,
      [`${this.run}-${label}`, `Product ${label}`, stock, threshold],
    );
    this.created.products.push(rows[0]!.id);
    return rows[0]!.id;
  }

  async setStock(productId: number, stock: number): Promise<void> {
    await this.db.query('UPDATE products SET stock_quantity = $2 WHERE id = $1', [productId, stock]);
  }

  async close(): Promise<void> {
    const { orders, products, customers } = this.created;
    if (orders.length > 0) {
      await this.db.query('DELETE FROM order_items WHERE order_id = ANY($1)', [orders]);
      await this.db.query('DELETE FROM orders WHERE id = ANY($1)', [orders]);
    }
    if (products.length > 0) await this.db.query('DELETE FROM products WHERE id = ANY($1)', [products]);
    if (customers.length > 0) await this.db.query('DELETE FROM customers WHERE id = ANY($1)', [customers]);
    await this.db.end();
  }
}
