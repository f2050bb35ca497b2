/**
 * The notification consumer, importable without starting it: main.ts runs it, and the operator
 * tools (`npm run dlq -- replay`, the pipeline page's replay button) build the same sink from it
 * to write a dead letter back through this consumer's own code — the ledger then decides, as for
 * any redelivery, that a delivery already settled is never sent again. Group `cdc-notification`;
 * beside it, in the same process, the contacts pipeline (group `cdc-notification-contacts`)
 * materialises customers' addresses from the customers topic. Its own variables are listed in
 * notification-config.ts, the design in README.md.
 */
import type { ConsumerDefinition } from '../core/run-consumer.js';
import { ContactsSink } from './contacts-sink.js';
import { loadNotificationConfig } from './notification-config.js';
import { NotificationSink } from './notification-sink.js';

export const definition: ConsumerDefinition = {
  name: 'notification',
  defaultHealthPort: 9104,
  // A write waits for its notifications' provider calls (~10-50 ms each, more under load): 100
  // events keep one write short, so a retry or a rebalance redoes little.
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
};
