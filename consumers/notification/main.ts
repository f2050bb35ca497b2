/**
 * consumer:notification — email, SMS and push for order, customer and stock changes, each sent
 * once (rules.yaml, ledger.ts). What it is (name, health port, sinks, the contacts companion)
 * lives in definition.ts; this file only runs it.
 */
import { runConsumer } from '../core/run-consumer.js';
import { definition } from './definition.js';

await runConsumer(definition);
