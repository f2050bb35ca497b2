/**
 * Structured logging with pino: JSON lines when stdout is not a terminal (containers, CI, log
 * shippers), pino-pretty when it is. Every line carries `consumer`; runner child loggers add
 * `topic`, `partition` and `offset`.
 *
 * Customer data never reaches a log line in clear:
 * - known personal fields (email, phone, push tokens...) are censored by pino `redact` wherever
 *   they sit up to four levels deep (`after.email`, `event.before.phone`, ...);
 * - inside any string (messages, error texts, other fields) email addresses, phone numbers and
 *   push tokens are masked by pattern, at any depth.
 * Nor do credentials: the password of any URL in a string is masked (mask-credentials.ts).
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';
import { maskUrlCredentials } from './mask-credentials.js';

export type { Logger };

/** Column/field names whose values are personal data in this shop's schema and the sinks. */
export const SENSITIVE_FIELDS = ['email', 'phone', 'phone_number', 'mobile', 'push_token', 'device_token', 'fcm_token'] as const;

/** pino redact paths: each sensitive field at the top level and up to three objects deep. */
export const REDACT_PATHS: readonly string[] = SENSITIVE_FIELDS.flatMap((field) => [
  field,
  `*.${field}`,
  `*.*.${field}`,
  `*.*.*.${field}`,
]);

export const REDACTED = '[redacted]';

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/**
 * Phone numbers: international (+ and 8-15 digits with separators) or the 3-3-4 national form
 * with separators. Bare digit runs are NOT masked on purpose: LSNs, offsets and ids are digits.
 */
const PHONE = /\+\d[\d\s().-]{6,18}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b/g;
/** Firebase (FCM) registration tokens and Expo push tokens. */
const PUSH_TOKEN = /\b[A-Za-z0-9_-]{8,}:APA91b[A-Za-z0-9_-]{20,}|ExponentPushToken\[[^\]]+\]/g;

/** Masks email addresses, phone numbers and push tokens inside free text. */
export function maskPii(text: string): string {
  return text
    .replace(PUSH_TOKEN, '[redacted-push-token]')
    .replace(EMAIL, '[redacted-email]')
    .replace(PHONE, '[redacted-phone]');
}

/** What every string in a log line goes through: URL passwords, then personal data. */
function maskText(text: string): string {
  return maskPii(maskUrlCredentials(text));
}

const MAX_DEPTH = 8;

/** Copies `value` with every string masked; errors become pino's serialized form first. */
function maskDeep(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return maskText(value);
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (value instanceof Error) return maskDeep(pino.stdSerializers.err(value), depth + 1);
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  if (Array.isArray(value)) return value.map((item) => maskDeep(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) copy[key] = maskDeep(inner, depth + 1);
  return copy;
}

export interface LoggerOptions {
  consumer: string;
  level?: LogLevel;
  /** Where lines go; default stdout (pretty when it is a TTY). Tests pass a stream. */
  destination?: DestinationStream;
  /** Force or forbid pretty output; default: stdout is a TTY and no destination was given. */
  pretty?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const usePretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const destination =
    options.destination ??
    (usePretty ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }) : pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      level: options.level ?? 'info',
      base: { consumer: options.consumer },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      // formatters.log already turned errors into masked plain objects; pino's default `err`
      // serializer would re-serialize those as type "Object", so only real errors go through it.
      serializers: { err: (value: unknown) => (value instanceof Error ? maskDeep(value, 0) : value) },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => maskDeep(object, 0) as Record<string, unknown>,
      },
      hooks: {
        // The message (and printf-style arguments) are masked like any other string.
        logMethod(args, method) {
          const masked = args.map((arg) => (typeof arg === 'string' ? maskText(arg) : arg)) as Parameters<typeof method>;
          method.apply(this, masked);
        },
      },
    },
    destination,
  );
}

/** The logger a runner uses for one Kafka position. */
export function positionLogger(logger: Logger, topic: string, partition: number, offset?: string): Logger {
  return logger.child(offset === undefined ? { topic, partition } : { topic, partition, offset });
}
