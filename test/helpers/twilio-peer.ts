/**
 * A local HTTP server that answers like Twilio's Messages API, for the notification tests: the
 * real `twilio` library talks to it through its documented `httpClient` option (the consumer's
 * OriginRequestClient with TWILIO_API_ORIGIN = this server's origin).
 *
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json   (form: To, From | MessagingServiceSid, Body)
 *   -> 201 with a Message resource ("SM" + 32 hex), like Twilio
 *   -> Twilio error bodies {code, message, more_info, status}:
 *        401 / 20003  wrong account or token (HTTP Basic auth is checked)
 *        400 / 21211  To is Twilio's magic invalid number +15005550001, or not E.164
 *        400 / 21610  To is +15005550004 (the recipient replied STOP: unsubscribed)
 *        429 / 20429  and 503 while an outage is on (`outage(ms)`), alternating
 *   `dropAfterAccepting(n)`: the next n messages are accepted (logged as accepted) and then the
 *   connection is destroyed without an answer: the in-doubt case.
 *
 * Every request is in `requests`, whatever was answered; `accepted()` lists the messages taken.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const INVALID_NUMBER = '+15005550001';
export const UNSUBSCRIBED_NUMBER = '+15005550004';

export interface TwilioRequest {
  readonly at: number;
  readonly to: string;
  readonly from: string;
  readonly body: string;
  /** HTTP status answered, or 0 when the connection was dropped after accepting. */
  readonly status: number;
  readonly sid: string | null;
}

export class TwilioPeer {
  readonly requests: TwilioRequest[] = [];
  readonly accountSid = `AC${randomBytes(16).toString('hex')}`;
  readonly authToken = randomBytes(16).toString('hex');
  readonly fromNumber = '+15005550006';
  private outageUntil = 0;
  private outageAnswers = 0;
  private drops = 0;
  private readonly sockets = new Set<import('node:net').Socket>();

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<TwilioPeer> {
    const server = http.createServer();
    const peer = new TwilioPeer(server);
    server.on('request', (request, response) => void peer.handle(request, response));
    server.on('connection', (socket) => {
      peer.sockets.add(socket);
      socket.once('close', () => peer.sockets.delete(socket));
    });
    // Idle keep-alive connections live as long as at the providers' front ends (minutes), not Node's
    // 5 s: a client reusing a socket the server is just closing gets ECONNRESET, which for a
    // request that may have been taken is an in-doubt outcome.
    server.keepAliveTimeout = 120_000;
    server.headersTimeout = 125_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return peer;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Environment for a consumer that should send its SMS here. */
  env(): Record<string, string> {
    return { TWILIO_ACCOUNT_SID: this.accountSid, TWILIO_AUTH_TOKEN: this.authToken, TWILIO_FROM_NUMBER: this.fromNumber, TWILIO_API_ORIGIN: this.origin };
  }

  /** Answers 429 / 503 (alternating) to every message for `ms`. */
  outage(ms: number): void {
    this.outageUntil = Date.now() + ms;
  }

  dropAfterAccepting(count: number): void {
    this.drops = count;
  }

  accepted(): TwilioRequest[] {
    return this.requests.filter((r) => r.sid !== null);
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(request.url ?? '');
    if (request.method !== 'POST' || !match) return this.error(response, 404, 20404, `The requested resource ${request.url} was not found`);
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? form.get('MessagingServiceSid') ?? '';
    const body = form.get('Body') ?? '';
    const log = (status: number, sid: string | null) => this.requests.push({ at: Date.now(), to, from, body, status, sid });

    const expected = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
    if (match[1] !== this.accountSid || request.headers.authorization !== expected) {
      log(401, null);
      return this.error(response, 401, 20003, 'Authenticate');
    }
    if (Date.now() < this.outageUntil) {
      const status = this.outageAnswers++ % 2 === 0 ? 429 : 503;
      log(status, null);
      return status === 429 ? this.error(response, 429, 20429, 'Too Many Requests') : this.error(response, 503, 20503, 'Service Unavailable');
    }
    if (to === INVALID_NUMBER || !/^\+[1-9]\d{6,14}$/.test(to)) {
      log(400, null);
      return this.error(response, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    }
    if (to === UNSUBSCRIBED_NUMBER) {
      log(400, null);
      return this.error(response, 400, 21610, 'Attempt to send to unsubscribed recipient');
    }
    const sid = `SM${randomBytes(16).toString('hex')}`;
    if (this.drops > 0) {
      this.drops--;
      log(0, sid);
      request.socket.destroy();
      return;
    }
    log(201, sid);
    const now = new Date().toUTCString();
    const resource = {
      account_sid: this.accountSid, api_version: '2010-04-01', body, date_created: now, date_sent: null, date_updated: now,
      direction: 'outbound-api', error_code: null, error_message: null, from, messaging_service_sid: form.get('MessagingServiceSid'),
      num_media: '0', num_segments: '1', price: null, price_unit: 'USD', sid, status: 'queued', subresource_uris: {}, to,
      uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}.json`,
    };
    response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(resource));
  }

  private error(response: http.ServerResponse, status: number, code: number, message: string): void {
    response
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
