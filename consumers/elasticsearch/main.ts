/**
 * consumer:elasticsearch — keeps the search indexes (products, orders, customers, order_items)
 * in step with the database. What it is (name, health port, sink) lives in definition.ts; this
 * file only runs it.
 */
import { runConsumer } from '../core/run-consumer.js';
import { definition } from './definition.js';

await runConsumer(definition);
