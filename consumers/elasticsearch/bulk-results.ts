/**
 * What each bulk item's status means for the event it belongs to (the sink's retry/dead-letter
 * decision; the runner acts on it):
 * - 2xx: written.
 * - 409 version conflict: the index already holds this version or a newer one, so the event is
 *   stale or a replay: `stale` (settled, nothing to do, counted by the runner).
 * - 408, 429 (queue full, circuit breaker), 5xx, and 404 (index gone): `retry`, the same event
 *   later.
 * - other 4xx (mapping or parse errors, invalid values): `failed`, the runner dead-letters the
 *   original message with the reason.
 * A whole request that fails (connection refused, timeout, 5xx) is `retry` for all its events;
 * 401/403 too, since an operator fixes credentials and no event should be dead-lettered for it.
 */
import { errors } from '@elastic/elasticsearch';
import { PermanentError, RetriableError, classifyError, describeError, toError } from '../core/errors.js';
import { failed, ok, retry, stale, type WriteResult } from '../core/sink.js';

/** A bulk response item as requested with filter_path (status and error only). */
export interface BulkItem {
  readonly status: number;
  readonly error?: { readonly type?: string; readonly reason?: string | null; readonly caused_by?: { readonly type?: string; readonly reason?: string | null } };
}

export function resultForBulkItem(item: BulkItem): WriteResult {
  const { status } = item;
  if (status >= 200 && status < 300) return ok;
  if (status === 409) return stale;
  const message = `Elasticsearch refused the document (HTTP ${status}): ${describeItemError(item)}`;
  if (status === 404 || status === 408 || status === 429 || status >= 500) return retry(new RetriableError(message));
  return failed(new PermanentError(message));
}

function describeItemError(item: BulkItem): string {
  const error = item.error;
  if (!error) return 'no error details';
  const cause = error.caused_by ? ` (caused by ${error.caused_by.type ?? 'unknown'}: ${error.caused_by.reason ?? ''})` : '';
  return `${error.type ?? 'unknown'}: ${error.reason ?? ''}${cause}`;
}

/** The result for every event of a request that failed as a whole. */
export function resultForRequestError(thrown: unknown): WriteResult {
  const error = toError(thrown);
  const status = error instanceof errors.ResponseError ? error.statusCode ?? null : null;
  const message = `bulk request failed: ${describeError(error)}`;
  if (status === 401 || status === 403) return retry(new RetriableError(message, { cause: error }));
  return classifyError(error) === 'permanent' ? failed(new PermanentError(message, { cause: error })) : retry(new RetriableError(message, { cause: error }));
}

const SEVERITY = { ok: 0, failed: 1, retry: 2 } as const;

/**
 * For an event written by several operations: retry beats failed beats ok; two oks are `stale`
 * only if both were refused (one applied write means the event took effect).
 */
export function worstOf(a: WriteResult, b: WriteResult): WriteResult {
  if (a.status === 'ok' && b.status === 'ok') return a.stale && b.stale ? a : a.stale ? b : a;
  return SEVERITY[b.status] > SEVERITY[a.status] ? b : a;
}
