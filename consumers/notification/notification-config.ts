/**
 * The notification consumer's own variables (the common ones are in consumers/core/config.ts),
 * parsed once at start-up into a frozen object; a bad value throws ConfigError naming the variable.
 *
 * Store (ledger, contacts, rate limits, attempts):
 *   NOTIFY_REDIS_URL              REDIS_URL, else redis://127.0.0.1:6379
 *   NOTIFY_KEY_PREFIX             notify:     every key the consumer writes starts with it
 *   NOTIFY_LEDGER_TTL_DAYS        8           how long a delivery is remembered (>= the topics' retention)
 *   NOTIFY_ATTEMPTS_MAX_LENGTH    1000000     attempts audit stream, trimmed to about this many entries
 * Rules and templates:
 *   NOTIFY_RULES_FILE             consumers/notification/rules.yaml
 *   NOTIFY_TEMPLATES_DIR          consumers/notification/templates
 *   NOTIFY_OPERATIONS_EMAIL       operations@shop.example   recipient of low-stock alerts
 *   NOTIFY_FROM_EMAIL             "Shop <orders@shop.example>"
 *   NOTIFY_SHOP_NAME              Shop
 *   NOTIFY_MESSAGE_ID_DOMAIN      the From address's domain   right-hand side of every Message-ID
 *   NOTIFY_LOCALE / NOTIFY_TIME_ZONE   en-US / UTC   how dates read in messages
 * Delivery:
 *   NOTIFY_CONTACT_WAIT_MS        60000   an order whose customer is unknown waits this long, then is dead-lettered
 *   NOTIFY_CONTACT_POLL_MS        500     first, the write itself looks again this long (every 10 ms) for a
 *                                         contact arriving just behind its order, before backing off
 *   NOTIFY_RATE_LIMIT_EMAIL_PER_MINUTE / _SMS_ / _PUSH_   10 / 3 / 10   per customer and channel, 0 = no limit
 *   NOTIFY_SEND_CONCURRENCY       32      rows whose notifications are in flight at once
 *   NOTIFY_PROVIDER_CONCURRENCY   16      SMS / push requests in flight at once (emails: SMTP_POOL_CONNECTIONS)
 *   NOTIFY_SEND_TIMEOUT_MS        15000   one provider call
 *   NOTIFY_CLAIM_LEASE_MS         60000   a claim older than this with no outcome is in doubt
 *   NOTIFY_CHANNEL_RETRY_INITIAL_MS / NOTIFY_CHANNEL_RETRY_MAX_MS   500 / 30000   per-channel backoff
 *   NOTIFY_IN_DOUBT_EMAIL / NOTIFY_IN_DOUBT_PUSH   resend | hold   (SMS is always hold)
 * Channels:
 *   SMTP_URL                      smtp://127.0.0.1:1025 (Mailpit); smtps:// for implicit TLS
 *   SMTP_USER / SMTP_PASSWORD     optional login
 *   SMTP_POOL_CONNECTIONS         10      (into Mailpit: 5 -> ~330 mails/s, 10 -> ~435, 20 -> ~465)
 *   TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID
 *                                 unset: SMS go to the dev outbox (skipped: no credentials)
 *   TWILIO_API_ORIGIN             https://api.twilio.com; another origin (a local peer) via the
 *                                 client's documented httpClient option
 *   FCM_SERVICE_ACCOUNT_FILE      service-account JSON file; unset: push goes to the dev outbox
 *   FCM_CONNECT_TO / FCM_CA_FILE  host:port and CA file of an FCM-compatible local peer (tests);
 *                                 unset in production
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, envReader } from '../core/config.js';
import type { ChannelName } from './channels/channel.js';

const ROOM = dirname(fileURLToPath(import.meta.url));

export type InDoubtPolicy = 'resend' | 'hold';

export interface SmtpConfig {
  readonly url: string;
  readonly user: string | null;
  readonly password: string | null;
  readonly poolConnections: number;
}

export interface TwilioConfig {
  readonly accountSid: string;
  readonly authToken: string;
  readonly from: { readonly number: string } | { readonly messagingServiceSid: string };
  readonly apiOrigin: string;
}

export interface FcmConfig {
  readonly serviceAccountFile: string;
  readonly projectId: string;
  /** Dial every FCM/OAuth host at this host:port instead (a local peer); null in production. */
  readonly connectTo: { readonly host: string; readonly port: number } | null;
  /** Extra trusted CA (PEM) for that peer. */
  readonly caFile: string | null;
}

