/**
 * The exact comparison `verify` makes between a source row and a sink row, both in the
 * ChangeEvent convention. Nothing is coerced: "25000.00" and "25000.0" differ (scale is part of a
 * NUMERIC value), "9007199254740993" and 9007199254740992 differ, ".123456Z" and ".123000Z"
 * differ. Objects (jsonb) are equal when they hold the same keys with equal values, whatever the
 * key order; arrays are equal element by element, in order.
 */
import type { Row, Value } from '../../consumers/core/change-event.js';

/** Deep, exact equality of two contract values (see the module comment). */
export function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (typeof a !== typeof b) return false;
  if (typeof a === 'number') return Number.isNaN(a) && Number.isNaN(b as number);
  if (typeof a !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => sameValue(item, b[i]));
  }
  const bObject = b as Record<string, Value>;
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(bObject).length) return false;
  return aKeys.every((key) => Object.hasOwn(bObject, key) && sameValue(a[key], bObject[key]));
}

export interface FieldDifference {
  readonly field: string;
  /** undefined: the column is absent on that side. */
  readonly source: Value | undefined;
  readonly sink: Value | undefined;
}

/**
 * The columns whose values differ, in the source's column order, then columns only the sink has.
 * A column absent from the sink row counts as a difference (the sink lost it), even if the source
 * value is null.
 */
export function rowDifferences(source: Row, sink: Row): FieldDifference[] {
  const differences: FieldDifference[] = [];
  for (const field of Object.keys(source)) {
    const sinkValue = Object.hasOwn(sink, field) ? sink[field] : undefined;
    if (!sameValue(source[field], sinkValue)) differences.push({ field, source: source[field], sink: sinkValue });
  }
  for (const field of Object.keys(sink)) {
    if (!Object.hasOwn(source, field)) differences.push({ field, source: undefined, sink: sink[field] });
  }
  return differences;
}
