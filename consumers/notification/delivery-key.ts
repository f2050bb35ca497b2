/**
 * The identity of one delivery: (rule, table, primary key, LSN, channel). It is the ledger's
 * unique key, and everything that must be the same when a delivery is attempted again derives
 * from it: the email's Message-ID, the push notification's id.
 *
 * Why the LSN (`source.lsn`) and not `source.version`: every change of a row has its own LSN
 * (two updates of one row in one transaction too), LSNs never repeat in a cluster, and snapshot
 * rows, the one case where `version` differs in kind (snapshot rows are versioned below streamed
 * ones), never notify. For every change that does notify, `version` is 2^64 + LSN: the LSN says
 * the same, is what PostgreSQL and Debezium show an operator, and keeps Message-IDs short.
 */
import { createHash } from 'node:crypto';
import type { Row } from '../core/change-event.js';
import type { ChannelName } from './channels/channel.js';

export interface DeliveryKey {
  readonly rule: string;
  readonly table: string;
  /** Canonical primary key: "id=123" (columns sorted, values URI-encoded, joined by ","). */
  readonly pk: string;
  readonly lsn: string;
  readonly channel: ChannelName;
}

/** "id=123"; several columns sorted by name: "a=1,b=x%2Cy". */
export function canonicalPk(key: Row): string {
  return Object.keys(key)
    .sort()
    .map((column) => `${column}=${encodeURIComponent(typeof key[column] === 'string' ? (key[column] as string) : JSON.stringify(key[column]))}`)
    .join(',');
}

/** "order-shipped/orders/id=123/28437592/email": human-readable, unique, used in Redis keys and audit. */
export function deliveryId(key: DeliveryKey): string {
  return `${key.rule}/${key.table}/${key.pk}/${key.lsn}/${key.channel}`;
}

const ATEXT = /^[A-Za-z0-9_=-]+$/;

/** The primary key as a Message-ID / collapse-key atom; a short hash when it has other characters. */
function pkAtom(pk: string): string {
  const values = pk.split(',').map((pair) => pair.slice(pair.indexOf('=') + 1)).join('+');
  return ATEXT.test(values.replace(/\+/g, '')) ? values : `h${createHash('sha256').update(pk).digest('hex').slice(0, 16)}`;
}

/**
 * The email's Message-ID: "<order-shipped.orders.123.28437592@shop.example>". The same delivery
 * always gets the same one, so a resend after an in-doubt outcome is recognisable as a duplicate.
 */
export function messageIdFor(key: DeliveryKey, domain: string): string {
  return `<${key.rule}.${key.table}.${pkAtom(key.pk)}.${key.lsn}@${domain}>`;
}

/**
 * The push collapse key: the same for every push about one row ("orders-123"), so a resend folds
 * into the original and a newer status replaces an older one still waiting for the device.
 */
export function collapseKeyFor(table: string, pk: string): string {
  return `${table}-${pkAtom(pk)}`;
}
