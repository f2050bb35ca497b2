/**
 * The rules table (rules.yaml): loading, checking, and matching a change against it. Pure: no I/O
 * besides reading the file once at start-up.
 *
 * `matchRules(event)` answers which rules a change triggers:
 * - only INSERTs (`create`) and UPDATEs (`update`) of the rule's table; snapshot rows (`read`),
 *   deletes, tombstones and TRUNCATEs never notify;
 * - a `becomes` rule needs the column to change to the value (an update that leaves it alone does
 *   not notify); a `falls_to` rule needs the crossing from above the threshold to at or below it;
 * - a change that sets a `known_values` column to a value outside its list throws PermanentError
 *   (bad input: the runner dead-letters it with that reason).
 * Unchanged-TOAST columns (absent from `after`) are filled from `before` (REPLICA IDENTITY FULL)
 * before anything looks at the row.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Row, RowChangeEvent, Value } from '../core/change-event.js';
import { PermanentError } from '../core/errors.js';
import { CHANNEL_NAMES, type ChannelName } from './channels/channel.js';

export type Trigger =
  | { readonly kind: 'create' }
  | { readonly kind: 'becomes'; readonly column: string; readonly value: string }
  | { readonly kind: 'falls-to'; readonly column: string; readonly threshold: string };

export type Recipient =
  | { readonly kind: 'customer'; readonly column: string }
  | { readonly kind: 'row' }
  | { readonly kind: 'operations' };

export interface Rule {
  readonly name: string;
  readonly table: string;
  readonly on: Trigger;
  readonly template: string;
  readonly channels: readonly ChannelName[];
  readonly recipient: Recipient;
}

export interface RuleTable {
  readonly rules: readonly Rule[];
  /** "table.column" -> allowed values. */
  readonly knownValues: ReadonlyMap<string, ReadonlySet<string>>;
}

/** A rule a change triggered, with the row as it is after the change. */
export interface RuleMatch {
  readonly rule: Rule;
  readonly row: Row;
  readonly before: Row | null;
}

class RuleError extends Error {
  override readonly name = 'RuleError';
}

const NAME = /^[a-z][a-z0-9-]*$/;
const COLUMN = /^[a-z_][a-z0-9_]*$/;

export function loadRuleTable(file: string): RuleTable {
  let parsed: unknown;
  try {
    parsed = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new RuleError(`${file}: cannot be read as YAML: ${(error as Error).message}`);
  }
  return parseRuleTable(parsed, file);
}

/** Checks the parsed YAML and turns it into rules; throws RuleError naming the entry. */
export function parseRuleTable(parsed: unknown, source = 'rules'): RuleTable {
  if (!isObject(parsed)) throw new RuleError(`${source}: expected a mapping with "rules"`);
  const knownValues = new Map<string, ReadonlySet<string>>();
  const known = parsed.known_values ?? {};
  if (!isObject(known)) throw new RuleError(`${source}: known_values must be a mapping of "table.column" to a list`);
  for (const [at, values] of Object.entries(known)) {
    if (!/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/.test(at) || !Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string')) {
      throw new RuleError(`${source}: known_values.${at} must be "table.column" with a non-empty list of strings`);
    }
    knownValues.set(at, new Set(values as string[]));
  }
  if (!Array.isArray(parsed.rules) || parsed.rules.length === 0) throw new RuleError(`${source}: "rules" must be a non-empty list`);
  const names = new Set<string>();
  const rules = parsed.rules.map((entry, index) => {
    const rule = parseRule(entry, `${source}: rules[${index}]`);
    if (names.has(rule.name)) throw new RuleError(`${source}: rule name "${rule.name}" is used twice`);
    names.add(rule.name);
    return rule;
  });
  return Object.freeze({ rules: Object.freeze(rules), knownValues });
}

