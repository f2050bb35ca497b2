/**
 * Reads `count` messages from the beginning of `topics` with a plain kafkajs consumer in group
 * `groupId` (the caller deletes the group) and decodes them with the core decoder: the same
 * events the consumer under test decodes, with the partitions Kafka gave them, for a bench's raw
 * (no Kafka, no decoding) runs. Resolves once `count` events are decoded.
 */
import type { Kafka } from 'kafkajs';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { decodeMessage } from '../../consumers/core/debezium/decode.js';

export async function decodeTopics(kafka: Kafka, options: { groupId: string; topics: string[]; count: number }): Promise<ChangeEvent[]> {
  const events: ChangeEvent[] = [];
  const consumer = kafka.consumer({ groupId: options.groupId, maxBytesPerPartition: 10 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: options.topics, fromBeginning: true });
  await new Promise<void>((resolvePromise) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          events.push(decodeMessage({ topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key, value: message.value }));
        }
        if (events.length >= options.count) resolvePromise();
      },
    });
  });
  await consumer.disconnect();
  return events;
}
