/**
 * A real consumer process for the runner's crash and shutdown tests: runConsumer (config, logger,
 * health server, signals, runner) with a sink that appends every event it holds to a file.
 *
 *   RUNNER_CHILD_OUT=/tmp/held.jsonl RUNNER_CHILD_RUN=a RUNNER_CHILD_DELAY_MS=25 \
 *   TOPIC_PREFIX=... TABLES=orders RUNNER_TEST_CONSUMER_GROUP=... node --import tsx test/helpers/runner-child.ts
 *
 * Started with `node --import tsx` (not npx) so that the test's pid IS the consumer: kill -9 hits it.
 */
import { runConsumer } from '../../consumers/core/run-consumer.js';
import { FileRecordingSink } from './test-sinks.js';

const out = process.env.RUNNER_CHILD_OUT;
if (!out) throw new Error('RUNNER_CHILD_OUT is required');

await runConsumer({
  name: 'runner-test',
  defaultHealthPort: 0,
  createSink: () =>
    new FileRecordingSink(out, { run: process.env.RUNNER_CHILD_RUN ?? String(process.pid), delayMs: Number(process.env.RUNNER_CHILD_DELAY_MS ?? 0) }),
});
