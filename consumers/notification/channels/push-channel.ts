/**
 * Push notifications through Firebase Cloud Messaging with the official `firebase-admin` package,
 * one `messaging().send()` per message (HTTP/1.1 through our agent; `sendEach*` speak HTTP/2 and
 * ignore the agent).
 *
 * FCM's and Google's OAuth token URLs are fixed in the library. Both requests go through the
 * `https.Agent` given as `httpAgent` and to `cert(<service-account file path>, agent)` (with a
 * service-account *object* the token request would ignore the agent). `FCM_CONNECT_TO` makes that
 * agent dial a local FCM-compatible peer for those hosts (trusting `FCM_CA_FILE`); in production
 * neither is set and the agent is an ordinary kept-alive one.
 *
 * Every message carries a collapse key (Android `collapse_key` and notification `tag`, APNs
 * `apns-collapse-id`, Web Push `Topic`) that is the same for all pushes about one row: a resend
 * after an in-doubt outcome replaces the original instead of showing twice, and an older status
 * still queued for an offline device is replaced by the newer one. `data.notificationId` is the
 * ledger key, for an app that wants to drop exact duplicates itself.
 *
 * Outcomes (channel.ts): unregistered / invalid token, invalid argument `rejected`; 429, 503 and
 * token-server trouble `not-sent`; a refused connection `not-sent`; a timeout, a reset or a 500 after
 * the request went out `unknown`. firebase-admin itself retries 503 and ECONNRESET/ETIMEDOUT up to
 * 4 times (not configurable); a reset retried by it can deliver twice, which the collapse key
 * then folds into one notification.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { cert, deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getMessaging, type Messaging } from 'firebase-admin/messaging';
import type { FcmConfig } from '../notification-config.js';
import { reasonOf, type Channel, type PushMessage, type SendOutcome } from './channel.js';

/** The hosts firebase-admin calls for a send: FCM itself and Google's OAuth token endpoint. */
const GOOGLE_HOSTS = new Set(['fcm.googleapis.com', 'oauth2.googleapis.com', 'www.googleapis.com', 'accounts.google.com']);

/** An https.Agent that dials `target` for Google's hosts (a local peer), trusting `ca`. */
export class PeerAgent extends https.Agent {
  constructor(
    private readonly target: { host: string; port: number },
    options: https.AgentOptions,
  ) {
    super(options);
  }

  /** Like https.Agent's own: the returned socket is used (Node's agent then ignores any callback). */
  override createConnection(options: tls.ConnectionOptions): Duplex {
    const host = options.host ?? options.servername ?? '';
    const redirected = GOOGLE_HOSTS.has(host) ? { host: this.target.host, port: this.target.port, servername: host } : {};
    return tls.connect({ ...options, ...redirected });
  }
}

export function pushAgent(config: FcmConfig, maxSockets = 32): https.Agent {
  const options: https.AgentOptions = { keepAlive: true, maxSockets, ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}) };
  return config.connectTo ? new PeerAgent(config.connectTo, options) : new https.Agent(options);
}

const PERMANENT = new Set([
  'messaging/registration-token-not-registered', 'messaging/invalid-registration-token', 'messaging/invalid-argument',
  'messaging/invalid-recipient', 'messaging/invalid-payload', 'messaging/payload-size-limit-exceeded',
  'messaging/mismatched-credential', 'messaging/invalid-package-name', 'messaging/sender-id-mismatch',
]);
const TRANSIENT = new Set(['messaging/quota-exceeded', 'messaging/message-rate-exceeded', 'messaging/device-message-rate-exceeded', 'messaging/server-unavailable', 'messaging/third-party-auth-error', 'messaging/authentication-error', 'app/invalid-credential']);
const NEVER_SENT = /Error code: (ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)\b/;

export function outcomeForFcmError(error: unknown): SendOutcome {
  const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : '';
  const reason = `FCM ${reasonOf(error)}`;
  if (PERMANENT.has(code)) return { kind: 'rejected', reason };
  if (TRANSIENT.has(code)) return { kind: 'not-sent', reason };
  if (code === 'app/network-error' && NEVER_SENT.test(reasonOf(error))) return { kind: 'not-sent', reason };
  return { kind: 'unknown', reason: `${reason} (the request may have reached FCM)` };
}

export class PushChannel implements Channel<PushMessage> {
  readonly name = 'push' as const;
  readonly live = true;
  private readonly app: App;
  private readonly messaging: Messaging;

  constructor(config: FcmConfig, agent: https.Agent = pushAgent(config)) {
    // A named app: several channels (tests, two sinks in one process) never share state.
    this.app = initializeApp(
      { credential: cert(config.serviceAccountFile, agent), httpAgent: agent, projectId: config.projectId },
      `cdc-notification-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    );
    this.messaging = getMessaging(this.app);
  }

  async start(): Promise<void> {}

  async send(message: PushMessage): Promise<SendOutcome> {
    try {
      const name = await this.messaging.send({
        token: message.token,
        notification: { title: message.title, body: message.body },
        data: { ...message.data },
        android: { collapseKey: message.collapseKey, notification: { tag: message.collapseKey } },
        apns: { headers: { 'apns-collapse-id': message.collapseKey.slice(0, 64) } },
        webpush: { headers: { Topic: message.collapseKey.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32) } },
      });
      return { kind: 'sent', providerId: name };
    } catch (error) {
      return outcomeForFcmError(error);
    }
  }

  async close(): Promise<void> {
    await deleteApp(this.app).catch(() => undefined);
  }
}
