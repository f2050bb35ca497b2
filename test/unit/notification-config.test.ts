/**
 * The notification consumer's configuration (defaults, credentials that must come together, bad
 * values naming the variable) and the contacts written from real captured customers messages.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RowChangeEvent } from '../../consumers/core/change-event.js';
import { ConfigError } from '../../consumers/core/config.js';
import { contactChangeArgs, contactFromHash, customerIdOf } from '../../consumers/notification/contacts-store.js';
import { loadNotificationConfig } from '../../consumers/notification/notification-config.js';
import { update } from '../helpers/events.js';
import { fixtureEvent } from '../helpers/fixtures.js';

const sid = `AC${'0'.repeat(32)}`;

describe('notification config', () => {
  it('defaults: Mailpit SMTP, no SMS/push credentials (dev outbox), SMS in doubt always held', () => {
    const config = loadNotificationConfig({ REDIS_URL: 'redis://127.0.0.1:8379' });
    expect(config).toMatchObject({
      redisUrl: 'redis://127.0.0.1:8379', keyPrefix: 'notify:', messageIdDomain: 'shop.example', contactWaitMs: 60_000,
      smtp: { url: 'smtp://127.0.0.1:1025', poolConnections: 10, user: null }, twilio: null, fcm: null,
      inDoubt: { email: 'resend', push: 'resend', sms: 'hold' }, rateLimitPerMinute: { email: 10, sms: 3, push: 10 },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(loadNotificationConfig({ NOTIFY_REDIS_URL: 'redis://a:1', REDIS_URL: 'redis://b:2' }).redisUrl).toBe('redis://a:1');
  });

  it('Twilio credentials and the local-peer origin', () => {
    const config = loadNotificationConfig({ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 't', TWILIO_FROM_NUMBER: '+15005550006', TWILIO_API_ORIGIN: 'http://127.0.0.1:4010/ignored' });
    expect(config.twilio).toEqual({ accountSid: sid, authToken: 't', from: { number: '+15005550006' }, apiOrigin: 'http://127.0.0.1:4010' });
    expect(loadNotificationConfig({ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 't', TWILIO_MESSAGING_SERVICE_SID: 'MG1' }).twilio?.apiOrigin).toBe('https://api.twilio.com');
  });

  it('FCM: the project id comes from the service-account file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'notify-config-'));
    writeFileSync(join(dir, 'sa.json'), JSON.stringify({ project_id: 'p1', private_key: 'k', client_email: 'e' }));
    expect(loadNotificationConfig({ FCM_SERVICE_ACCOUNT_FILE: join(dir, 'sa.json'), FCM_CONNECT_TO: '127.0.0.1:9443' }).fcm).toMatchObject({ projectId: 'p1', connectTo: { host: '127.0.0.1', port: 9443 } });
  });

  it.each([
    [{ TWILIO_ACCOUNT_SID: 'nope', TWILIO_AUTH_TOKEN: 't' }, 'TWILIO_ACCOUNT_SID'],
    [{ TWILIO_ACCOUNT_SID: sid }, 'TWILIO_AUTH_TOKEN'],
    [{ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 't' }, 'TWILIO_FROM_NUMBER'],
    [{ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 't', TWILIO_FROM_NUMBER: '555' }, 'TWILIO_FROM_NUMBER'],
    [{ FCM_SERVICE_ACCOUNT_FILE: '/does/not/exist.json' }, 'FCM_SERVICE_ACCOUNT_FILE'],
    [{ SMTP_URL: 'http://x' }, 'SMTP_URL'],
    [{ SMTP_USER: 'u' }, 'SMTP_PASSWORD'],
    [{ NOTIFY_FROM_EMAIL: 'not an address' }, 'NOTIFY_FROM_EMAIL'],
    [{ NOTIFY_TIME_ZONE: 'Mars/Olympus' }, 'NOTIFY_TIME_ZONE'],
    [{ NOTIFY_IN_DOUBT_EMAIL: 'maybe' }, 'NOTIFY_IN_DOUBT_EMAIL'],
    [{ NOTIFY_CLAIM_LEASE_MS: '5000', NOTIFY_SEND_TIMEOUT_MS: '10000' }, 'NOTIFY_CLAIM_LEASE_MS'],
    [{ NOTIFY_RATE_LIMIT_SMS_PER_MINUTE: '-1' }, 'NOTIFY_RATE_LIMIT_SMS_PER_MINUTE'],
  ])('%j is refused naming %s', (env, variable) => {
    expect(() => loadNotificationConfig(env)).toThrow(ConfigError);
    try {
      loadNotificationConfig(env);
    } catch (error) {
      expect((error as ConfigError).variable).toBe(variable);
    }
  });
});

describe('contacts from the customers topic', () => {
  it.each([
    ['customers-create', ['email', 'fixture.fxmwui6mk8@example.com', 'phone', '\u0000', 'push', 'fcm:fixture-fxmwui6mk8', 'first', 'Fixture', 'last', 'Capture']],
    ['customers-snapshot-read', ['email', 'emma.johnson1@example.com', 'phone', '+15551007919', 'push', '\u0000', 'first', 'Emma', 'last', 'Johnson']],
  ])('%s becomes a version-guarded upsert', (name, fields) => {
    const event = fixtureEvent(name) as RowChangeEvent;
    expect(contactChangeArgs(event, 100)).toEqual([event.source.version, '0', '100', ...fields]);
  });

  it('a delete keeps only the version and the mark; a TOAST-unavailable column is left as stored', () => {
    const deleted = fixtureEvent('customers-delete') as RowChangeEvent;
    expect(contactChangeArgs(deleted, 100)).toEqual([deleted.source.version, '1', '100']);
    const toast = update('customers', { id: 1 }, { id: 1, email: 'a@b.c', first_name: 'A' }, { id: 1, first_name: 'B' }, 10, ['email']);
    expect(contactChangeArgs(toast, 100)).toEqual([toast.source.version, '0', '100', 'first', 'B']);
  });

  it('opt-out columns, when the row has them, become channel opt-outs', () => {
    const event = update('customers', { id: 1 }, { id: 1 }, { id: 1, email: 'a@b.c', sms_opt_out: true, notifications_opt_out: false }, 10);
    expect(contactChangeArgs(event, 1).slice(3)).toEqual(['email', 'a@b.c', 'opt:notifications_opt_out', '0', 'opt:sms_opt_out', '1']);
    const contact = contactFromHash('1', { v: '5', email: 'a@b.c', 'opt:sms_opt_out': '1' })!;
    expect([...contact.optedOut]).toEqual(['sms']);
    expect([...contactFromHash('1', { v: '5', 'opt:notifications_opt_out': '1' })!.optedOut]).toEqual(['email', 'sms', 'push']);
    expect(contactFromHash('1', {})).toBeNull();
    expect(() => customerIdOf({ a: 1, b: 2 })).toThrow(/not a single column/);
  });
});
