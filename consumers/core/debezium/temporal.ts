/**
 * Debezium's temporal encodings to ISO-8601 strings, exactly (integer inputs are handled as
 * BigInt, so nothing is rounded through a double).
 *
 * - Timestamps without zone (`timestamp`): `io.debezium.time.Timestamp` (epoch millis),
 *   `MicroTimestamp` (epoch micros), `NanoTimestamp` (epoch nanos), Connect `Timestamp` (millis).
 *   Debezium encodes the wall-clock value as if it were UTC, so we write it with a `Z`:
 *   `timestamp '2026-11-24 09:15:38.123456'` -> "2026-11-24T09:15:38.123456Z". A sink that needs
 *   the naive wall-clock drops the `Z`.
 * - Timestamps with zone (`timestamptz`): `io.debezium.time.ZonedTimestamp`, already an ISO
 *   string in UTC; normalised to the same shape (UTC `Z`, at least 6 fraction digits).
 * - Output always has 6 fraction digits (9 when a nanosecond value has sub-microsecond digits),
 *   so strings of one column sort and compare consistently.
 * - PostgreSQL `infinity` / `-infinity`: Debezium sends them as epoch values far beyond any
 *   calendar (and as the strings "infinity"/"-infinity" for ZonedTimestamp); they become the
 *   strings "infinity" / "-infinity".
 * - `date` -> "YYYY-MM-DD" (`io.debezium.time.Date` / Connect `Date`: days since epoch).
 * - `time` -> "HH:MM:SS.ffffff" (`Time` millis, `MicroTime` micros, `NanoTime` nanos of the day).
 */

/** JS Date's range is ±8.64e15 ms around the epoch (year ±275760). */
const MAX_EPOCH_SECONDS = 8_640_000_000_000n;

/** Divides rounding toward negative infinity, so pre-1970 instants keep a positive fraction. */
function floorDivMod(value: bigint, divisor: bigint): [bigint, bigint] {
  const remainder = ((value % divisor) + divisor) % divisor;
  return [(value - remainder) / divisor, remainder];
}

/** A sub-second part as 6 digits, or 9 when it has sub-microsecond digits. */
function fractionDigits(fraction: bigint, digits: number): string {
  const text = fraction.toString().padStart(digits, '0').padEnd(6, '0');
  return text.length === 9 && text.endsWith('000') ? text.slice(0, 6) : text;
}

/** Whole seconds since the epoch plus the already formatted fraction digits → ISO string in UTC. */
function isoFromSeconds(seconds: bigint, fraction: string): string {
  if (seconds > MAX_EPOCH_SECONDS) return 'infinity';
  if (seconds < -MAX_EPOCH_SECONDS) return '-infinity';
  const whole = new Date(Number(seconds) * 1000).toISOString(); // "...T09:15:38.000Z"
  return `${whole.slice(0, whole.length - 5)}.${fraction}Z`;
}

/** Epoch units per second → ISO string; `unitsPerSecond` is 10^3, 10^6 or 10^9. */
function isoFromEpoch(value: bigint, unitsPerSecond: bigint, digits: number): string {
  const [seconds, fraction] = floorDivMod(value, unitsPerSecond);
  return isoFromSeconds(seconds, fractionDigits(fraction, digits));
}

export const isoFromEpochMillis = (millis: bigint): string => isoFromEpoch(millis, 1_000n, 3);
export const isoFromEpochMicros = (micros: bigint): string => isoFromEpoch(micros, 1_000_000n, 6);
export const isoFromEpochNanos = (nanos: bigint): string => isoFromEpoch(nanos, 1_000_000_000n, 9);

/**
 * Normalises an ISO timestamp with an offset (`ZonedTimestamp`) to UTC with a `Z` and at least
 * six fraction digits, keeping every digit it had. Debezium always sends UTC, but an offset is
 * handled too. "infinity" / "-infinity" pass through.
 */
export function normaliseZonedTimestamp(text: string): string {
  if (text === 'infinity' || text === '-infinity' || isNormalisedUtc(text)) return text;
  const match = /^([+-]?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d(?::\d\d)?)$/.exec(text);
  if (!match) throw new Error(`ZonedTimestamp is not an ISO-8601 timestamp with offset: ${JSON.stringify(text)}`);
  const [, wallClock = '', fraction = '', offset = 'Z'] = match;
  const millis = Date.parse(`${wallClock}${offset === 'Z' ? 'Z' : offset.slice(0, 6)}`);
  if (Number.isNaN(millis)) throw new Error(`ZonedTimestamp is not a valid instant: ${JSON.stringify(text)}`);
  // Seconds in an offset ("+05:30:15") are rare but legal in java.time; Date.parse ignores them.
  const offsetSeconds = offset.length === 9 ? Number(offset.slice(7)) * (offset.startsWith('-') ? -1 : 1) : 0;
  return isoFromSeconds(BigInt(millis / 1000 - offsetSeconds), fraction.padEnd(6, '0'));
}

const NORMALISED_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6,9}Z$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Already what `normaliseZonedTimestamp` makes of it (Debezium's usual output, e.g.
 * "2026-11-24T09:15:38.123456Z"): UTC, 6 to 9 fraction digits, and a real calendar instant, which
 * Date writes back unchanged (years 0000-9999 keep four digits). Anything else, including leap
 * seconds or 24:00:00, takes the full path.
 */
function isNormalisedUtc(text: string): boolean {
  if (!NORMALISED_UTC.test(text)) return false;
  const year = twoDigits(text, 0) * 100 + twoDigits(text, 2);
  const [month, day, hour, minute, second] = [twoDigits(text, 5), twoDigits(text, 8), twoDigits(text, 11), twoDigits(text, 14), twoDigits(text, 17)];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  return days !== undefined && day >= 1 && day <= days && hour <= 23 && minute <= 59 && second <= 59;
}

/** The number written by the two ASCII digits at `at` (checked by the caller's regex). */
function twoDigits(text: string, at: number): number {
  return (text.charCodeAt(at) - 0x30) * 10 + text.charCodeAt(at + 1) - 0x30;
}

/** Days since the epoch → "YYYY-MM-DD". */
export function dateFromEpochDays(days: bigint): string {
  const iso = isoFromSeconds(days * 86_400n, '000000');
  return iso.includes('T') ? iso.slice(0, iso.indexOf('T')) : iso;
}

/** Time of day in units (millis, micros or nanos since midnight) → "HH:MM:SS.ffffff". */
function timeOfDay(value: bigint, unitsPerSecond: bigint, digits: number): string {
  // PostgreSQL allows 24:00:00, so no wrap-around at midnight.
  if (value < 0n) throw new Error(`time of day is negative: ${value}`);
  const [seconds, fraction] = floorDivMod(value, unitsPerSecond);
  const two = (n: bigint): string => n.toString().padStart(2, '0');
  return `${two(seconds / 3600n)}:${two((seconds / 60n) % 60n)}:${two(seconds % 60n)}.${fractionDigits(fraction, digits)}`;
}

export const timeFromMillis = (millis: bigint): string => timeOfDay(millis, 1_000n, 3);
export const timeFromMicros = (micros: bigint): string => timeOfDay(micros, 1_000_000n, 6);
export const timeFromNanos = (nanos: bigint): string => timeOfDay(nanos, 1_000_000_000n, 9);
