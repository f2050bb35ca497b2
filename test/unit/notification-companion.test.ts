/**
 * What the notification consumer needs from the core: a companion pipeline's configuration (its
 * own group, client id, tables, start position), the merged /metrics of several pipelines, and the
 * group session timeout setting.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../consumers/core/config.js';
import { Metrics, renderMetrics } from '../../consumers/core/metrics.js';
import { companionConfigOf } from '../../consumers/core/run-consumer.js';

describe('companion pipelines', () => {
  it('get their own group, client id, tables and topics; the rest is the main configuration', () => {
    const main = loadConfig('notification', { NOTIFICATION_CONSUMER_GROUP: 'g1', FROM_BEGINNING: 'false', TOPIC_PREFIX: 'shop' });
    const contacts = companionConfigOf(main, { name: 'contacts', tables: ['customers'], fromBeginning: true, createSink: () => { throw new Error('unused'); } });
    expect(contacts).toMatchObject({
      consumer: 'notification-contacts', groupId: 'g1-contacts', kafka: { clientId: 'cdc-notification-contacts' },
      tables: ['customers'], topics: ['shop.public.customers'], fromBeginning: true, deadLetterTopic: main.deadLetterTopic, healthPort: main.healthPort,
    });
    expect(Object.isFrozen(contacts)).toBe(true);
    expect(companionConfigOf(main, { name: 'x', tables: ['a'], createSink: () => { throw new Error('unused'); } }).fromBeginning).toBe(false);
    expect(() => companionConfigOf(main, { name: 'Bad Name', tables: ['a'], createSink: () => { throw new Error('unused'); } })).toThrow(ConfigError);
  });

  it('/metrics merges the pipelines: one HELP/TYPE per metric, series told apart by consumer', async () => {
    const main = new Metrics('notification', { defaultMetrics: false });
    const companion = new Metrics('notification-contacts', { defaultMetrics: false });
    main.events.inc({ table: 'customers', op: 'create', result: 'ok' }, 2);
    companion.events.inc({ table: 'customers', op: 'create', result: 'ok' }, 5);
    const text = await renderMetrics([main, companion]);
    expect(text.match(/# TYPE cdc_events_total counter/g)).toHaveLength(1);
    expect(text).toContain('cdc_events_total{table="customers",op="create",result="ok",consumer="notification"} 2');
    expect(text).toContain('cdc_events_total{table="customers",op="create",result="ok",consumer="notification-contacts"} 5');
    expect(await renderMetrics([main])).toBe(await main.render());
  });

  it('a consumer default for MAX_EVENTS_PER_WRITE, overridden by <NAME>_MAX_EVENTS_PER_WRITE or MAX_EVENTS_PER_WRITE', () => {
    expect(loadConfig('notification', {}, { maxEventsPerWrite: 100 }).maxEventsPerWrite).toBe(100);
    expect(loadConfig('notification', { MAX_EVENTS_PER_WRITE: '500' }, { maxEventsPerWrite: 100 }).maxEventsPerWrite).toBe(500);
    expect(loadConfig('notification', { MAX_EVENTS_PER_WRITE: '500', NOTIFICATION_MAX_EVENTS_PER_WRITE: '50' }, { maxEventsPerWrite: 100 }).maxEventsPerWrite).toBe(50);
    expect(loadConfig('redis', {}).maxEventsPerWrite).toBe(1000);
  });

  it('KAFKA_SESSION_TIMEOUT_MS: default 45 s, at least the broker minimum of 6 s', () => {
    expect(loadConfig('notification', {}).session.timeoutMs).toBe(45_000);
    expect(loadConfig('notification', { KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '2000' }).session.timeoutMs).toBe(6_000);
    expect(() => loadConfig('notification', { KAFKA_SESSION_TIMEOUT_MS: '1000' })).toThrow(/KAFKA_SESSION_TIMEOUT_MS/);
  });

  it('KAFKA_HEARTBEAT_INTERVAL_MS: 3 s by default, a third of a session shorter than 9 s when unset', () => {
    expect(loadConfig('notification', {}).session.heartbeatIntervalMs).toBe(3_000);
    expect(loadConfig('notification', { KAFKA_SESSION_TIMEOUT_MS: '6000' }).session.heartbeatIntervalMs).toBe(2_000);
    expect(loadConfig('notification', { KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '500' }).session.heartbeatIntervalMs).toBe(500);
    expect(() => loadConfig('notification', { KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '3000' })).toThrow(/at most a third/);
  });
});
