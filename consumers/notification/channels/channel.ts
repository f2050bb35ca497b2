/**
 * The one small interface every delivery channel implements (email, SMS, push).
 *
 * Contract:
 * - `send(message)` makes ONE provider call and never throws: it says what became of the message.
 *   It never retries by itself (the sink owns retries, with a per-channel backoff and the ledger),
 *   and the libraries' own automatic retries are switched off where they would resend a message
 *   the provider may already hold.
 * - The outcome kinds decide what the ledger records:
 *   `sent`      the provider accepted it (with its id)                      -> sent
 *   `rejected`  it never will (invalid number 21211, unsubscribed 21610,    -> failed, never retried
 *               unregistered push token, mailbox refused with 5xx)
 *   `not-sent`  a transient failure the provider certainly did not accept   -> retried with backoff
 *               (refused connection, 429, 503, SMTP 4xx such as 451)
 *   `unknown`   the request went out and no answer came back (timeout,      -> in doubt: the channel's
 *               connection dropped after the data)                            in-doubt policy decides
 * - `live` is false when the channel has no credentials: its messages go to the dev outbox.
 */
export type ChannelName = 'email' | 'sms' | 'push';
export const CHANNEL_NAMES: readonly ChannelName[] = Object.freeze(['email', 'sms', 'push']);

export interface EmailMessage {
  readonly channel: 'email';
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** Stable per delivery (derived from the ledger key): a resend carries the same one. */
  readonly messageId: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface SmsMessage {
  readonly channel: 'sms';
  /** E.164 */
  readonly to: string;
  readonly body: string;
}

export interface PushMessage {
  readonly channel: 'push';
  /** FCM registration token */
  readonly token: string;
  readonly title: string;
  readonly body: string;
  /** Same for every push about one row: a newer one replaces an older one still queued, a resend collapses into the original. */
  readonly collapseKey: string;
  /** Delivered to the app; `notificationId` (the ledger key) lets it drop a duplicate. */
  readonly data: Readonly<Record<string, string>>;
}

export type OutgoingMessage = EmailMessage | SmsMessage | PushMessage;

export type SendOutcome =
  | { readonly kind: 'sent'; readonly providerId: string }
  | { readonly kind: 'rejected'; readonly reason: string }
  | { readonly kind: 'not-sent'; readonly reason: string }
  | { readonly kind: 'unknown'; readonly reason: string };

export interface Channel<M extends OutgoingMessage = OutgoingMessage> {
  readonly name: ChannelName;
  /** False: no provider credentials, nothing is sent (dev outbox). */
  readonly live: boolean;
  start(): Promise<void>;
  send(message: M): Promise<SendOutcome>;
  close(): Promise<void>;
}

/** One line for a ledger reason or a log: "code 21211: The 'To' number is not valid". */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code !== undefined && code !== null && !error.message.includes(String(code)) ? `${String(code)}: ${error.message}` : error.message;
  }
  return String(error);
}
