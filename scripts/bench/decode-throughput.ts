/**
 * How fast the shared decoder turns a real Debezium message into a ChangeEvent, on its own
 * (no Kafka, no sink):
 *
 *   npx tsx scripts/bench/decode-throughput.ts                  (20,000 decodes per run, 5 runs)
 *   BENCH_DECODES=50000 npx tsx scripts/bench/decode-throughput.ts orders-update types-create
 *
 * For each captured fixture (default: orders-update, products-create, types-create from
 * test/fixtures/debezium/) it decodes the same key and value buffers BENCH_DECODES times per run
 * and prints the median of 5 runs as microseconds per message and messages per second. The
 * schema cache is warm after the first decode, as it is in a running consumer.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { decodeMessage, type RawMessage } from '../../consumers/core/debezium/decode.js';

const DECODES = Number(process.env.BENCH_DECODES ?? 20_000);
const RUNS = 5;
const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures/debezium');
const names = process.argv.length > 2 ? process.argv.slice(2) : ['orders-update', 'products-create', 'types-create'];

interface Fixture { topic: string; partition: number; offset: string; keyRaw: string | null; valueRaw: string | null }

function messageOf(name: string): RawMessage {
  const f = JSON.parse(readFileSync(resolve(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
  return {
    topic: f.topic,
    partition: f.partition,
    offset: f.offset,
    key: f.keyRaw === null ? null : Buffer.from(f.keyRaw, 'utf8'),
    value: f.valueRaw === null ? null : Buffer.from(f.valueRaw, 'utf8'),
  };
}

/** Microseconds per decode over one run. The last 64 events stay live (like a batch in flight) so the work cannot be skipped. */
function run(message: RawMessage): number {
  const live = new Array<ChangeEvent>(64);
  const started = performance.now();
  for (let i = 0; i < DECODES; i++) live[i % live.length] = decodeMessage(message);
  const elapsed = performance.now() - started;
  if (live[0]?.kafka.offset !== message.offset) throw new Error('decoded the wrong message');
  return (elapsed * 1000) / DECODES;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const name of names) {
  const message = messageOf(name);
  run(message); // warm-up: JIT and schema cache
  const perMessage = median(Array.from({ length: RUNS }, () => run(message)));
  const size = (message.key?.length ?? 0) + (message.value?.length ?? 0);
  console.log(
    `[decode] ${name.padEnd(16)} ${(size / 1000).toFixed(1).padStart(5)} kB  ${perMessage.toFixed(1).padStart(6)} us/message  ${Math.round(1e6 / perMessage).toLocaleString('en-US').padStart(8)} messages/s  (median of ${RUNS} x ${DECODES})`,
  );
}
