/**
 * Creates the indexes and aliases at start-up, idempotently (several instances may start at
 * once; a restart finds everything in place):
 * 1. create the versioned index from its checked-in body unless it exists; if it exists, put the
 *    mapping again so that ADDED fields reach an existing index (Elasticsearch applies additive
 *    changes in place and refuses conflicting ones: those need a new index version);
 * 2. point the table alias at it, with the filter that hides soft-deleted rows, unless the alias
 *    already points at another index (a newer or older version during a rollout): then it is left
 *    alone and a warning says how to swap it.
 * Throws PermanentError for what an operator must fix (a conflicting mapping, a concrete index
 * that has the alias's name), RetriableError-classified client errors otherwise.
 */
import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import { PermanentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { LIVE_DOCUMENTS_FILTER, type ResolvedIndex } from './index-catalog.js';

export async function ensureIndexes(client: Client, indexes: Iterable<ResolvedIndex>, logger: Logger): Promise<void> {
  for (const index of indexes) {
    await ensureIndex(client, index, logger);
    await ensureAlias(client, index, logger);
  }
}

async function ensureIndex(client: Client, index: ResolvedIndex, logger: Logger): Promise<void> {
  try {
    await client.indices.create({ index: index.indexName, settings: index.body.settings, mappings: index.body.mappings });
    logger.info({ index: index.indexName }, 'created search index');
    return;
  } catch (error) {
    if (errorType(error) !== 'resource_already_exists_exception') throw error;
  }
  try {
    await client.indices.putMapping({ index: index.indexName, ...index.body.mappings });
  } catch (error) {
    if (error instanceof errors.ResponseError && error.statusCode === 400) {
      throw new PermanentError(
        `index ${index.indexName} exists with a mapping that conflicts with mappings/${index.index}.json ` +
          `(${errorReason(error)}): add a new version of the mapping instead of changing this one`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function ensureAlias(client: Client, index: ResolvedIndex, logger: Logger): Promise<void> {
  const current = await aliasTargets(client, index.aliasName);
  const others = current.filter((name) => name !== index.indexName);
  if (others.length > 0) {
    logger.warn(
      { alias: index.aliasName, pointsTo: others, writingTo: index.indexName },
      `alias ${index.aliasName} points at another index version; once ${index.indexName} has caught up, swap it with POST /_aliases ` +
        `(remove ${others.join(', ')}, add ${index.indexName} with the same filter)`,
    );
    return;
  }
  try {
    // Re-putting the alias on our index is idempotent and refreshes its filter.
    await client.indices.putAlias({ index: index.indexName, name: index.aliasName, filter: LIVE_DOCUMENTS_FILTER });
  } catch (error) {
    if (errorType(error) === 'invalid_alias_name_exception') {
      throw new PermanentError(
        `cannot create alias ${index.aliasName}: a concrete index with that name exists (made by an older consumer or by ` +
          `auto-creation?). Reindex what you need from it and delete it, then start again`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Indexes the alias points at; [] when it does not exist. */
async function aliasTargets(client: Client, alias: string): Promise<string[]> {
  try {
    return Object.keys(await client.indices.getAlias({ name: alias }));
  } catch (error) {
    if (error instanceof errors.ResponseError && error.statusCode === 404) return [];
    throw error;
  }
}

function errorType(error: unknown): string | undefined {
  return error instanceof errors.ResponseError ? (error.body as { error?: { type?: string } } | undefined)?.error?.type : undefined;
}

function errorReason(error: errors.ResponseError): string {
  return (error.body as { error?: { reason?: string } } | undefined)?.error?.reason ?? error.message;
}
