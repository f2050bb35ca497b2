/**
 * consumer:redis — keeps the Redis hot cache equal to the captured tables (layout: key-layout.ts).
 * What it is (name, health port, sink) lives in definition.ts; this file only runs it.
 */
import { runConsumer } from '../core/run-consumer.js';
import { definition } from './definition.js';

await runConsumer(definition);
