// Points read back from a replica, written out again as line protocol with the types the replica has for each
// field: integers keep their `i`, strings their quotes and escapes, booleans stay booleans, and floats print
// the shortest text that parses back to the same double. Escapes follow influxd 1.6's models/points.go.

export type FieldType = "float" | "integer" | "string" | "boolean";
export const FIELD_TYPES: readonly FieldType[] = ["float", "integer", "string", "boolean"];

/** A field value as a replica answers it over msgpack: int64s past 2^53 come as bigint. */
export type FieldValue = number | bigint | string | boolean;

export interface Point {
  readonly measurement: string;
  /** Tags with an empty value are absent, as influxd stores them. */
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: ReadonlyMap<string, FieldValue>;
  /** Nanoseconds since the epoch. */
  readonly time: bigint;
}

/** A value that cannot be written as the type the replica holds for its field. */
export class FieldTypeError extends Error {
  override readonly name = "FieldTypeError";
}

const escapeMeasurement = (name: string): string => name.replace(/[, ]/g, (c) => `\\${c}`);
const escapeKey = (key: string): string => key.replace(/[,= ]/g, (c) => `\\${c}`);
const escapeString = (text: string): string => text.replace(/[\\"]/g, (c) => `\\${c}`);

/** The series part of a line: measurement and tags sorted by key, as influxd keys its series. */
export function seriesKey(measurement: string, tags: Readonly<Record<string, string>>): string {
  let key = escapeMeasurement(measurement);
  for (const name of Object.keys(tags).sort()) {
    if (tags[name] !== "") key += `,${escapeKey(name)}=${escapeKey(tags[name]!)}`;
  }
  return key;
}

export function formatField(value: FieldValue, type: FieldType): string {
  switch (type) {
    case "integer":
      if (typeof value === "bigint" || (typeof value === "number" && Number.isSafeInteger(value))) return `${value}i`;
      break;
    case "float":
      if (typeof value === "number" && Number.isFinite(value)) return String(value);
      break;
    case "string":
      if (typeof value === "string") return `"${escapeString(value)}"`;
      break;
    case "boolean":
      if (typeof value === "boolean") return String(value);
      break;
  }
  throw new FieldTypeError(`${typeof value} value ${String(value)} is not a${type === "integer" ? "n" : ""} ${type}`);
}

/**
 * One line for the point. `types` maps each field to its type on the replica it came from; a field missing
 * there is an error rather than a guess, since a wrong guess is refused by the other replica for good.
 */
export function formatLine(point: Point, types: ReadonlyMap<string, FieldType>): string {
  const fields: string[] = [];
  for (const [name, value] of point.fields) {
    const type = types.get(name);
    if (type === undefined) throw new FieldTypeError(`field "${name}" of "${point.measurement}" has no type in SHOW FIELD KEYS`);
    fields.push(`${escapeKey(name)}=${formatField(value, type)}`);
  }
  return `${seriesKey(point.measurement, point.tags)} ${fields.join(",")} ${point.time}`;
}

/** Rows of one series as a replica answers `SELECT * ... GROUP BY *`: the first column is the time. */
export interface SeriesRows {
  readonly name: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly columns: readonly string[];
  readonly values: readonly (readonly unknown[])[];
}

/**
 * The lines of every row, the series key and each column's escaped name worked out once per series: the
 * copy of a whole bucket goes through here. A row that cannot be written is passed to `refuse`, not thrown.
 */
export function formatRows(
  series: SeriesRows,
  types: ReadonlyMap<string, FieldType>,
  refuse: (row: number, problem: string) => void,
): string[] {
  const prefix = `${seriesKey(series.name, series.tags ?? {})} `;
  const keys = series.columns.map((column) => `${escapeKey(column)}=`);
  const columnTypes = series.columns.map((column) => types.get(column));
  const lines: string[] = [];
  series.values.forEach((row, r) => {
    let fields = "";
    try {
      for (let i = 1; i < row.length; i++) {
        const value = row[i];
        if (value === null || value === undefined) continue;
        const type = columnTypes[i];
        if (type === undefined) throw new FieldTypeError(`field "${series.columns[i]}" of "${series.name}" has no type in SHOW FIELD KEYS`);
        fields += `${fields === "" ? "" : ","}${keys[i]}${formatField(value as FieldValue, type)}`;
      }
    } catch (err) {
      if (!(err instanceof FieldTypeError)) throw err;
      refuse(r, err.message);
      return;
    }
    // A time is a safe integer (number) or an int64 (bigint): both print exactly.
    if (fields !== "") lines.push(`${prefix}${fields} ${row[0] as number | bigint}`);
  });
  return lines;
}
