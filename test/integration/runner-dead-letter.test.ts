/**
 * The runner against real Kafka: undecodable messages and events the sink refuses go to the
 * dead-letter topic with the original bytes and the headers that explain them, and the events
 * after them are still processed and committed. A dead-letter publish that can never succeed (the
 * topic is gone, the message is too large for it) is fatal with a clear message instead of
 * being retried forever, and never skips the message: nothing is committed past it.
 */
import { ConfigResourceTypes } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { Metrics } from '../../consumers/core/metrics.js';
import type { Runner } from '../../consumers/core/runner.js';
import { engines, requireEngines } from '../helpers/engines.js';
import { keyFor, loadTemplate, POISON_VALUE, vary, type MessageTemplate } from '../helpers/runner-messages.js';
import { TestKafka, waitFor, type Produced, type TopicScenario } from '../helpers/runner-kafka.js';
import { RejectingSink } from '../helpers/test-sinks.js';

const logger = createLogger({ consumer: 'runner-test', level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'warn' });

describe.runIf(requireEngines('kafka'))('runner dead-lettering (real Kafka)', () => {
  let kafka: TestKafka;
  let template: MessageTemplate;

  beforeAll(async () => {
    template = loadTemplate();
    kafka = new TestKafka(engines().kafka);
    await kafka.connect();
  });
  afterAll(async () => {
    await kafka?.cleanup();
  });

  function runnerFor(scenario: TopicScenario, sink: RejectingSink, metrics: Metrics): Runner {
    return kafka.runner(scenario, { sink, logger, metrics, retry: { initialMs: 50, maxMs: 500 } });
  }

  it('dead-letters a poison message and a refused event with headers, and keeps processing after them', async () => {
    const s = await kafka.scenario('runner-dlq');
    const { topic, deadLetterTopic, groupId } = s;

    const good = (id: number, lsn: number): Produced => vary(template, { id, lsn });
    const messages: Produced[] = [
      good(1, 100),
      good(2, 101),
      good(3, 102),
      { key: keyFor(template, 2), value: POISON_VALUE, headers: { traceparent: '00-poison-01' } },
      good(2, 200), // the next good event after the poison, same key and partition
      good(13, 201), // the sink refuses this one (LSN 201) for good
      good(13, 300),
    ];
    const positions = await kafka.produce(topic, messages, 1);
    const poison = positions[3]!;
    const refused = positions[5]!;

    const sink = new RejectingSink((event) => event.op !== 'tombstone' && event.source.lsn === '201');
    const metrics = new Metrics('runner-test', { defaultMetrics: false });
    const runner = runnerFor(s, sink, metrics);
    await runner.start();
    try {
      await waitFor(() => kafka.fullyCommitted(groupId, topic), 60_000, 'every partition committed to its end');
    } finally {
      await runner.stop();
    }

    // Everything decodable and accepted reached the sink, in per-key order.
    const lsnsByKey = (key: number) => sink.events.filter((e) => e.key === JSON.stringify({ id: key })).map((e) => e.lsn);
    expect(lsnsByKey(1)).toEqual(['100']);
    expect(lsnsByKey(2)).toEqual(['101', '200']);
    expect(lsnsByKey(3)).toEqual(['102']);
    expect(lsnsByKey(13)).toEqual(['300']);
    expect(sink.rejected.map((e) => e.lsn)).toEqual(['201']);

    const dead = await kafka.readAll(deadLetterTopic, 2);
    // The runner created the dead-letter topic, to be kept for good: the broker's 7-day default
    // would delete dead letters nobody has replayed yet.
    const { resources } = await kafka.admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: deadLetterTopic, configNames: ['retention.ms'] }], includeSynonyms: false });
    expect(resources[0]!.configEntries.find((entry) => entry.configName === 'retention.ms')?.configValue).toBe('-1');
    expect(dead).toHaveLength(2);
    const header = (message: (typeof dead)[number], name: string) => message.headers?.[name]?.toString();
    const poisonCopy = dead.find((m) => header(m, 'dlq.reason') === 'decode')!;
    const refusedCopy = dead.find((m) => header(m, 'dlq.reason') === 'sink')!;

    expect(poisonCopy.value).toEqual(POISON_VALUE);
    expect(poisonCopy.key).toEqual(keyFor(template, 2));
    expect(header(poisonCopy, 'traceparent')).toBe('00-poison-01');
    expect(header(poisonCopy, 'dlq.consumer')).toBe('runner-test');
    expect(header(poisonCopy, 'dlq.original.topic')).toBe(topic);
    expect(header(poisonCopy, 'dlq.original.partition')).toBe(String(poison.partition));
    expect(header(poisonCopy, 'dlq.original.offset')).toBe(poison.offset);
    expect(header(poisonCopy, 'dlq.attempts')).toBe('0');
    expect(header(poisonCopy, 'dlq.error')).toMatch(/^DecodeError: cannot decode Debezium message/);
    expect(Date.now() - Date.parse(header(poisonCopy, 'dlq.timestamp')!)).toBeLessThan(120_000);

    expect(refusedCopy.value).toEqual(messages[5]!.value);
    expect(header(refusedCopy, 'dlq.original.partition')).toBe(String(refused.partition));
    expect(header(refusedCopy, 'dlq.original.offset')).toBe(refused.offset);
    expect(header(refusedCopy, 'dlq.attempts')).toBe('1');
    expect(header(refusedCopy, 'dlq.error')).toBe('Error: rejected {"id":13} on purpose');

    const deadLettered = (await metrics.deadLettered.get()).values;
    expect(deadLettered.find((v) => v.labels.reason === 'decode')?.value).toBe(1);
    expect(deadLettered.find((v) => v.labels.reason === 'sink')?.value).toBe(1);
  });

  it('a dead-letter topic that is gone is fatal, with a message naming it; nothing is committed past the message, and a restart dead-letters it', async () => {
    const s = await kafka.scenario('runner-dlq-outage', 1);
    const { topic, deadLetterTopic, groupId } = s;

    const sink = new RejectingSink(() => false);
    const metrics = new Metrics('runner-test', { defaultMetrics: false });
    const fatal: Error[] = [];
    const runner = kafka.runner(s, { sink, logger, metrics, retry: { initialMs: 50, maxMs: 500 }, onFatalError: (error) => fatal.push(error) });
    await runner.start(); // creates the dead-letter topic...
    await kafka.admin.deleteTopics({ topics: [deadLetterTopic] }); // ...which an operator then deletes
    await waitFor(async () => !(await kafka.admin.listTopics()).includes(deadLetterTopic), 30_000, 'the dead-letter topic to be gone');

    let positions: { partition: number; offset: string }[];
    try {
      positions = await kafka.produce(topic, [vary(template, { id: 1, lsn: 10 }), { key: keyFor(template, 1), value: POISON_VALUE }, vary(template, { id: 1, lsn: 11 })]);
      await waitFor(() => fatal.length > 0, 90_000, 'the runner to report a fatal error');
      expect(fatal).toHaveLength(1);
      expect(fatal[0]!.message).toContain(deadLetterTopic);
      expect(fatal[0]!.message).toMatch(/does not exist/);
      // Blocked on the poison message: the event before it is committed, nothing after it.
      expect((await kafka.committed(groupId, topic)).get(0)).toBe(positions[1]!.offset);
      expect(runner.isReady()).toBe(false);
    } finally {
      await runner.stop();
    }

    // What an operator (or the orchestrator) does next: start again. Start-up creates the topic.
    const again = kafka.runner(s, { sink, logger, metrics, retry: { initialMs: 50, maxMs: 500 } });
    await again.start();
    try {
      await waitFor(() => kafka.fullyCommitted(groupId, topic), 60_000, 'the partition committed to its end after the restart');
    } finally {
      await again.stop();
    }
    const dead = await kafka.readAll(deadLetterTopic, 1);
    expect(dead[0]!.value).toEqual(POISON_VALUE);
    expect(dead[0]!.headers?.['dlq.original.offset']?.toString()).toBe(positions[1]!.offset);
  });

  it('a dead letter the broker refuses as too large is fatal with a clear message, never retried forever', async () => {
    const s = await kafka.scenario('runner-dlq-too-large', 1);
    const { topic, deadLetterTopic, groupId } = s;
    // The dead-letter topic exists already, with a message size limit below the poison message.
    await kafka.admin.createTopics({ topics: [{ topic: deadLetterTopic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2048' }] }], waitForLeaders: true });

    const sink = new RejectingSink(() => false);
    const metrics = new Metrics('runner-test', { defaultMetrics: false });
    const fatal: Error[] = [];
    const runner = kafka.runner(s, { sink, logger, metrics, retry: { initialMs: 50, maxMs: 500 }, onFatalError: (error) => fatal.push(error) });
    await runner.start();
    try {
      const big = Buffer.concat([POISON_VALUE, Buffer.alloc(8_000, 0x7b)]);
      const positions = await kafka.produce(topic, [vary(template, { id: 1, lsn: 10 }), { key: keyFor(template, 1), value: big }]);
      await waitFor(() => fatal.length > 0, 60_000, 'the runner to report a fatal error');
      expect(fatal[0]!.message).toContain(deadLetterTopic);
      expect(fatal[0]!.message).toMatch(/too large|MESSAGE_TOO_LARGE/i);
      expect((await kafka.committed(groupId, topic)).get(0)).toBe(positions[1]!.offset);
      const retries = (await metrics.retries.get()).values.find((v) => v.labels.stage === 'dead_letter')?.value ?? 0;
      expect(retries).toBe(0);
    } finally {
      await runner.stop();
    }
  });
});
