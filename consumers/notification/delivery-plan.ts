/**
 * From a change that triggered rules to the deliveries it asks for: one per (rule, channel), each
 * with its ledger claim and its rendered message, or with the reason it is skipped. Pure (no I/O):
 * the sink looks the contact up first and hands it in.
 *
 * Skips are decided here and recorded in the ledger like any outcome (never an error): the change
 * is older than the ledger remembers, no phone number or push token, the customer opted out of
 * the channel, the customer was deleted, or the channel has no credentials (the message then goes
 * to the dev outbox). The per-recipient rate
 * limit is checked later, atomically with the claim. Rendering errors (a template variable the
 * row does not have, a malformed amount) throw PermanentError: the change is dead-lettered.
 */
import type { RowChangeEvent, Row } from '../core/change-event.js';
import type { ChannelName, OutgoingMessage } from './channels/channel.js';
import type { Contact } from './contacts-store.js';
import { canonicalPk, collapseKeyFor, deliveryId, messageIdFor, type DeliveryKey } from './delivery-key.js';
import type { ClaimRequest } from './ledger.js';
import type { InDoubtPolicy } from './notification-config.js';
import { redactRecipient } from './redact.js';
import type { RuleMatch } from './rules.js';
import type { TemplateContext, Templates } from './templates.js';

export interface PlanSettings {
  readonly templates: Templates;
  readonly shopName: string;
  readonly operationsEmail: string;
  readonly messageIdDomain: string;
  readonly rateLimitPerMinute: Readonly<Record<ChannelName, number>>;
  readonly inDoubt: Readonly<Record<ChannelName, InDoubtPolicy>>;
  /** False for a channel without credentials (dev outbox). */
  readonly live: Readonly<Record<ChannelName, boolean>>;
  /** ledger.keys.rate */
  readonly rateKey: (channel: ChannelName, who: string) => string;
  /**
   * How long the ledger remembers a delivery (NOTIFY_LEDGER_TTL_DAYS) and the clock: a change
   * committed longer ago than that is skipped, never sent, because the ledger may have forgotten
   * that it was sent (a dead letter replayed weeks later, a replay of a long-retained topic).
   * Unset: no age check (tests of rendering on old captured messages).
   */
  readonly memory?: { readonly ledgerTtlMs: number; readonly now: () => number };
}

export interface Delivery {
  readonly key: DeliveryKey;
  readonly claim: ClaimRequest;
  /** What to send; also what the dev outbox shows when the channel has no credentials. Null when skipped for lack of an address. */
  readonly message: OutgoingMessage | null;
}

/** The recipient side of a delivery: who it is (rate limit, opt-out) and where it goes. */
export interface Addressee {
  /** Rate-limit identity: "customer:17" or "operations". */
  readonly who: string;
  readonly email: string | null;
  readonly phone: string | null;
  readonly pushToken: string | null;
  readonly optedOut: ReadonlySet<ChannelName>;
  readonly deleted: boolean;
  /** What templates see as `customer`; null for the operations address. */
  readonly customer: Record<string, unknown> | null;
}

/** "orders" -> "order": how templates name the changed row. */
export function rowAlias(table: string): string {
  return table.endsWith('ies') ? `${table.slice(0, -3)}y` : table.endsWith('s') ? table.slice(0, -1) : table;
}

export function addresseeFromContact(contact: Contact): Addressee {
  return {
    who: `customer:${contact.customerId}`,
    email: contact.email,
    phone: contact.phone,
    pushToken: contact.pushToken,
    optedOut: contact.optedOut,
    deleted: contact.deleted,
    customer: {
      id: contact.customerId,
      first_name: contact.firstName ?? '',
      last_name: contact.lastName ?? '',
      email: contact.email ?? '',
    },
  };
}

