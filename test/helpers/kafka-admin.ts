/**
 * A short-lived kafkajs admin client: connected for `work`, disconnected afterwards whatever
 * `work` does. No vitest import, so the benches (scripts/bench/) can use it too.
 */
import type { Admin, Kafka } from 'kafkajs';

export async function withAdmin<T>(kafka: Kafka, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Deletes test groups and topics, ignoring any that are already gone (cleanup must not fail a run). */
export async function deleteGroupsAndTopics(kafka: Kafka, what: { groups: string[]; topics: string[] }): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    await admin.deleteGroups(what.groups).catch(() => undefined);
    await admin.deleteTopics({ topics: what.topics }).catch(() => undefined);
  });
}
