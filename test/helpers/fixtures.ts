/**
 * Loads a real captured Debezium message (test/fixtures/debezium/<name>.json, written by
 * scripts/capture-fixtures.ts) and decodes it with the core decoder, exactly as a consumer would
 * decode the same bytes from Kafka. Throws if the file is missing or does not decode.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { decodeMessage } from '../../consumers/core/debezium/decode.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/debezium');

/** The fields of a captured fixture that carry the original Kafka record. */
interface CapturedRecord {
  topic: string;
  partition: number;
  offset: string;
  keyRaw: string | null;
  valueRaw: string | null;
}

/** The decoded ChangeEvent of fixture `name` (file name without `.json`). */
export function fixtureEvent(name: string): ChangeEvent {
  const file = JSON.parse(readFileSync(resolve(FIXTURES, `${name}.json`), 'utf8')) as CapturedRecord;
  return decodeMessage({
    topic: file.topic,
    partition: file.partition,
    offset: file.offset,
    key: file.keyRaw === null ? null : Buffer.from(file.keyRaw),
    value: file.valueRaw === null ? null : Buffer.from(file.valueRaw),
  });
}
