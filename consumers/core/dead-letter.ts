/**
 * The dead-letter message: the ORIGINAL Kafka message (key, value and headers byte for byte)
 * plus headers that say why it is there. Built here, published by the runner (which waits for the
 * broker's ack before committing past it).
 *
 * Headers (all strings):
 *   dlq.error              "<Name>: <message> <- <cause>..." (at most 4 KiB)
 *   dlq.reason             "decode" (the bytes are not a Debezium event) or "sink" (the sink refused it)
 *   dlq.consumer           consumer name, e.g. "warehouse"
 *   dlq.original.topic / dlq.original.partition / dlq.original.offset
 *   dlq.original.timestamp Kafka timestamp of the original message (epoch ms)
 *   dlq.attempts           how many times the sink was given the event (0 when it never decoded)
 *   dlq.timestamp          when it was dead-lettered, ISO-8601
 * To replay, produce key/value/headers (minus dlq.*) back to dlq.original.topic.
 */
import { describeError } from './errors.js';

export interface OriginalMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>;
}

export interface DeadLetterMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string | (Buffer | string)[]>;
}

export const DLQ_HEADER_PREFIX = 'dlq.';
const MAX_ERROR_BYTES = 4096;

export function buildDeadLetterMessage(
  original: OriginalMessage,
  failure: { consumer: string; error: Error; reason: 'decode' | 'sink'; attempts: number; now?: Date },
): DeadLetterMessage {
  const headers: DeadLetterMessage['headers'] = {};
  for (const [name, value] of Object.entries(original.headers ?? {})) {
    // A message that already went through a DLQ keeps the original's story only once: ours replaces it.
    if (value !== undefined && !name.startsWith(DLQ_HEADER_PREFIX)) headers[name] = value;
  }
  Object.assign(headers, {
    'dlq.error': truncateUtf8(describeError(failure.error), MAX_ERROR_BYTES),
    'dlq.reason': failure.reason,
    'dlq.consumer': failure.consumer,
    'dlq.original.topic': original.topic,
    'dlq.original.partition': String(original.partition),
    'dlq.original.offset': original.offset,
    'dlq.original.timestamp': original.timestamp,
    'dlq.attempts': String(failure.attempts),
    'dlq.timestamp': (failure.now ?? new Date()).toISOString(),
  });
  return { key: original.key, value: original.value, headers };
}

/** Splits messages into consecutive groups of at most `maxBytes` (a bigger message goes alone). */
export function groupBySize<T extends { key: Buffer | null; value: Buffer | null; headers?: Record<string, unknown> }>(messages: T[], maxBytes: number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = (message.key?.length ?? 0) + (message.value?.length ?? 0) + JSON.stringify(message.headers ?? {}).length;
    if (current.length > 0 && bytes + size > maxBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= maxBytes ? text : `${bytes.subarray(0, maxBytes - 3).toString('utf8').replace(/\uFFFD$/, '')}...`;
}