/** A customers row as its own addressee (the welcome email). */
export function addresseeFromCustomerRow(key: Row, row: Row, optedOut: ReadonlySet<ChannelName>): Addressee {
  const text = (value: unknown) => (value === null || value === undefined ? null : String(value));
  return {
    who: `customer:${String(Object.values(key)[0])}`,
    email: text(row.email),
    phone: text(row.phone),
    pushToken: text(row.push_token),
    optedOut,
    deleted: false,
    customer: row,
  };
}

export function operationsAddressee(email: string): Addressee {
  return { who: 'operations', email, phone: null, pushToken: null, optedOut: new Set(), deleted: false, customer: null };
}

function addressFor(channel: ChannelName, to: Addressee): string | null {
  return channel === 'email' ? to.email : channel === 'sms' ? to.phone : to.pushToken;
}

const MISSING_ADDRESS: Record<ChannelName, string> = { email: 'no email address', sms: 'no phone number', push: 'no push token' };

export function planDeliveries(event: RowChangeEvent, match: RuleMatch, to: Addressee, settings: PlanSettings): Delivery[] {
  const { rule, row, before } = match;
  const pk = canonicalPk(event.key);
  const committedAt = new Date(event.source.commitTimeMs).toISOString();
  const context: TemplateContext = {
    shop: { name: settings.shopName },
    [rowAlias(event.table)]: row,
    previous: before ?? {},
    change: { committed_at: committedAt, op: event.op, table: event.table },
  };
  if (to.customer && !('customer' in context)) context.customer = to.customer;

  return rule.channels.map((channel): Delivery => {
    const key: DeliveryKey = { rule: rule.name, table: event.table, pk, lsn: event.source.lsn, channel };
    const id = deliveryId(key);
    const address = addressFor(channel, to);
    let skipReason: string | null = null;
    if (settings.memory && settings.memory.now() - event.source.commitTimeMs >= settings.memory.ledgerTtlMs) {
      skipReason = 'older than the ledger remembers (NOTIFY_LEDGER_TTL_DAYS): it may have been sent already';
    } else if (to.deleted) skipReason = 'customer deleted';
    else if (address === null || address.trim() === '') skipReason = MISSING_ADDRESS[channel];
    else if (to.optedOut.has(channel)) skipReason = `opted out of ${channel}`;

    let message: OutgoingMessage | null = null;
    if (address !== null && skipReason === null) {
      message = render(rule.template, channel, address, settings, context, key, id, committedAt);
      if (!settings.live[channel]) skipReason = 'no credentials (dev outbox)';
    }
    const limit = settings.rateLimitPerMinute[channel];
    const claim: ClaimRequest = {
      id,
      rule: rule.name,
      channel,
      recipient: address ? redactRecipient(channel, address) : '-',
      commitTimeMs: event.source.commitTimeMs,
      skipReason,
      // Windows by the change's commit time, not the clock: a backlog read after an outage is
      // limited as the changes happened, and a replay takes the same decisions.
      rate: limit > 0 && skipReason === null ? { key: settings.rateKey(channel, to.who), limit, windowMs: 60_000, eventTimeMs: event.source.commitTimeMs } : null,
      inDoubt: settings.inDoubt[channel],
    };
    return { key, claim, message };
  });
}

function render(
  name: string, channel: ChannelName, address: string, settings: PlanSettings, context: TemplateContext, key: DeliveryKey, id: string, committedAt: string,
): OutgoingMessage {
  const template = settings.templates;
  switch (channel) {
    case 'email': {
      const parts = template.render(name, 'email', context);
      return {
        channel,
        to: address,
        ...parts,
        messageId: messageIdFor(key, settings.messageIdDomain),
        headers: { 'X-Notification-Id': id, 'X-Change-Committed-At': committedAt },
      };
    }
    case 'sms':
      return { channel, to: address, ...template.render(name, 'sms', context) };
    case 'push':
      return {
        channel,
        token: address,
        ...template.render(name, 'push', context),
        collapseKey: collapseKeyFor(key.table, key.pk),
        data: { notificationId: id, rule: key.rule, table: key.table },
      };
  }
}
