/**
 * SMS through Twilio's Messages API with the official `twilio` package.
 *
 * Twilio has no base-URL setting. Its documented `httpClient` option takes a `RequestClient`
 * (the library's own HTTP layer); `OriginRequestClient` is that class with one change: requests
 * go to `TWILIO_API_ORIGIN` instead of https://api.twilio.com, which reaches a Twilio-compatible
 * local peer (the tests) or a proxy. With the default origin it is the stock client.
 *
 * Outcomes (channel.ts): 201 `sent` (the Message SID); a Twilio error body `{code, message, status}`
 * with a permanent code (21211 invalid number, 21610 unsubscribed, 21614 not mobile, ...) or any
 * other 4xx `rejected`; 429 / 20429 (too many requests), 503, and 401 (credentials: fix them and
 * the pending SMS go out, nothing is dropped) `not-sent`; a refused connection `not-sent`. A
 * timeout, a dropped connection or another 5xx after the request went out is `unknown`: Twilio may
 * have queued the SMS, and since Messages honours no idempotency key, SMS in doubt are never
 * resent automatically. The library's own 429 auto-retry stays off: the sink's backoff owns retries.
 */
import http from 'node:http';
import twilio from 'twilio';
import type TwilioRequestClient from 'twilio/lib/base/RequestClient.js';
import type { TwilioConfig } from '../notification-config.js';
import { reasonOf, type Channel, type SendOutcome, type SmsMessage } from './channel.js';

const TWILIO_ORIGIN = 'https://api.twilio.com';

/** twilio's RequestClient, sending to another origin (path, query, auth and body unchanged). */
export class OriginRequestClient extends twilio.RequestClient {
  constructor(
    private readonly origin: string,
    options: { timeout: number; maxSockets: number },
  ) {
    super({ timeout: options.timeout, keepAlive: true, maxSockets: options.maxSockets, autoRetry: false });
    // The stock client only configures an https agent; a plain-http origin gets a kept-alive one too.
    this.axios.defaults.httpAgent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  }

  override request<TData>(opts: TwilioRequestClient.RequestOptions<TData>) {
    const uri = new URL(opts.uri);
    if (this.origin !== TWILIO_ORIGIN && uri.hostname.endsWith('twilio.com')) {
      const target = new URL(this.origin);
      uri.protocol = target.protocol;
      uri.host = target.host;
    }
    return super.request<TData>({ ...opts, uri: uri.toString() });
  }
}

/** Twilio error codes that mean "this message can never be delivered as addressed". */
const PERMANENT_CODES = new Set([21211, 21212, 21214, 21217, 21219, 21401, 21407, 21408, 21421, 21610, 21612, 21614, 21617, 21635, 30003, 30004, 30005, 30006, 30007]);
/** Answers that say the message was not taken and may be taken later. */
const TRANSIENT_CODES = new Set([20429, 20003, 20005, 20500, 20503]);
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function outcomeForTwilioError(error: unknown): SendOutcome {
  const failure = error as { status?: unknown; code?: unknown; message?: string; moreInfo?: string };
  const reason = reasonOf(error);
  if (typeof failure.status === 'number') {
    const status = failure.status;
    const code = typeof failure.code === 'number' ? failure.code : null;
    const what = `Twilio HTTP ${status}${code !== null ? ` code ${code}` : ''}: ${failure.message ?? ''}`.trim();
    if (code !== null && PERMANENT_CODES.has(code)) return { kind: 'rejected', reason: what };
    if (status === 429 || status === 503 || status === 401 || (code !== null && TRANSIENT_CODES.has(code))) return { kind: 'not-sent', reason: what };
    if (status >= 400 && status < 500) return { kind: 'rejected', reason: what };
    return { kind: 'unknown', reason: `${what} (the request reached the server; Twilio may have queued the SMS)` };
  }
  const code = typeof failure.code === 'string' ? failure.code : '';
  if (NEVER_SENT.has(code)) return { kind: 'not-sent', reason: `Twilio unreachable: ${reason}` };
  return { kind: 'unknown', reason: `no answer from Twilio (the SMS may have been queued): ${reason}` };
}

export class SmsChannel implements Channel<SmsMessage> {
  readonly name = 'sms' as const;
  readonly live = true;
  private readonly client: twilio.Twilio;

  constructor(
    private readonly config: TwilioConfig,
    options: { sendTimeoutMs: number; maxSockets?: number },
  ) {
    this.client = twilio(config.accountSid, config.authToken, {
      httpClient: new OriginRequestClient(config.apiOrigin, { timeout: options.sendTimeoutMs, maxSockets: options.maxSockets ?? 32 }),
      autoRetry: false,
      lazyLoading: true,
    });
  }

  async start(): Promise<void> {}

  async send(message: SmsMessage): Promise<SendOutcome> {
    try {
      const from = 'number' in this.config.from ? { from: this.config.from.number } : { messagingServiceSid: this.config.from.messagingServiceSid };
      const created = await this.client.messages.create({ to: message.to, body: message.body, ...from });
      return { kind: 'sent', providerId: created.sid };
    } catch (error) {
      return outcomeForTwilioError(error);
    }
  }

  async close(): Promise<void> {}
}
