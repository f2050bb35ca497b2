/**
 * Has a sink's consumer passed a WAL position? `verify` asks this before it reports a differing
 * row, so that a change still in flight is never reported as drift.
 *
 * A consumer has passed LSN L when
 *  1. the Debezium replication slot's confirmed_flush_lsn is at or past L: Debezium has handed
 *     every change up to L to Kafka (it confirms an LSN only after Kafka Connect committed the
 *     source offsets, i.e. after the broker acknowledged the records; the connector's heartbeat
 *     moves it on while the shop is idle), and then
 *  2. the consumer's group has committed, on every captured topic partition, at least the end
 *     offset the topic had when (1) held: the sink holds everything Debezium published up to L
 *     (the runner commits only what the sink holds).
 * Without Kafka settings the answer is always "unknown", and `verify` falls back to re-checking
 * until the settle timeout.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';
import pg from 'pg';
import { compareLsn } from '../../consumers/core/change-event.js';
import { lsnToDecimal } from './source-rows.js';
import type { VerifySinkName } from './verify.js';

export interface ProgressSettings {
  readonly kafkaBrokers: readonly string[];
  /** The consumer group of each sink's consumer (e.g. "cdc-redis"). */
  readonly groups: Partial<Record<VerifySinkName, string>>;
  /** The captured topics the consumers read, e.g. "ecommerce.public.orders". */
  readonly topics: readonly string[];
  /** Debezium's replication slot (debezium/connector-config.json `slot.name`). Default debezium_ecommerce. */
  readonly slotName?: string;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export class SinkProgress {
  private admin: Admin | null = null;
  /** End offsets observed once the slot had passed an LSN, per LSN. */
  private readonly marks = new Map<string, Map<string, bigint>>();

  constructor(private readonly postgresUrl: string, private readonly settings: ProgressSettings | undefined) {}

  private async kafkaAdmin(): Promise<Admin> {
    if (!this.admin) {
      const kafka = new Kafka({ clientId: 'cdc-verify', brokers: [...this.settings!.kafkaBrokers], logLevel: logLevel.NOTHING, connectionTimeout: 5_000, retry: { retries: 2 } });
      const admin = kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  /** The slot's confirmed position (decimal), or null when there is no such slot. */
  private async slotLsn(): Promise<string | null> {
    const client = new pg.Client({ connectionString: this.postgresUrl, connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      const { rows } = await client.query<{ lsn: string | null }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [this.settings?.slotName ?? 'debezium_ecommerce']);
      return rows[0]?.lsn ? lsnToDecimal(rows[0].lsn) : null;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private async endOffsets(admin: Admin): Promise<Map<string, bigint>> {
    const marks = new Map<string, bigint>();
    for (const topic of this.settings!.topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) if (BigInt(p.high) > BigInt(p.low)) marks.set(`${topic}:${p.partition}`, BigInt(p.high));
    }
    return marks;
  }

  /**
   * Waits until `sink`'s consumer has passed `lsn` (see the module comment), up to `deadline`
   * (epoch ms). 'passed', 'timeout', or 'unknown' (no Kafka settings or no group for the sink,
   * Kafka or the slot unreachable).
   */
  async waitPassed(sink: VerifySinkName, lsn: string, deadline: number): Promise<'passed' | 'timeout' | 'unknown'> {
    const group = this.settings?.groups[sink];
    if (!this.settings || !group) return 'unknown';
    try {
      const admin = await this.kafkaAdmin();
      for (;;) {
        let marks = this.marks.get(lsn);
        if (!marks) {
          const slot = await this.slotLsn();
          if (slot === null) return 'unknown';
          if (compareLsn(slot, lsn) >= 0) this.marks.set(lsn, (marks = await this.endOffsets(admin)));
        }
        if (marks) {
          const committed = new Map<string, bigint>();
          for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group, topics: [...this.settings.topics] })) {
            for (const p of partitions) committed.set(`${topic}:${p.partition}`, BigInt(p.offset));
          }
          if ([...marks].every(([at, high]) => (committed.get(at) ?? -1n) >= high)) return 'passed';
        }
        if (Date.now() >= deadline) return 'timeout';
        await sleep(500);
      }
    } catch {
      return 'unknown';
    }
  }

  async close(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
  }
}
