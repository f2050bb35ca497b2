/**
 * The rules table: which change triggers which notification, on real captured Debezium messages
 * (and builders of the same shape for the transitions no fixture has), plus the checks that
 * refuse a broken table at start-up.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RowChangeEvent } from '../../consumers/core/change-event.js';
import { PermanentError } from '../../consumers/core/errors.js';
import { currentRow, loadRuleTable, matchRules, parseRuleTable } from '../../consumers/notification/rules.js';
import { changeEvent, update } from '../helpers/events.js';
import { fixtureEvent } from '../helpers/fixtures.js';

const table = loadRuleTable(join(import.meta.dirname, '../../consumers/notification/rules.yaml'));
const rowEvent = (name: string) => fixtureEvent(name) as RowChangeEvent;
const names = (event: RowChangeEvent) => matchRules(table, event).map((m) => m.rule.name);

const order = rowEvent('orders-create').after!;
const withStatus = (from: string, to: string, lsn = 100) => update('orders', { id: order.id! }, { ...order, status: from }, { ...order, status: to }, lsn);
const product = (before: { stock: number; threshold: number }, after: { stock: number; threshold: number }) =>
  update('products', { id: 33 }, { id: 33, sku: 'P', stock_quantity: before.stock, low_stock_threshold: before.threshold }, { id: 33, sku: 'P', stock_quantity: after.stock, low_stock_threshold: after.threshold }, 200);

describe('the checked-in rules table', () => {
  it('has every rule the issue asks for, with its channels and recipient', () => {
    expect(table.rules.map((r) => [r.name, r.table, r.channels.join('+'), r.recipient.kind])).toEqual([
      ['order-confirmation', 'orders', 'email+push', 'customer'],
      ['order-paid', 'orders', 'email+sms+push', 'customer'],
      ['order-shipped', 'orders', 'email+sms+push', 'customer'],
      ['order-delivered', 'orders', 'email+push', 'customer'],
      ['order-cancelled', 'orders', 'email+sms', 'customer'],
      ['order-refunded', 'orders', 'email+sms', 'customer'],
      ['welcome', 'customers', 'email', 'row'],
      ['low-stock', 'products', 'email', 'operations'],
    ]);
  });

  it.each([
    ['a captured order INSERT', rowEvent('orders-create'), ['order-confirmation']],
    ['a captured status update pending -> paid', rowEvent('orders-update'), ['order-paid']],
    ['a captured customer INSERT', rowEvent('customers-create'), ['welcome']],
    ['a captured customer UPDATE (name changed)', rowEvent('customers-update'), []],
    ['a captured snapshot row of a customer', rowEvent('customers-snapshot-read'), []],
    ['a captured customer DELETE', rowEvent('customers-delete'), []],
    ['a captured product INSERT', rowEvent('products-create'), []],
    ['a captured stock update already below the threshold (5 -> 4, threshold 10)', rowEvent('products-update-unchanged-toast'), []],
    ['paid -> shipped', withStatus('paid', 'shipped'), ['order-shipped']],
    ['shipped -> delivered', withStatus('shipped', 'delivered'), ['order-delivered']],
    ['pending -> cancelled', withStatus('pending', 'cancelled'), ['order-cancelled']],
    ['delivered -> refunded', withStatus('delivered', 'refunded'), ['order-refunded']],
    ['paid -> processing (a status without a rule)', withStatus('paid', 'processing'), []],
    ['an update that leaves the status alone', withStatus('paid', 'paid'), []],
    ['stock 12 -> 10 with threshold 10 (crossing down to the threshold)', product({ stock: 12, threshold: 10 }, { stock: 10, threshold: 10 }), ['low-stock']],
    ['stock 11 -> 3 with threshold 10 (crossing down through it)', product({ stock: 11, threshold: 10 }, { stock: 3, threshold: 10 }), ['low-stock']],
    ['stock 9 -> 8 (already low)', product({ stock: 9, threshold: 10 }, { stock: 8, threshold: 10 }), []],
    ['stock 3 -> 50 (restock)', product({ stock: 3, threshold: 10 }, { stock: 50, threshold: 10 }), []],
    ['threshold raised above the stock (20 -> 30, stock 25)', product({ stock: 25, threshold: 20 }, { stock: 25, threshold: 30 }), ['low-stock']],
  ])('%s -> %j', (_label, event, expected) => {
    expect(names(event)).toEqual(expected);
  });

  it('never notifies for a snapshot row, even one that looks like a new order', () => {
    const snapshot = changeEvent({ table: 'orders', op: 'read', key: { id: 1 }, after: order, lsn: 5 });
    expect(names(snapshot)).toEqual([]);
  });

  it('dead-letters a status outside known_values, naming it', () => {
    expect(() => matchRules(table, withStatus('paid', 'on_hold'))).toThrow(PermanentError);
    expect(() => matchRules(table, withStatus('paid', 'on_hold'))).toThrow(/unknown orders\.status "on_hold"/);
    // An update that does not touch an (old, unknown) status is no reason to dead-letter.
    expect(names(withStatus('legacy', 'legacy'))).toEqual([]);
  });

  it('fills unchanged-TOAST columns from the old row before matching', () => {
    const event = update('orders', { id: 1 }, { ...order, notes: 'long note' }, { ...order, status: 'paid', notes: undefined as never }, 300, ['notes']);
    delete (event.after as Record<string, unknown>).notes;
    expect(currentRow(event)!.notes).toBe('long note');
    expect(matchRules(table, event)[0]!.row.notes).toBe('long note');
  });

  it.each([
    ['no rules', { rules: [] }, /non-empty list/],
    ['a duplicate name', { rules: [rule(), rule()] }, /used twice/],
    ['an unknown channel', { rules: [rule({ channels: ['fax'] })] }, /channels must be/],
    ['operations with SMS', { rules: [rule({ recipient: 'operations', channels: ['sms'] })] }, /email address only/],
    ['a bad trigger', { rules: [rule({ on: { column: 'status' } })] }, /on must be/],
    ['a bad recipient', { rules: [rule({ recipient: 'everyone' })] }, /recipient must be/],
    ['bad known_values', { known_values: { status: 'paid' }, rules: [rule()] }, /known_values/],
  ])('refuses a table with %s', (_label, parsed, message) => {
    expect(() => parseRuleTable(parsed)).toThrow(message);
  });
});

function rule(overrides: Record<string, unknown> = {}) {
  return { name: 'r', table: 'orders', on: 'create', template: 't', channels: ['email'], recipient: { customer: 'customer_id' }, ...overrides };
}
