/**
 * consumer:warehouse — keeps the MongoDB warehouse (database `ecommerce_warehouse`) with every
 * captured row's current state and every version in `change_log` (design: README.md here).
 * What it is (name, health port, sink) lives in definition.ts; this file only runs it.
 */
import { runConsumer } from '../core/run-consumer.js';
import { definition } from './definition.js';

await runConsumer(definition);
