/**
 * Bulk request bodies: one operation per document write, serialized once, then split into
 * requests by document count and by bytes.
 *
 * The action line is written by hand rather than by JSON.stringify of an object so that the
 * external version (an LSN that may exceed 2^53) goes out as exact digits.
 */

/** `{"index":{"_index":"<index>","_id":` by index name: built once per index, not per document. */
const actionPrefixes = new Map<string, string>();
function actionPrefix(index: string): string {
  let prefix = actionPrefixes.get(index);
  if (prefix === undefined) {
    prefix = `{"index":{"_index":${JSON.stringify(index)},"_id":`;
    if (actionPrefixes.size < 1000) actionPrefixes.set(index, prefix);
  }
  return prefix;
}

/** One document write, ready to send. `owner` is the position of the event it belongs to. */
export interface BulkOperation {
  readonly owner: number;
  /** Action line and source line, each ending with "\n". */
  readonly ndjson: string;
  readonly bytes: number;
}

/**
 * `index` with `version_type: external`: Elasticsearch stores the document only if `version` is
 * greater than the stored one (409 otherwise), so the newest LSN always wins.
 */
export function externalIndexOperation(owner: number, index: string, id: string, version: string, document: unknown): BulkOperation {
  if (!/^\d+$/.test(version)) throw new Error(`external version must be digits, got ${JSON.stringify(version)}`);
  const action = `${actionPrefix(index)}${JSON.stringify(id)},"version":${version},"version_type":"external"}}`;
  const ndjson = `${action}\n${JSON.stringify(document)}\n`;
  return { owner, ndjson, bytes: Buffer.byteLength(ndjson, 'utf8') };
}

export interface BulkLimits {
  /** Most operations (documents) in one request. */
  readonly maxDocs: number;
  /** Most body bytes in one request; a single larger operation still goes, alone. */
  readonly maxBytes: number;
}

/** Splits operations, in order, into consecutive requests within the limits. */
export function splitIntoBulks<T extends { readonly bytes: number }>(operations: readonly T[], limits: BulkLimits): T[][] {
  const bulks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const operation of operations) {
    if (current.length > 0 && (current.length >= limits.maxDocs || bytes + operation.bytes > limits.maxBytes)) {
      bulks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(operation);
    bytes += operation.bytes;
  }
  if (current.length > 0) bulks.push(current);
  return bulks;
}