function parseRule(entry: unknown, where: string): Rule {
  if (!isObject(entry)) throw new RuleError(`${where}: expected a mapping`);
  const name = entry.name;
  if (typeof name !== 'string' || !NAME.test(name)) throw new RuleError(`${where}: name must be kebab-case (a-z, 0-9, -)`);
  const at = `${where} (${name})`;
  const table = entry.table;
  if (typeof table !== 'string' || !COLUMN.test(table)) throw new RuleError(`${at}: table must be a table name`);
  const template = entry.template;
  if (typeof template !== 'string' || !NAME.test(template)) throw new RuleError(`${at}: template must be a template folder name`);
  const channels = entry.channels;
  if (!Array.isArray(channels) || channels.length === 0 || !channels.every((c) => (CHANNEL_NAMES as readonly unknown[]).includes(c)) || new Set(channels).size !== channels.length) {
    throw new RuleError(`${at}: channels must be a list of distinct ${CHANNEL_NAMES.join(' / ')}`);
  }
  const on = parseTrigger(entry.on, at);
  const recipient = parseRecipient(entry.recipient, at);
  if (recipient.kind === 'operations' && channels.some((c) => c !== 'email')) throw new RuleError(`${at}: the operations recipient has an email address only`);
  return Object.freeze({ name, table, on, template, channels: Object.freeze([...channels] as ChannelName[]), recipient });
}

function parseTrigger(on: unknown, at: string): Trigger {
  if (on === 'create') return { kind: 'create' };
  if (isObject(on) && typeof on.column === 'string' && COLUMN.test(on.column)) {
    if (typeof on.becomes === 'string' && on.falls_to === undefined) return { kind: 'becomes', column: on.column, value: on.becomes };
    if (typeof on.falls_to === 'string' && COLUMN.test(on.falls_to) && on.becomes === undefined) return { kind: 'falls-to', column: on.column, threshold: on.falls_to };
  }
  throw new RuleError(`${at}: on must be "create", { column, becomes } or { column, falls_to }`);
}

function parseRecipient(recipient: unknown, at: string): Recipient {
  if (recipient === 'row') return { kind: 'row' };
  if (recipient === 'operations') return { kind: 'operations' };
  if (isObject(recipient) && typeof recipient.customer === 'string' && COLUMN.test(recipient.customer)) return { kind: 'customer', column: recipient.customer };
  throw new RuleError(`${at}: recipient must be { customer: <column> }, row or operations`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `after` with unchanged-TOAST columns taken from `before` (REPLICA IDENTITY FULL has them). */
export function currentRow(event: RowChangeEvent): Row | null {
  if (!event.after) return null;
  if (event.unavailableColumns.length === 0 || !event.before) return event.after;
  const filled: Row = { ...event.after };
  for (const column of event.unavailableColumns) {
    if (column in event.before && !(column in filled)) filled[column] = event.before[column]!;
  }
  return filled;
}

/** Rules this change triggers, in table order. Throws PermanentError for an unknown value. */
export function matchRules(table: RuleTable, event: RowChangeEvent): RuleMatch[] {
  if (event.op !== 'create' && event.op !== 'update') return [];
  const row = currentRow(event);
  if (!row) return [];
  checkKnownValues(table, event, row);
  const matches: RuleMatch[] = [];
  for (const rule of table.rules) {
    if (rule.table !== event.table || !triggers(rule.on, event, row)) continue;
    matches.push({ rule, row, before: event.before });
  }
  return matches;
}

function triggers(on: Trigger, event: RowChangeEvent, row: Row): boolean {
  switch (on.kind) {
    case 'create':
      return event.op === 'create';
    case 'becomes':
      return event.op === 'update' && row[on.column] === on.value && event.before?.[on.column] !== on.value;
    case 'falls-to': {
      if (event.op !== 'update' || !event.before) return false;
      const isLow = (r: Row) => {
        const value = toNumber(r[on.column]);
        const threshold = toNumber(r[on.threshold]);
        return value !== null && threshold !== null && value <= threshold;
      };
      const known = (r: Row) => toNumber(r[on.column]) !== null && toNumber(r[on.threshold]) !== null;
      return known(event.before) && !isLow(event.before) && isLow(row);
    }
  }
}

function toNumber(value: Value | undefined): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return null;
}

function checkKnownValues(table: RuleTable, event: RowChangeEvent, row: Row): void {
  for (const [at, allowed] of table.knownValues) {
    const [tableName, column] = at.split('.') as [string, string];
    if (tableName !== event.table || !(column in row)) continue;
    const value = row[column];
    const changed = event.op === 'create' || event.before?.[column] !== value;
    if (changed && (typeof value !== 'string' || !allowed.has(value))) {
      throw new PermanentError(`unknown ${at} ${JSON.stringify(value)}: expected one of ${[...allowed].join(', ')} (known_values in the rules table)`);
    }
  }
}
