/**
 * consumer:notification — email, SMS and push for order, customer and stock changes, each sent
 * once (rules.yaml, ledger.ts). Group `cdc-notification`; beside it, in the same process, the
 * contacts pipeline (group `cdc-notification-contacts`) materialises customers' addresses from the
 * customers topic. Its own variables are listed in notification-config.ts, the design in README.md.
 */
import { runConsumer } from '../core/run-consumer.js';
import { ContactsSink } from './contacts-sink.js';
import { loadNotificationConfig } from './notification-config.js';
import { NotificationSink } from './notification-sink.js';

await runConsumer({
  name: 'notification',
  // A write waits for its notifications' provider calls (~10-50 ms each, more under load), and
  // kafkajs heartbeats only between writes: 100 events keep a write far inside the 30 s session.
  defaultMaxEventsPerWrite: 100,
  createSink: (_config, logger, metrics) => new NotificationSink({ config: loadNotificationConfig(process.env), logger, metrics }),
  companions: [{
    name: 'contacts',
    tables: ['customers'],
    fromBeginning: true, // a table is read whole: every existing customer's contact is needed
    createSink: (_config, logger) => {
      const { redisUrl, keyPrefix, ledgerTtlSeconds } = loadNotificationConfig(process.env);
      return new ContactsSink({ redisUrl, keyPrefix, ttlSeconds: ledgerTtlSeconds, logger });
    },
  }],
});
