/**
 * The two kinds of failure every part of a consumer speaks in.
 *
 * - RetriableError: the same work may succeed later (engine down, timeout, 429, broker
 *   rebalancing). Whoever owns the work (the runner, for sink writes and dead-letter publishes)
 *   backs off and tries the same thing again; it is never skipped.
 * - PermanentError: the same input will fail the same way every time (undecodable bytes, a row
 *   the sink's mapping rejects). The runner dead-letters the original message and moves on.
 *
 * Both keep the underlying error as `cause`, so logs show the whole chain.
 */
import { maskUrlCredentials } from './mask-credentials.js';
import { failed, retry, type WriteResult } from './sink.js';

export class RetriableError extends Error {
  override readonly name: string = 'RetriableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export type ErrorKind = 'retriable' | 'permanent';

/** Network-level error codes from Node that always mean "try again later". */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH',
  'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Decides how to treat an error nobody labelled: our own kinds first (walking the `cause` chain),
 * then a `retriable` flag (kafkajs sets one), network error codes, and HTTP-like status codes
 * (408, 429 and 5xx retriable; other 4xx permanent). Anything unknown is RETRIABLE: retrying a
 * permanent problem costs time and shows up in the retry metric, while wrongly calling a
 * transient problem permanent would dead-letter good data.
 */
export function classifyError(error: unknown): ErrorKind {
  for (let current: unknown = error, depth = 0; current != null && depth < 10; depth++) {
    if (current instanceof PermanentError) return 'permanent';
    if (current instanceof RetriableError) return 'retriable';
    if (typeof current !== 'object') break;
    const candidate = current as { retriable?: unknown; code?: unknown; statusCode?: unknown; status?: unknown; cause?: unknown };
    if (candidate.retriable === true) return 'retriable';
    if (candidate.retriable === false) return 'permanent';
    if (typeof candidate.code === 'string' && TRANSIENT_CODES.has(candidate.code)) return 'retriable';
    const status = typeof candidate.statusCode === 'number' ? candidate.statusCode : typeof candidate.status === 'number' ? candidate.status : null;
    if (status !== null) {
      if (status === 408 || status === 429 || status >= 500) return 'retriable';
      if (status >= 400) return 'permanent';
    }
    current = candidate.cause;
  }
  return 'retriable';
}

/** Wraps anything thrown into an Error, keeping the original as `cause` when it was not one. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown), { cause: thrown });
}

/** "Name: message <- Cause: message ..." — one line for logs and dead-letter headers, URL passwords masked. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error, depth = 0; current != null && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(`${current.name}: ${current.message}`);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return maskUrlCredentials(parts.join(' <- '));
}

/**
 * The per-event result a sink returns for an error it caught: `failed` (dead-letter) when the
 * error is permanent, `retry` otherwise. See classifyError for the rules.
 */
export function resultForError(error: unknown): WriteResult {
  const asError = toError(error);
  return classifyError(error) === 'permanent' ? failed(asError) : retry(asError);
}
