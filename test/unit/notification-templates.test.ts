/**
 * Templates and delivery planning on real captured messages: escaping of customer-written text,
 * exact money, readable dates, a missing variable as a clear permanent error, and the deliveries a
 * change asks for (Message-ID and collapse key stable, skips recorded with their reason).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RowChangeEvent } from '../../consumers/core/change-event.js';
import { PermanentError } from '../../consumers/core/errors.js';
import type { ChannelName, EmailMessage, PushMessage, SmsMessage } from '../../consumers/notification/channels/channel.js';
import { addresseeFromContact, addresseeFromCustomerRow, operationsAddressee, planDeliveries, type PlanSettings } from '../../consumers/notification/delivery-plan.js';
import { canonicalPk, collapseKeyFor, deliveryId, messageIdFor } from '../../consumers/notification/delivery-key.js';
import { redactEmail, redactPhone, redactPushToken } from '../../consumers/notification/redact.js';
import { loadRuleTable, matchRules } from '../../consumers/notification/rules.js';
import { Templates, TemplateError } from '../../consumers/notification/templates.js';
import type { Contact } from '../../consumers/notification/contacts-store.js';
import { update } from '../helpers/events.js';
import { fixtureEvent } from '../helpers/fixtures.js';

const room = join(import.meta.dirname, '../../consumers/notification');
const rules = loadRuleTable(join(room, 'rules.yaml'));
const templates = Templates.load(join(room, 'templates'), rules.rules, { locale: 'en-US', timeZone: 'UTC' });
const live: Record<ChannelName, boolean> = { email: true, sms: true, push: true };
const settings = (overrides: Partial<PlanSettings> = {}): PlanSettings => ({
  templates,
  shopName: 'Shop',
  operationsEmail: 'ops@shop.example',
  messageIdDomain: 'shop.example',
  rateLimitPerMinute: { email: 10, sms: 3, push: 10 },
  inDoubt: { email: 'resend', sms: 'hold', push: 'resend' },
  live,
  rateKey: (channel, who) => `rate:${channel}:${who}`,
  ...overrides,
});
const contact = (overrides: Partial<Contact> = {}): Contact => ({
  customerId: '45', email: 'fixture@example.com', phone: '+15551007919', pushToken: 'fcm:token-1', firstName: 'Fixture', lastName: 'Capture',
  optedOut: new Set(), deleted: false, version: '1', ...overrides,
});

const orderCreate = fixtureEvent('orders-create') as RowChangeEvent;
const orderPaid = fixtureEvent('orders-update') as RowChangeEvent;
const plan = (event: RowChangeEvent, c: Contact = contact(), s = settings()) => planDeliveries(event, matchRules(rules, event)[0]!, addresseeFromContact(c), s);

describe('templates', () => {
  it('HTML-escapes customer-written text; plain-text parts stay as written', () => {
    const [email] = plan(orderCreate, contact({ firstName: '<script>alert(1)</script>' }));
    const message = email!.message as EmailMessage;
    expect(message.html).toContain('Hi &lt;script&gt;alert(1)&lt;/script&gt;,');
    expect(message.html).not.toContain('<script>');
    expect(message.text).toContain('Hi <script>alert(1)</script>,');
  });

  it('escapes the order notes too, and keeps money exact and dates readable', () => {
    const event: RowChangeEvent = { ...orderCreate, after: { ...orderCreate.after!, notes: 'Ring <b>twice</b> & leave "it"', total_amount: '25000.10', created_at: '2026-11-24T09:15:38.123456Z' } };
    const [email, push] = plan(event);
    const message = email!.message as EmailMessage;
    expect(message.html).toContain('Ring &lt;b&gt;twice&lt;/b&gt; &amp; leave &quot;it&quot;');
    expect(message.text).toContain('Total:  25000.10 USD');
    expect(message.html).toContain('25000.10 USD');
    expect(message.text).toContain('Placed: November 24, 2026 at 9:15 AM UTC');
    expect(message.subject).toBe(`Order ${event.after!.order_number} confirmed`);
    expect((push!.message as PushMessage).body).toBe(`${event.after!.order_number} · 25000.10 USD`);
  });

  it('keeps a decimal with 20 digits exact (never through a float)', () => {
    const event = { ...orderPaid, after: { ...orderPaid.after!, total_amount: '12345678901234567.89' } };
    const sms = plan(event).find((d) => d.key.channel === 'sms')!.message as SmsMessage;
    expect(sms.body).toContain('12345678901234567.89 USD');
  });

  it('a template variable the row does not have is a permanent error naming the template', () => {
    const event = { ...orderCreate, after: { ...orderCreate.after! } };
    delete (event.after as Record<string, unknown>).order_number;
    expect(() => plan(event)).toThrow(PermanentError);
    expect(() => plan(event)).toThrow(/template order-confirmation\/subject\.hbs cannot be rendered: "order_number" not defined/);
  });

  it('a malformed amount is a permanent error', () => {
    const event = { ...orderCreate, after: { ...orderCreate.after!, total_amount: 'lots' } };
    expect(() => plan(event)).toThrow(/money: "lots" is not a decimal amount/);
  });

  it('refuses at start-up a rule whose channel has no template part', () => {
    expect(() => Templates.load(join(room, 'templates'), [{ ...rules.rules[6]!, channels: ['sms'] }], { locale: 'en-US', timeZone: 'UTC' })).toThrow(TemplateError);
  });

  it('renders every rule of the table on a matching change without error', () => {
    for (const rule of rules.rules) {
      for (const channel of rule.channels) {
        const product = { sku: 'S', name: 'N', stock_quantity: 1, low_stock_threshold: 5, price: '9.99' };
        const context = {
          shop: { name: 'Shop' }, customer: { first_name: 'A', last_name: 'B', email: 'a@b.example' }, order: orderPaid.after!, product,
          previous: rule.table === 'products' ? { ...product, stock_quantity: 9 } : orderPaid.before!, change: { committed_at: '2026-01-01T00:00:00Z' },
        };
        expect(() => templates.render(rule.template, channel, context)).not.toThrow();
      }
    }
  });
});

describe('delivery planning', () => {
  it('one delivery per channel with the ledger key (rule, table, pk, LSN, channel) and stable ids', () => {
    const deliveries = plan(orderPaid);
    expect(deliveries.map((d) => d.claim.id)).toEqual(['email', 'sms', 'push'].map((ch) => `order-paid/orders/id=303/${orderPaid.source.lsn}/${ch}`));
    const email = deliveries[0]!.message as EmailMessage;
    expect(email.messageId).toBe(`<order-paid.orders.303.${orderPaid.source.lsn}@shop.example>`);
    expect(email.headers['X-Notification-Id']).toBe(deliveries[0]!.claim.id);
    expect(plan(orderPaid)[0]!.message).toEqual(email); // the same change plans the same message again
    const push = deliveries[2]!.message as PushMessage;
    expect(push.collapseKey).toBe('orders-303');
    expect(push.data.notificationId).toBe(deliveries[2]!.claim.id);
    expect(deliveries[1]!.claim).toMatchObject({ recipient: '+*******7919', inDoubt: 'hold', skipReason: null, rate: { key: 'rate:sms:customer:45', limit: 3, windowMs: 60_000, eventTimeMs: orderPaid.source.commitTimeMs } });
  });

  it.each([
    ['no phone number', contact({ phone: null }), 'sms', 'no phone number'],
    ['no push token', contact({ pushToken: null }), 'push', 'no push token'],
    ['opted out of SMS', contact({ optedOut: new Set(['sms']) }), 'sms', 'opted out of sms'],
    ['a deleted customer', contact({ deleted: true }), 'email', 'customer deleted'],
  ] as const)('%s: that channel is skipped with a reason, the others are not', (_label, who, channel, reason) => {
    const deliveries = plan(orderPaid, who);
    const skipped = deliveries.filter((d) => d.claim.skipReason !== null);
    expect(skipped.find((d) => d.key.channel === channel)!.claim.skipReason).toBe(reason);
    if (!who.deleted) expect(skipped).toHaveLength(1);
    expect(skipped.every((d) => d.claim.rate === null)).toBe(true);
  });

  it('a channel without credentials: rendered for the dev outbox, recorded as skipped', () => {
    const deliveries = plan(orderPaid, contact(), settings({ live: { email: true, sms: false, push: false } }));
    expect(deliveries.map((d) => d.claim.skipReason)).toEqual([null, 'no credentials (dev outbox)', 'no credentials (dev outbox)']);
    expect((deliveries[1]!.message as SmsMessage).body).toContain('payment of 25000.00 USD');
  });

  it('skips, never sends, a change older than the ledger remembers (it may have been sent already)', () => {
    const ledgerTtlMs = 8 * 86_400_000;
    const at = (ageMs: number) => settings({ memory: { ledgerTtlMs, now: () => orderPaid.source.commitTimeMs + ageMs } });
    const fresh = plan(orderPaid, contact(), at(ledgerTtlMs - 1));
    expect(fresh.map((d) => d.claim.skipReason)).toEqual([null, null, null]);
    const old = plan(orderPaid, contact(), at(ledgerTtlMs));
    expect(old.map((d) => d.claim.skipReason)).toEqual(old.map(() => expect.stringMatching(/^older than the ledger remembers/)));
    expect(old.every((d) => d.claim.rate === null)).toBe(true);
  });

  it('the welcome email goes to the customers row itself; low stock to the operations address', () => {
    const created = fixtureEvent('customers-create') as RowChangeEvent;
    const [welcome] = planDeliveries(created, matchRules(rules, created)[0]!, addresseeFromCustomerRow(created.key, created.after!, new Set()), settings());
    expect((welcome!.message as EmailMessage).to).toBe(created.after!.email);
    expect((welcome!.message as EmailMessage).subject).toBe('Welcome to Shop, Fixture!');
    const low = update('products', { id: 33 }, { id: 33, sku: 'S-1', name: 'Socks', price: '4.50', stock_quantity: 11, low_stock_threshold: 10 }, { id: 33, sku: 'S-1', name: 'Socks', price: '4.50', stock_quantity: 2, low_stock_threshold: 10 }, 999);
    const [alert] = planDeliveries(low, matchRules(rules, low)[0]!, operationsAddressee('ops@shop.example'), settings());
    expect(alert!.message).toMatchObject({ to: 'ops@shop.example', subject: 'Low stock: S-1 (2 left)' });
    expect((alert!.message as EmailMessage).text).toContain('In stock:  2 (was 11)');
    expect(alert!.claim.rate?.key).toBe('rate:email:operations');
  });
});

describe('delivery keys and redaction', () => {
  it('canonical primary keys, Message-IDs and collapse keys', () => {
    expect(canonicalPk({ id: 7 })).toBe('id=7');
    expect(canonicalPk({ b: 'x,y', a: 1 })).toBe('a=1,b=x%2Cy');
    const key = { rule: 'r', table: 't', pk: 'a=1,b=x%2Cy', lsn: '42', channel: 'email' as const };
    expect(deliveryId(key)).toBe('r/t/a=1,b=x%2Cy/42/email');
    expect(messageIdFor(key, 'd.example')).toMatch(/^<r\.t\.h[0-9a-f]{16}\.42@d\.example>$/);
    expect(messageIdFor({ ...key, pk: 'id=9' }, 'd.example')).toBe('<r.t.9.42@d.example>');
    expect(collapseKeyFor('orders', 'id=9')).toBe('orders-9');
  });

  it('recipients are redacted for the audit trail', () => {
    expect(redactEmail('emma.johnson1@example.com')).toBe('e***@example.com');
    expect(redactPhone('+15551007919')).toBe('+*******7919');
    expect(redactPushToken('fcm:dbfdbf001676fbc02cc2172455161536')).toBe('fcm:db…(36)');
  });
});