export interface NotificationConfig {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly ledgerTtlSeconds: number;
  readonly attemptsMaxLength: number;
  readonly rulesFile: string;
  readonly templatesDir: string;
  readonly operationsEmail: string;
  readonly fromEmail: string;
  readonly shopName: string;
  readonly messageIdDomain: string;
  readonly locale: string;
  readonly timeZone: string;
  readonly contactWaitMs: number;
  readonly contactPollMs: number;
  readonly rateLimitPerMinute: Readonly<Record<ChannelName, number>>;
  readonly sendConcurrency: number;
  /** SMS and push requests in flight at once (HTTP connections per provider). */
  readonly providerConcurrency: number;
  readonly sendTimeoutMs: number;
  readonly claimLeaseMs: number;
  readonly channelRetry: { readonly initialMs: number; readonly maxMs: number };
  readonly inDoubt: Readonly<Record<ChannelName, InDoubtPolicy>>;
  readonly smtp: SmtpConfig;
  /** null: no credentials, SMS go to the dev outbox. */
  readonly twilio: TwilioConfig | null;
  /** null: no credentials, push goes to the dev outbox. */
  readonly fcm: FcmConfig | null;
}

const EMAIL = /^[^\s@<>]+@([^\s@<>]+\.[^\s@<>]+)$/;
/** "Name <a@b.c>" or "a@b.c" -> the domain. */
function addressDomain(address: string): string | null {
  const inner = /<([^>]+)>\s*$/.exec(address)?.[1] ?? address.trim();
  return EMAIL.exec(inner)?.[1] ?? null;
}

