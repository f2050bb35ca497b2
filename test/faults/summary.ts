/**
 * The fault suite's result table: printed at the end of a run and written to
 * test-results/faults/summary.md and summary.json (the README's "Fault suite" section quotes it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ScenarioRow {
  readonly id: string;
  readonly scenario: string;
  /** Rows the load generator changed during the scenario (null: no load, or covered elsewhere). */
  changesMade: number | null;
  lost: number | null;
  duplicated: number | null;
  drift: number | null;
  /** Fault end -> verify clean, ms (null when it never got clean). */
  catchUpMs: number | null;
  verifyMs: number | null;
  passed: boolean | null;
  notes: string[];
  coveredBy?: string;
}

export interface SuiteSummary {
  readonly form: string;
  readonly run: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly ordersPerSecond: number;
  readonly rows: ScenarioRow[];
}

const count = (value: number | null) => (value === null ? '–' : value.toLocaleString('en-US'));
const seconds = (ms: number | null) => (ms === null ? '–' : `${(ms / 1000).toFixed(1)} s`);

export function renderTable(summary: SuiteSummary): string {
  const lines = [
    `Fault suite, ${summary.form} form, run ${summary.run} (${summary.startedAt} – ${summary.finishedAt}), load ${summary.ordersPerSecond} orders/s (~${summary.ordersPerSecond * 10} row changes/s)`,
    '',
    '| scenario | changes made | lost | duplicated | drift | time to catch up | result | notes |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of summary.rows) {
    const result = row.coveredBy ? `covered by ${row.coveredBy}` : row.passed === null ? 'not run' : row.passed ? 'pass' : '**FAIL**';
    const notes = row.notes.join('; ').replace(/\|/g, '\\|');
    lines.push(`| ${row.scenario} | ${count(row.changesMade)} | ${count(row.lost)} | ${count(row.duplicated)} | ${count(row.drift)} | ${seconds(row.catchUpMs)} | ${result} | ${notes} |`);
  }
  return lines.join('\n');
}

/** Writes summary.md and summary.json into `dir`; returns the table. */
export function writeSummary(dir: string, summary: SuiteSummary): string {
  mkdirSync(dir, { recursive: true });
  const table = renderTable(summary);
  writeFileSync(join(dir, 'summary.md'), `${table}\n`);
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return table;
}
