/**
 * Rows an end-to-end test inserts into the shop's tables through real SQL (so their changes flow
 * through Debezium like any other), remembered so that `deleteCreated()` removes them again, and
 * their deletes flow through CDC too. Tests that insert rows some other way push the ids onto
 * `created` themselves.
 */
import pg from 'pg';

export class ShopRows {
  readonly created = { customers: [] as number[], products: [] as number[], orders: [] as number[] };

  /** `firstName` marks whose customers these are when someone looks at the shared database. */
  private constructor(readonly db: pg.Client, private readonly firstName: string) {}

  /** Connects to the database at `connectionString`; `close()` ends the connection. */
  static async connect(connectionString: string, firstName: string): Promise<ShopRows> {
    const db = new pg.Client({ connectionString });
    await db.connect();
    return new ShopRows(db, firstName);
  }

  async insertCustomer(tag: string): Promise<number> {
    const { rows } = await this.db.query<{ id: number }>(
      `INSERT INTO customers (email, first_name, last_name, phone) VALUES ($1, $2, 'Tester', '+15550100') RETURNING id`,
      [`${tag}@example.com`, this.firstName],
    );
    this.created.customers.push(rows[0]!.id);
    return rows[0]!.id;
  }

  async insertOrder(customerId: number, orderNumber: string, total = '25000.00'): Promise<number> {
    // The seed's own statement shape.
    const { rows } = await this.db.query<{ id: number }>(
      `INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method)
       VALUES ($1, $2, $3, 'pending', 'credit_card') RETURNING id`,
      [customerId, orderNumber, total],
    );
    this.created.orders.push(rows[0]!.id);
    return rows[0]!.id;
  }

  /** Deletes what was created, children first (order items of our orders and of our products). */
  async deleteCreated(): Promise<void> {
    const { orders, products, customers } = this.created;
    if (orders.length > 0) {
      await this.db.query('DELETE FROM order_items WHERE order_id = ANY($1)', [orders]);
      await this.db.query('DELETE FROM orders WHERE id = ANY($1)', [orders]);
    }
    if (products.length > 0) {
      await this.db.query('DELETE FROM order_items WHERE product_id = ANY($1)', [products]);
      await this.db.query('DELETE FROM products WHERE id = ANY($1)', [products]);
    }
    if (customers.length > 0) await this.db.query('DELETE FROM customers WHERE id = ANY($1)', [customers]);
  }

  /** Deletes what was created, then ends the connection. */
  async close(): Promise<void> {
    await this.deleteCreated();
    await this.db.end();
  }
}
