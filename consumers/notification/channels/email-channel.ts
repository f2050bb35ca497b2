/**
 * Email over SMTP with nodemailer's pooled transport (a few long-lived connections, each sending
 * message after message, instead of one TCP + SMTP handshake per mail).
 *
 * What an SMTP exchange tells us, and what it becomes (see channel.ts for the kinds):
 * - a reply code: 2xx sent (the server's queue id is the provider id); 4xx (451 on RCPT, 421...)
 *   `not-sent`, retried; 5xx `rejected` (mailbox refused, message refused), never retried.
 * - no reply, and the connection could not even be opened (refused, unknown host, no greeting):
 *   `not-sent`.
 * - no reply after the connection was up: the server may have taken DATA and the connection died
 *   before its "250" reached us ("accept-then-drop"): `unknown`, in doubt. nodemailer cannot tell
 *   us how far the exchange got, so every such failure is treated as possibly delivered.
 *
 * The pool's own requeueing is off (`maxRequeues: 0`): by default nodemailer silently sends a
 * message again on a new connection when its connection closed mid-send, which would be exactly
 * the blind resend the ledger exists to prevent. Every message carries its stable Message-ID, so a
 * resend after an in-doubt outcome is recognisable as the same message by receivers and tests.
 */
import net from 'node:net';
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { SmtpConfig } from '../notification-config.js';
import { reasonOf, type Channel, type EmailMessage, type SendOutcome } from './channel.js';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  command?: string;
  response?: string;
  syscall?: string;
}

/** Socket-level codes meaning the connection never got to SMTP at all. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function outcomeForSmtpError(error: unknown): SendOutcome {
  const smtp = error as SmtpError;
  const reason = reasonOf(error);
  if (typeof smtp.responseCode === 'number') {
    // The server answered: it did not take the message (a 2xx would not be an error).
    if (smtp.responseCode >= 500) return { kind: 'rejected', reason: `SMTP ${smtp.command ?? ''} ${reason}`.replace(/\s+/g, ' ') };
    return { kind: 'not-sent', reason: `SMTP ${smtp.command ?? ''} ${reason}`.replace(/\s+/g, ' ') };
  }
  const errno = (error as { errno?: unknown }).errno;
  const socketCode = typeof errno === 'string' ? errno : (error as { code?: string }).code;
  if (smtp.syscall === 'connect' || (socketCode !== undefined && NEVER_CONNECTED.has(socketCode)) || /Greeting never received/i.test(reason)) {
    return { kind: 'not-sent', reason: `SMTP connection failed: ${reason}` };
  }
  if (smtp.code === 'EENVELOPE' || smtp.code === 'EMESSAGE') return { kind: 'rejected', reason: `SMTP ${reason}` };
  return { kind: 'unknown', reason: `SMTP exchange broke off without a reply (the server may have taken the message): ${reason}` };
}

/**
 * Coalesces the writes of one event-loop turn into one system call: nodemailer writes a message as
 * many small chunks (headers, each MIME part, the final dot), and with Nagle off each would be a
 * syscall and a TCP segment of its own.
 */
function autoCork(socket: net.Socket): net.Socket {
  let corked = false;
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  }) as typeof socket.write;
  return socket;
}

export class EmailChannel implements Channel<EmailMessage> {
  readonly name = 'email' as const;
  readonly live = true;
  private readonly transporter: Transporter<SMTPPool.SentMessageInfo>;

  constructor(
    private readonly config: SmtpConfig,
    private readonly options: { from: string; sendTimeoutMs: number },
  ) {
    const url = new URL(config.url);
    const secure = url.protocol === 'smtps:';
    this.transporter = nodemailer.createTransport({
      pool: true,
      host: url.hostname,
      port: Number(url.port || (secure ? 465 : 25)),
      secure,
      auth: config.user ? { user: config.user, pass: config.password ?? '' } : undefined,
      maxConnections: config.poolConnections,
      maxMessages: Infinity,
      maxRequeues: 0,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: options.sendTimeoutMs,
      // Our own socket, with Nagle's algorithm off: nodemailer writes a message's last bytes
      // (".\r\n") as a small segment of their own, which Nagle holds back until the server's
      // delayed ACK (~40 ms), capping each pooled connection at ~20 mails/s (measured into Mailpit:
      // 5 connections 98 mails/s with it, see README). nodemailer upgrades it to TLS for smtps://.
      getSocket: (_options: unknown, callback: (error: Error | null, socket?: { connection: net.Socket }) => void) => {
        const socket = net.connect({ host: url.hostname, port: Number(url.port || (secure ? 465 : 25)), noDelay: true });
        const onError = (error: Error) => {
          socket.destroy();
          callback(error);
        };
        socket.setTimeout(10_000, () => onError(Object.assign(new Error('SMTP connection timed out'), { code: 'ETIMEDOUT', syscall: 'connect' })));
        socket.once('error', onError);
        socket.once('connect', () => {
          socket.off('error', onError);
          socket.setTimeout(0);
          callback(null, { connection: autoCork(socket) });
        });
      },
    } as SMTPPool.Options);
  }

  async start(): Promise<void> {
    // No verify(): the SMTP server being down at start-up is a retriable delivery problem, not a
    // reason to refuse to start (the other channels and the ledger still work).
  }

  async send(message: EmailMessage): Promise<SendOutcome> {
    try {
      const info = await this.transporter.sendMail({
        from: this.options.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        messageId: message.messageId,
        headers: { ...message.headers },
      });
      if (info.rejected.length > 0) return { kind: 'rejected', reason: `SMTP refused ${info.rejected.length} recipient(s): ${info.response}` };
      // "250 2.0.0 Ok: queued as <id>" (Postfix, Mailpit): the queue id when there is one.
      const queued = /queued as\s+(\S+)/i.exec(info.response)?.[1];
      return { kind: 'sent', providerId: queued ?? info.messageId };
    } catch (error) {
      return outcomeForSmtpError(error);
    }
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
}
