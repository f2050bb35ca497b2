/**
 * NUMERIC values to exact decimal strings, for every Debezium `decimal.handling.mode`:
 * - precise, fixed scale: `org.apache.kafka.connect.data.Decimal`, the unscaled value as
 *   base64 big-endian two's-complement bytes, the scale in the schema's `parameters.scale`;
 * - precise, NUMERIC without a declared scale: `io.debezium.data.VariableScaleDecimal`,
 *   a struct `{ scale, value }` with `value` as above;
 * - string: already a decimal string (passed through by the caller);
 * - double: a JSON number; `decimalFromNumberText` writes it out without exponent. Double mode is
 *   lossy at the source (Debezium rounds to a double before we see it), so the project's
 *   connector uses `string`.
 * All functions throw a plain Error on malformed input.
 */

/** Decodes base64 two's-complement big-endian bytes into a BigInt (Java BigInteger.toByteArray). */
export function unscaledFromBase64(base64: string): bigint {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    throw new Error(`decimal bytes are not base64: ${JSON.stringify(base64.slice(0, 40))}`);
  }
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length === 0) return 0n;
  const unsigned = BigInt(`0x${bytes.toString('hex')}`);
  // Negative when the top bit of the first byte is set.
  return (bytes[0]! & 0x80) !== 0 ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
}

/** Writes unscaled × 10^-scale as a plain decimal string, keeping exactly `scale` fraction digits. */
export function formatDecimal(unscaled: bigint, scale: number): string {
  if (!Number.isInteger(scale)) throw new Error(`decimal scale is not an integer: ${scale}`);
  // PostgreSQL 15 allows a negative scale (NUMERIC(2,-3)): the value is a multiple of 10^-scale.
  if (scale <= 0) return (unscaled * 10n ** BigInt(-scale)).toString();
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const point = digits.length - scale;
  return `${negative ? '-' : ''}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** `org.apache.kafka.connect.data.Decimal`: base64 unscaled bytes + the schema's scale parameter. */
export function decimalFromBytes(base64: string, scaleParameter: string | undefined): string {
  if (scaleParameter === undefined || !/^-?\d+$/.test(scaleParameter)) {
    throw new Error(`Decimal schema has no integer "scale" parameter (got ${JSON.stringify(scaleParameter)})`);
  }
  return formatDecimal(unscaledFromBase64(base64), Number(scaleParameter));
}

/** Writes a JSON number's text (possibly "1.0E10", "-2.5e-7") as a plain decimal string, exactly. */
export function decimalFromNumberText(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) throw new Error(`not a decimal number: ${JSON.stringify(text)}`);
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match;
  const unscaled = BigInt(`${sign}${whole}${fraction}`);
  return formatDecimal(unscaled, fraction.length - Number(exponent));
}

/** `io.debezium.data.VariableScaleDecimal`: `{ scale, value }`, the scale carried per value. */
export function decimalFromVariableScale(scale: number, base64: string): string {
  return formatDecimal(unscaledFromBase64(base64), scale);
}
