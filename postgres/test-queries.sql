-- Scenarios that exercise the whole CDC pipeline. Run it while the consumers are running:
--
--   Docker:  docker exec -i source_db psql -U postgres -d ecommerce -v ON_ERROR_STOP=1 < postgres/test-queries.sql
--   native:  PGPASSWORD=postgres psql -h localhost -U postgres -d ecommerce -v ON_ERROR_STOP=1 -f postgres/test-queries.sql
--
-- Every statement commits on its own (psql autocommit), so each step is a separate change event
-- the consumers can be watched reacting to. Re-runnable: the e-mails and order numbers it creates
-- carry a per-run stamp, and the products it changes are reset to a known state first.

\set ON_ERROR_STOP on
\pset footer off

-- A stamp unique to this run (microseconds), e.g. 20260124091538123456.
SELECT to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS') AS run \gset
\echo '== test-queries run' :run

-- --- 1. A new customer -------------------------------------------------------------------------
\echo '== 1. new customer (consumers: search index, cache, warehouse; welcome notification)'
INSERT INTO customers (email, first_name, last_name, phone, push_token)
VALUES ('grace.hopper+' || :'run' || '@example.com', 'Grace', 'Hopper', '+15550109999', 'fcm:test-' || :'run')
RETURNING id AS customer_id \gset
\echo '   customer id' :customer_id

-- --- 2. An order's life: created, paid, shipped, delivered -------------------------------------
\echo '== 2. order created -> paid -> shipped -> delivered'
INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method, shipping_address, notes)
SELECT :customer_id, 'ORD-' || :'run' || '-A', 2 * p1.price + p2.price, 'pending', 'credit_card',
       '{"street": "1 Compiler Way", "city": "Arlington", "postal_code": "22201", "country": "US"}',
       'Please ring twice.'
FROM products AS p1, products AS p2
WHERE p1.sku = 'ELEC-0002' AND p2.sku = 'BOOK-0001'
RETURNING id AS order_a, order_number AS order_a_number \gset

INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT :order_a, id, CASE sku WHEN 'ELEC-0002' THEN 2 ELSE 1 END, price
FROM products WHERE sku IN ('ELEC-0002', 'BOOK-0001');

UPDATE orders SET status = 'paid'      WHERE id = :order_a;
UPDATE orders SET status = 'shipped'   WHERE id = :order_a;
UPDATE orders SET status = 'delivered' WHERE id = :order_a;
SELECT order_number, status, total_amount FROM orders WHERE id = :order_a;

-- --- 3. An order cancelled ---------------------------------------------------------------------
\echo '== 3. order created, then cancelled'
INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method)
SELECT 1, 'ORD-' || :'run' || '-B', price, 'pending', 'paypal'
FROM products WHERE sku = 'HOME-0002'
RETURNING id AS order_b \gset

INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT :order_b, id, 1, price FROM products WHERE sku = 'HOME-0002';

UPDATE orders SET status = 'cancelled', notes = 'Cancelled by the customer before shipping.' WHERE id = :order_b;

-- --- 4. Product price and stock changes --------------------------------------------------------
\echo '== 4. price drop and restock'
UPDATE products SET price = 1299.00 WHERE sku = 'ELEC-0001';   -- back to list price (re-runs start equal)
UPDATE products SET price = 1149.00 WHERE sku = 'ELEC-0001';   -- the price drop
UPDATE products SET stock_quantity = stock_quantity + 50 WHERE sku = 'SPRT-0002';   -- restock
-- A change that leaves the long (out-of-line TOAST) description untouched.
UPDATE products SET stock_quantity = stock_quantity + 1 WHERE sku = 'BOOK-0003';
SELECT sku, price, stock_quantity FROM products WHERE sku IN ('ELEC-0001', 'SPRT-0002', 'BOOK-0003') ORDER BY sku;

-- --- 5. Stock falling below its low-stock threshold --------------------------------------------
\echo '== 5. stock falls below the low-stock threshold (low-stock alert)'
UPDATE products SET stock_quantity = low_stock_threshold + 10 WHERE sku = 'TOYS-0002';   -- comfortably stocked
UPDATE products SET stock_quantity = stock_quantity - 12 WHERE sku = 'TOYS-0002';        -- a big sale: threshold - 2
SELECT sku, stock_quantity, low_stock_threshold, stock_quantity < low_stock_threshold AS below_threshold
FROM products WHERE sku = 'TOYS-0002';

-- --- 6. Bulk insert: 10,000 orders in ONE statement (stress) -----------------------------------
\echo '== 6. bulk insert of 10,000 orders in one statement'
INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method, shipping_address)
SELECT c.ids[1 + g % cardinality(c.ids)],
       'BULK-' || :'run' || '-' || lpad(g::text, 5, '0'),
       round(5 + ((g * 7919) % 50000) / 100.0, 2),
       'pending',
       (ARRAY['credit_card', 'debit_card', 'paypal', 'bank_transfer', 'cash_on_delivery'])[1 + g % 5],
       jsonb_build_object('city', (ARRAY['Seattle', 'Austin', 'Denver', 'Boston'])[1 + g % 4], 'country', 'US')
FROM generate_series(1, 10000) AS g
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM customers) AS c;
SELECT count(*) AS bulk_orders_this_run FROM orders WHERE order_number LIKE 'BULK-' || :'run' || '-%';

-- --- 7. Deletions ------------------------------------------------------------------------------
\echo '== 7. deletions: the cancelled order (items first), and a customer who never ordered'
DELETE FROM order_items WHERE order_id = :order_b;
DELETE FROM orders WHERE id = :order_b;

INSERT INTO customers (email, first_name, last_name)
VALUES ('window.shopper+' || :'run' || '@example.com', 'Wendy', 'Shopper')
RETURNING id AS shopper_id \gset
DELETE FROM customers WHERE id = :shopper_id;

\echo '== done:' :run
