/**
 * The Kafka Connect schema that the JSON converter embeds next to each payload when
 * `schemas.enable=true` (`{ "schema": ..., "payload": ... }`). It is what tells a decimal from a
 * string and a microsecond timestamp from a plain int64, so conversion is driven by it.
 */
import { isLosslessNumber, type LosslessJson } from '../json.js';

export interface ConnectSchema {
  /** As the JSON converter writes it: int8 | int16 | int32 | int64 | float | double | boolean | string | bytes | array | map | struct */
  readonly type: string;
  readonly optional: boolean;
  /** Logical type, e.g. "org.apache.kafka.connect.data.Decimal", "io.debezium.time.MicroTimestamp". */
  readonly name?: string;
  /** The column (field) name, inside a struct. */
  readonly field?: string;
  /** e.g. { scale: "2" } for Decimal. */
  readonly parameters?: Readonly<Record<string, string>>;
  readonly fields?: readonly ConnectSchema[];
  readonly items?: ConnectSchema;
  readonly keys?: ConnectSchema;
  readonly values?: ConnectSchema;
}

export type JsonObject = { [key: string]: LosslessJson };

export function isJsonObject(value: LosslessJson | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isLosslessNumber(value);
}

/** Reads and checks an embedded schema. Throws a plain Error naming `path` when it is malformed. */
export function readSchema(json: LosslessJson | undefined, path: string): ConnectSchema {
  if (!isJsonObject(json)) throw new Error(`${path}: schema is not an object`);
  const { type, optional, name, field, parameters, fields, items, keys, values } = json;
  if (typeof type !== 'string') throw new Error(`${path}: schema has no "type"`);
  if (name !== undefined && name !== null && typeof name !== 'string') throw new Error(`${path}: schema "name" is not a string`);
  if (field !== undefined && typeof field !== 'string') throw new Error(`${path}: schema "field" is not a string`);
  const schema: {
    -readonly [K in keyof ConnectSchema]: ConnectSchema[K];
  } = { type, optional: optional === true };
  if (typeof name === 'string') schema.name = name;
  if (field !== undefined) schema.field = field;
  if (parameters !== undefined && parameters !== null) {
    if (!isJsonObject(parameters)) throw new Error(`${path}: schema "parameters" is not an object`);
    // Connect parameters are strings; anything else is kept as its text.
    schema.parameters = Object.fromEntries(
      Object.entries(parameters).map(([key, value]) => [key, isLosslessNumber(value) ? value.value : String(value)]),
    );
  }
  if (type === 'struct') {
    if (!Array.isArray(fields)) throw new Error(`${path}: struct schema has no "fields"`);
    schema.fields = fields.map((child, i) => {
      const childSchema = readSchema(child, `${path}.fields[${i}]`);
      if (childSchema.field === undefined) throw new Error(`${path}.fields[${i}]: struct field has no "field" name`);
      return childSchema;
    });
  }
  if (type === 'array') schema.items = readSchema(items, `${path}.items`);
  if (type === 'map') {
    schema.keys = readSchema(keys, `${path}.keys`);
    schema.values = readSchema(values, `${path}.values`);
  }
  return schema;
}

/** The schema of a named field of a struct schema, or an Error when the struct lacks it. */
export function fieldSchema(struct: ConnectSchema, name: string, path: string): ConnectSchema {
  const found = struct.fields?.find((child) => child.field === name);
  if (!found) throw new Error(`${path}: schema has no field "${name}"`);
  return found;
}
