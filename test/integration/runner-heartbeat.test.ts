/**
 * The runner against real Kafka with sink calls longer than the group session timeout: the
 * member must keep heartbeating WHILE the sink call runs, so the coordinator never evicts it
 * (an eviction means a rebalance, the batch given up, and every event of it written again).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { createLogger } from '../../consumers/core/logger.js';
import type { WriteResult } from '../../consumers/core/sink.js';
import { engines, requireEngines } from '../helpers/engines.js';
import { interleavedUpdates, loadTemplate } from '../helpers/runner-messages.js';
import { TestKafka, waitFor } from '../helpers/runner-kafka.js';
import { RecordingSink } from '../helpers/test-sinks.js';

const logger = createLogger({ consumer: 'runner-test', level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'error' });

/** The broker's smallest allowed session timeout (group.min.session.timeout.ms). */
const SESSION_TIMEOUT_MS = 6_000;

/** Its first `slowWrites` write calls take `delayMs` each (an Elasticsearch bulk under load). */
class SlowSink extends RecordingSink {
  private slowLeft: number;
  constructor(slowWrites: number, private readonly delayMs: number) {
    super();
    this.slowLeft = slowWrites;
  }
  override async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    if (this.slowLeft > 0) {
      this.slowLeft--;
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    }
    return super.write(events);
  }
}

describe.runIf(requireEngines('kafka'))('runner heartbeats during sink calls (real Kafka)', () => {
  let kafka: TestKafka;

  beforeAll(async () => {
    kafka = new TestKafka(engines().kafka);
    await kafka.connect();
  });
  afterAll(async () => {
    await kafka?.cleanup();
  });

  it(`sink calls of 1.7 x the ${SESSION_TIMEOUT_MS / 1000} s session timeout cause no eviction: every event written once`, async () => {
    const s = await kafka.scenario('runner-heartbeat', 1);
    // ~4.5 kB each, one record batch per message: several fetches of 64 KiB, so a later batch
    // waits behind the slow write (and kafkajs' own fetch loop, which heartbeats, waits with it).
    const { messages } = interleavedUpdates(loadTemplate(), { keys: 10, updatesPerKey: 6, lsnAfter: 8_000_000n });
    await kafka.produce(s.topic, messages, 1);

    const sink = new SlowSink(2, SESSION_TIMEOUT_MS * 1.7);
    const runner = kafka.runner(s, {
      sink,
      logger,
      maxEventsPerWrite: 1000,
      fetchMaxBytesPerPartition: 64 * 1024,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: 1_000,
    });
    await runner.start();
    try {
      await waitFor(() => kafka.fullyCommitted(s.groupId, s.topic), 90_000, () => `every message committed (sink holds ${sink.events.length}/${messages.length})`);
    } finally {
      await runner.stop();
    }
    // Evicted, the member would have re-joined and re-read the slow batch from the last commit.
    const offsets = sink.events.map((event) => event.offset);
    expect(new Set(offsets).size, 'no event written twice').toBe(offsets.length);
    expect(offsets).toHaveLength(messages.length);
  });
});
