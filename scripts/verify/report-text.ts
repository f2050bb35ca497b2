/**
 * The human-readable drift report of `npm run verify`: the table of counts per sink and table,
 * then each drifting row (sink, table, key, field, source value, sink value), at most `maxItems`
 * of them with the count of the rest.
 */
import type { DriftItem, VerifyReport } from './verify.js';

/** A value as the report shows it: JSON (so "19.99" and 19.99 look different), shortened. */
export function shown(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function describe(item: DriftItem): string {
  const where = `${item.sink}  ${item.table}  key ${item.key}`;
  switch (item.kind) {
    case 'missing':
      return `${where}  MISSING${item.sinkValue === 'deleted' ? ' (the sink holds it as deleted)' : ''}: source row ${shown(item.source)}`;
    case 'extra':
      return `${where}  EXTRA (no such source row): sink row ${shown(item.sinkValue)}`;
    case 'duplicate':
      return `${where}  DUPLICATE in ${item.field}: expected ${shown(item.source)}, found ${shown(item.sinkValue)}`;
    case 'field':
      return `${where}  field ${item.field}: source ${shown(item.source)}, sink ${shown(item.sinkValue)}`;
  }
}

export function formatReport(report: VerifyReport, maxItems = 50): string {
  const lines: string[] = [];
  lines.push(`verify: snapshot at LSN ${report.snapshotLsnText ?? report.snapshotLsn} (${report.snapshotLsn}), took ${(report.tookMs / 1000).toFixed(1)} s` +
    (report.settledBy === 'timeout' ? ', differences re-checked until the settle timeout (no consumer progress from Kafka)' : ''));
  for (const { sink, reason } of report.skipped ?? []) lines.push(`skipped ${sink}: ${reason}`);
  lines.push('');
  const header = ['sink', 'table', 'rows', 'missing', 'extra', 'differing', 'duplicates'];
  const rows = report.summaries.map((s) => [s.sink, s.table, String(s.rows), String(s.missing), String(s.extra), String(s.differing), String(s.duplicates)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  lines.push(line(header));
  for (const row of rows) lines.push(line(row));
  lines.push('');
  if (report.ok) {
    lines.push(`OK: ${report.summaries.length === 0 ? 'nothing was verified' : 'every verified sink equals the source'}`);
  } else {
    lines.push(`DRIFT: ${report.drift.length} difference${report.drift.length === 1 ? '' : 's'}${report.drift.length > maxItems ? ` (first ${maxItems} shown)` : ''}`);
    for (const item of report.drift.slice(0, maxItems)) lines.push(`  ${describe(item)}`);
    if (report.drift.length > maxItems) lines.push(`  ... and ${report.drift.length - maxItems} more (--json lists them all)`);
  }
  return lines.join('\n');
}
