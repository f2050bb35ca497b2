/**
 * Each consumer of the list with its configuration read exactly as the consumer reads it
 * (consumers/core/config.ts, from the same environment and `.env`): its group, topics,
 * dead-letter topic and health port. The operator tools never guess these.
 */
import { loadConfig, loadDotenv, type ConsumerConfig } from '../../consumers/core/config.js';
import { CONSUMERS, consumerEntry, type ConsumerEntry } from './consumer-list.js';

export interface ConsumerTarget {
  readonly entry: ConsumerEntry;
  readonly config: ConsumerConfig;
  /** e.g. http://127.0.0.1:9102 (the consumer's /live, /ready, /metrics). */
  readonly healthUrl: string;
}

export function consumerTarget(entry: ConsumerEntry, env: NodeJS.ProcessEnv = process.env): ConsumerTarget {
  const config = loadConfig(entry.name, env, { healthPort: entry.healthPort });
  return { entry, config, healthUrl: `http://127.0.0.1:${config.healthPort}` };
}

/** All consumers of the list (or the ones named), configured from `env`. */
export function consumerTargets(env: NodeJS.ProcessEnv = process.env, names?: readonly string[]): ConsumerTarget[] {
  const entries = names ? names.map(consumerEntry) : CONSUMERS;
  return entries.map((entry) => consumerTarget(entry, env));
}

/** Loads `.env` like the consumers do (the real environment wins), then returns process.env. */
export function operatorEnv(): NodeJS.ProcessEnv {
  loadDotenv();
  return process.env;
}

