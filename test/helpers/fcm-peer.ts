/**
 * A local TLS server that answers like FCM's HTTP v1 API and Google's OAuth token endpoint, for the
 * notification tests. The real `firebase-admin` library reaches it because the consumer's push
 * agent (FCM_CONNECT_TO = this server, FCM_CA_FILE = its test CA) dials it for
 * fcm.googleapis.com / oauth2.googleapis.com; the server's certificate is issued by a test CA for
 * those names, so TLS verification is real.
 *
 *   POST /token   (oauth2.googleapis.com)  the service account's RS256 JWT assertion is verified
 *                 with the key this peer generated; answers a bearer token valid for an hour
 *                 (firebase-admin refreshes any token that expires within 5 minutes).
 *   POST /v1/projects/{project}/messages:send   (fcm.googleapis.com)  bearer token checked;
 *                 200 {name: "projects/{project}/messages/<id>"}; FCM error bodies for a token
 *                 starting "unregistered" (404 UNREGISTERED) or "invalid" (400 INVALID_ARGUMENT);
 *                 429 QUOTA_EXCEEDED / 503 UNAVAILABLE (alternating) while an outage is on.
 *
 * `files()` writes the service-account JSON and the CA certificate for the consumer's env.
 */
import { createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';

export interface FcmRequest {
  readonly at: number;
  readonly token: string;
  readonly title: string;
  readonly body: string;
  readonly collapseKey: string;
  readonly notificationId: string;
  readonly status: number;
  /** The message name answered (200 only). */
  readonly name: string | null;
}

const HOSTS = ['fcm.googleapis.com', 'oauth2.googleapis.com', 'www.googleapis.com', 'accounts.google.com'];

export class FcmPeer {
  readonly requests: FcmRequest[] = [];
  readonly tokenRequests: { at: number; ok: boolean }[] = [];
  readonly projectId = `cdc-test-${randomBytes(3).toString('hex')}`;
  readonly clientEmail = `notifier@${this.projectId}.iam.gserviceaccount.com`;
  private readonly accessTokens = new Set<string>();
  private readonly sockets = new Set<Socket>();
  private outageUntil = 0;
  private outageAnswers = 0;
  private dir: string | null = null;

  private constructor(
    private readonly server: https.Server,
    private readonly caCert: string,
    private readonly serviceKey: { privatePem: string; publicPem: string },
  ) {}

  static async start(): Promise<FcmPeer> {
    const ca = await selfsigned.generate([{ name: 'commonName', value: 'CDC notification tests CA' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }],
    });
    const leaf = await selfsigned.generate([{ name: 'commonName', value: 'fcm.googleapis.com' }], {
      keySize: 2048,
      algorithm: 'sha256',
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: HOSTS.map((value) => ({ type: 2, value })) },
      ],
    });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const server = https.createServer({ key: leaf.private, cert: leaf.cert });
    const peer = new FcmPeer(server, ca.cert, {
      privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    server.on('request', (request, response) => void peer.handle(request, response));
    server.on('secureConnection', (socket) => {
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

  get address(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Writes the service-account file and the CA; the environment a consumer needs to push here. */
  env(): Record<string, string> {
    if (!this.dir) {
      this.dir = mkdtempSync(join(tmpdir(), 'fcm-peer-'));
      writeFileSync(join(this.dir, 'service-account.json'), JSON.stringify({
        type: 'service_account', project_id: this.projectId, private_key_id: randomBytes(20).toString('hex'),
        private_key: this.serviceKey.privatePem, client_email: this.clientEmail, client_id: '1',
        token_uri: 'https://oauth2.googleapis.com/token',
      }));
      writeFileSync(join(this.dir, 'ca.pem'), this.caCert);
    }
    return { FCM_SERVICE_ACCOUNT_FILE: join(this.dir, 'service-account.json'), FCM_CA_FILE: join(this.dir, 'ca.pem'), FCM_CONNECT_TO: this.address };
  }

  /** Answers 429 / 503 (alternating) to every send for `ms`. */
  outage(ms: number): void {
    this.outageUntil = Date.now() + ms;
  }

  accepted(): FcmRequest[] {
    return this.requests.filter((r) => r.status === 200);
  }

  private async handle(request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const host = (request.headers.host ?? '').split(':')[0];
    if (request.method === 'POST' && request.url === '/token' && host === 'oauth2.googleapis.com') return this.token(new URLSearchParams(text), response);
    const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(request.url ?? '');
    if (request.method === 'POST' && send && host === 'fcm.googleapis.com') return this.send(send[1]!, text, request.headers.authorization ?? '', response);
    this.fcmError(response, 404, 'NOT_FOUND', `no route ${request.method} ${host}${request.url}`);
  }

  private token(form: URLSearchParams, response: import('node:http').ServerResponse): void {
    const assertion = form.get('assertion') ?? '';
    const [header, payload, signature] = assertion.split('.');
    let valid = false;
    if (form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' && header && payload && signature) {
      const verifier = createVerify('RSA-SHA256');
      verifier.update(`${header}.${payload}`);
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: string };
      valid = verifier.verify(this.serviceKey.publicPem, Buffer.from(signature, 'base64url')) && claims.iss === this.clientEmail;
    }
    this.tokenRequests.push({ at: Date.now(), ok: valid });
    if (!valid) {
      response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }));
      return;
    }
    const accessToken = `ya29.test-${randomBytes(12).toString('hex')}`;
    this.accessTokens.add(accessToken);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: accessToken, expires_in: 3600, token_type: 'Bearer' }));
  }

  private send(project: string, text: string, authorization: string, response: import('node:http').ServerResponse): void {
    const message = (JSON.parse(text) as { message?: Record<string, any> }).message ?? {};
    const entry = {
      at: Date.now(),
      token: String(message.token ?? ''),
      title: String(message.notification?.title ?? ''),
      body: String(message.notification?.body ?? ''),
      collapseKey: String(message.android?.collapse_key ?? ''),
      notificationId: String(message.data?.notificationId ?? ''),
    };
    const log = (status: number, name: string | null) => this.requests.push({ ...entry, status, name });
    if (project !== this.projectId || !this.accessTokens.has(authorization.replace(/^Bearer /, ''))) {
      log(401, null);
      return this.fcmError(response, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.', 'THIRD_PARTY_AUTH_ERROR');
    }
    if (Date.now() < this.outageUntil) {
      const quota = this.outageAnswers++ % 2 === 0;
      log(quota ? 429 : 503, null);
      return quota
        ? this.fcmError(response, 429, 'RESOURCE_EXHAUSTED', 'Quota exceeded.', 'QUOTA_EXCEEDED')
        : this.fcmError(response, 503, 'UNAVAILABLE', 'The service is currently unavailable.', 'UNAVAILABLE');
    }
    if (entry.token.startsWith('unregistered')) {
      log(404, null);
      return this.fcmError(response, 404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED');
    }
    if (entry.token === '' || entry.token.startsWith('invalid')) {
      log(400, null);
      return this.fcmError(response, 400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT');
    }
    const name = `projects/${project}/messages/${randomBytes(8).readBigUInt64BE().toString()}`;
    log(200, name);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name }));
  }

  private fcmError(response: import('node:http').ServerResponse, code: number, status: string, message: string, errorCode?: string): void {
    const details = errorCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] : [];
    response.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code, message, status, details } }));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