export function loadNotificationConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): NotificationConfig {
  const read = envReader(env);
  const fromEmail = read.string('NOTIFY_FROM_EMAIL', 'Shop <orders@shop.example>');
  const fromDomain = addressDomain(fromEmail);
  if (fromDomain === null) throw new ConfigError('NOTIFY_FROM_EMAIL', `NOTIFY_FROM_EMAIL=${JSON.stringify(fromEmail)} is invalid: expected an address like "Shop <orders@shop.example>"`);
  const operationsEmail = read.string('NOTIFY_OPERATIONS_EMAIL', 'operations@shop.example');
  if (!EMAIL.test(operationsEmail)) throw new ConfigError('NOTIFY_OPERATIONS_EMAIL', `NOTIFY_OPERATIONS_EMAIL=${JSON.stringify(operationsEmail)} is invalid: expected an email address`);
  const messageIdDomain = read.string('NOTIFY_MESSAGE_ID_DOMAIN', fromDomain);
  if (!/^[A-Za-z0-9.-]+$/.test(messageIdDomain)) throw new ConfigError('NOTIFY_MESSAGE_ID_DOMAIN', `NOTIFY_MESSAGE_ID_DOMAIN=${JSON.stringify(messageIdDomain)} is invalid: expected a domain name`);

  const locale = read.string('NOTIFY_LOCALE', 'en-US');
  const timeZone = read.string('NOTIFY_TIME_ZONE', 'UTC');
  try {
    new Intl.DateTimeFormat(locale, { timeZone });
  } catch {
    throw new ConfigError('NOTIFY_TIME_ZONE', `NOTIFY_LOCALE=${locale} / NOTIFY_TIME_ZONE=${timeZone} is invalid: expected a BCP 47 locale and an IANA time zone`);
  }

  const retryInitialMs = read.int('NOTIFY_CHANNEL_RETRY_INITIAL_MS', 500, { min: 1, max: 600_000 });
  const retryMaxMs = read.int('NOTIFY_CHANNEL_RETRY_MAX_MS', 30_000, { min: 1, max: 3_600_000 });
  if (retryMaxMs < retryInitialMs) throw new ConfigError('NOTIFY_CHANNEL_RETRY_MAX_MS', `NOTIFY_CHANNEL_RETRY_MAX_MS=${retryMaxMs} is invalid: expected at least NOTIFY_CHANNEL_RETRY_INITIAL_MS (${retryInitialMs})`);

  const sendTimeoutMs = read.int('NOTIFY_SEND_TIMEOUT_MS', 15_000, { min: 100, max: 600_000 });
  const claimLeaseMs = read.int('NOTIFY_CLAIM_LEASE_MS', 60_000, { min: 1_000, max: 86_400_000 });
  // A claim must outlive the send it guards, or a slow but successful send would look in doubt.
  if (claimLeaseMs <= sendTimeoutMs) throw new ConfigError('NOTIFY_CLAIM_LEASE_MS', `NOTIFY_CLAIM_LEASE_MS=${claimLeaseMs} is invalid: expected more than NOTIFY_SEND_TIMEOUT_MS (${sendTimeoutMs})`);

  const smtpUser = read.string('SMTP_USER', '');
  const smtpPassword = read.string('SMTP_PASSWORD', '');
  if (smtpUser !== '' && smtpPassword === '') throw new ConfigError('SMTP_PASSWORD', 'SMTP_PASSWORD is required when SMTP_USER is set');

  return Object.freeze({
    redisUrl: read.url(['NOTIFY_REDIS_URL', 'REDIS_URL'], 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    keyPrefix: read.string('NOTIFY_KEY_PREFIX', 'notify:'),
    ledgerTtlSeconds: read.int('NOTIFY_LEDGER_TTL_DAYS', 8, { min: 1, max: 3650 }) * 86_400,
    attemptsMaxLength: read.int('NOTIFY_ATTEMPTS_MAX_LENGTH', 1_000_000, { min: 1_000, max: 1_000_000_000 }),
    rulesFile: read.string('NOTIFY_RULES_FILE', join(ROOM, 'rules.yaml')),
    templatesDir: read.string('NOTIFY_TEMPLATES_DIR', join(ROOM, 'templates')),
    operationsEmail,
    fromEmail,
    shopName: read.string('NOTIFY_SHOP_NAME', 'Shop'),
    messageIdDomain,
    locale,
    timeZone,
    contactWaitMs: read.int('NOTIFY_CONTACT_WAIT_MS', 60_000, { min: 0, max: 86_400_000 }),
    contactPollMs: read.int('NOTIFY_CONTACT_POLL_MS', 500, { min: 0, max: 10_000 }),
    rateLimitPerMinute: Object.freeze({
      email: read.int('NOTIFY_RATE_LIMIT_EMAIL_PER_MINUTE', 10, { min: 0, max: 1_000_000 }),
      sms: read.int('NOTIFY_RATE_LIMIT_SMS_PER_MINUTE', 3, { min: 0, max: 1_000_000 }),
      push: read.int('NOTIFY_RATE_LIMIT_PUSH_PER_MINUTE', 10, { min: 0, max: 1_000_000 }),
    }),
    sendConcurrency: read.int('NOTIFY_SEND_CONCURRENCY', 32, { min: 1, max: 10_000 }),
    providerConcurrency: read.int('NOTIFY_PROVIDER_CONCURRENCY', 16, { min: 1, max: 1_000 }),
    sendTimeoutMs,
    claimLeaseMs,
    channelRetry: Object.freeze({ initialMs: retryInitialMs, maxMs: retryMaxMs }),
    inDoubt: Object.freeze({
      email: read.oneOf('NOTIFY_IN_DOUBT_EMAIL', ['resend', 'hold'] as const, 'resend'),
      push: read.oneOf('NOTIFY_IN_DOUBT_PUSH', ['resend', 'hold'] as const, 'resend'),
      // Twilio's Messages API honours no idempotency key: a resend could text the customer twice.
      sms: 'hold' as const,
    }),
    smtp: Object.freeze({
      url: read.url('SMTP_URL', 'smtp://127.0.0.1:1025', ['smtp:', 'smtps:']),
      user: smtpUser || null,
      password: smtpPassword || null,
      poolConnections: read.int('SMTP_POOL_CONNECTIONS', 10, { min: 1, max: 100 }),
    }),
    twilio: twilioConfig(read),
    fcm: fcmConfig(read),
  });
}

function twilioConfig(read: ReturnType<typeof envReader>): TwilioConfig | null {
  const accountSid = read.string('TWILIO_ACCOUNT_SID', '');
  const authToken = read.string('TWILIO_AUTH_TOKEN', '');
  if (accountSid === '' && authToken === '') return null;
  if (!/^AC[0-9a-fA-F]{32}$/.test(accountSid)) throw new ConfigError('TWILIO_ACCOUNT_SID', `TWILIO_ACCOUNT_SID is invalid: expected "AC" and 32 hex digits`);
  if (authToken === '') throw new ConfigError('TWILIO_AUTH_TOKEN', 'TWILIO_AUTH_TOKEN is required when TWILIO_ACCOUNT_SID is set');
  const number = read.string('TWILIO_FROM_NUMBER', '');
  const messagingServiceSid = read.string('TWILIO_MESSAGING_SERVICE_SID', '');
  if (number === '' && messagingServiceSid === '') throw new ConfigError('TWILIO_FROM_NUMBER', 'TWILIO_FROM_NUMBER (or TWILIO_MESSAGING_SERVICE_SID) is required when TWILIO_ACCOUNT_SID is set');
  if (number !== '' && !/^\+[1-9]\d{6,14}$/.test(number)) throw new ConfigError('TWILIO_FROM_NUMBER', 'TWILIO_FROM_NUMBER is invalid: expected an E.164 number like +15005550006');
  return Object.freeze({
    accountSid,
    authToken,
    from: Object.freeze(number !== '' ? { number } : { messagingServiceSid }),
    apiOrigin: new URL(read.url('TWILIO_API_ORIGIN', 'https://api.twilio.com', ['http:', 'https:'])).origin,
  });
}

function fcmConfig(read: ReturnType<typeof envReader>): FcmConfig | null {
  const serviceAccountFile = read.string('FCM_SERVICE_ACCOUNT_FILE', '');
  if (serviceAccountFile === '') return null;
  let projectId: unknown;
  try {
    projectId = (JSON.parse(readFileSync(serviceAccountFile, 'utf8')) as { project_id?: unknown }).project_id;
  } catch (error) {
    throw new ConfigError('FCM_SERVICE_ACCOUNT_FILE', `FCM_SERVICE_ACCOUNT_FILE=${serviceAccountFile} cannot be read as a service-account JSON file: ${(error as Error).message}`);
  }
  if (typeof projectId !== 'string' || projectId === '') throw new ConfigError('FCM_SERVICE_ACCOUNT_FILE', `FCM_SERVICE_ACCOUNT_FILE=${serviceAccountFile} has no project_id`);
  const connectTo = read.string('FCM_CONNECT_TO', '');
  const match = /^([^\s:]+):(\d{1,5})$/.exec(connectTo);
  if (connectTo !== '' && !match) throw new ConfigError('FCM_CONNECT_TO', `FCM_CONNECT_TO=${JSON.stringify(connectTo)} is invalid: expected host:port`);
  return Object.freeze({
    serviceAccountFile,
    projectId,
    connectTo: match ? Object.freeze({ host: match[1]!, port: Number(match[2]) }) : null,
    caFile: read.string('FCM_CA_FILE', '') || null,
  });
}
