/**
 * Reading a device source's JSON file (`--modbus FILE`, `--opcua FILE`)
 * field by field, so every mistake stops the gateway with one line naming
 * the file, the field and the reason, and exit code 2:
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigObject } from "./source_config.ts";
 *
 * const root = ConfigObject.parse("plc.json", '{"devices": [{"unit": 300}]}');
 * const device = root.array("devices")[0]!;
 * assert.throws(
 *   () => device.number("unit", { min: 0, max: 255, integer: true }),
 *   { message: "plc.json: devices[0].unit: expected an integer 0-255, got 300" },
 * );
 * ```
 *
 * @module
 */

import { UsageError } from "../lib/cli.ts";
import { QUANTITIES, type Quantity } from "../protocol/mod.ts";

/** A source file that does not follow its format: exit code 2. */
export class SourceConfigError extends UsageError {
  readonly file: string;
  readonly field: string;

  constructor(file: string, field: string, reason: string) {
    super(field === "" ? `${file}: ${reason}` : `${file}: ${field}: ${reason}`);
    this.name = "SourceConfigError";
    this.file = file;
    this.field = field;
  }
}

/** Bounds of {@linkcode ConfigObject.number}. */
export interface FieldBounds {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/** A JSON object at a path of a source file, read one field at a time. */
export class ConfigObject {
  readonly file: string;
  /** `devices[0].sensors[1]`; empty for the root. */
  readonly path: string;
  readonly #value: Record<string, unknown>;

  private constructor(file: string, path: string, value: unknown) {
    this.file = file;
    this.path = path;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new SourceConfigError(file, path, `expected an object, got ${describe(value)}`);
    }
    this.#value = value as Record<string, unknown>;
  }

  /** Parses `text`, the content of `file`, which must hold a JSON object. */
  static parse(file: string, text: string): ConfigObject {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new SourceConfigError(file, "", `not valid JSON (${detail})`);
    }
    return new ConfigObject(file, "", value);
  }

  /** The path of field `key`. */
  pathOf(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }

  /** Throws for the field `key` with `reason`. */
  fail(key: string, reason: string): never {
    throw new SourceConfigError(this.file, this.pathOf(key), reason);
  }

  /** Whether field `key` is present. */
  has(key: string): boolean {
    return this.#value[key] !== undefined;
  }

  /** Throws on the first field not in `known` (a typo would otherwise be ignored silently). */
  allowOnly(known: readonly string[]): void {
    for (const key of Object.keys(this.#value)) {
      if (!known.includes(key)) this.fail(key, `unknown field (expected ${known.join(", ")})`);
    }
  }

  /** A string field; `fallback` when absent, required when there is none. */
  string(key: string, options: { fallback?: string; pattern?: RegExp } = {}): string {
    const value = this.#present(key, options.fallback);
    if (typeof value !== "string") this.fail(key, `expected a string, got ${describe(value)}`);
    if (options.pattern && !options.pattern.test(value)) {
      this.fail(key, `${JSON.stringify(value)} does not match ${options.pattern.source}`);
    }
    return value;
  }

  /** One of `choices`; an unknown value is named with the list. */
  choice<T extends string>(key: string, choices: readonly T[], fallback?: T): T {
    const value = this.#present(key, fallback);
    if (typeof value !== "string" || !(choices as readonly string[]).includes(value)) {
      const what = key.split(".").pop() ?? key;
      this.fail(key, `unknown ${what} ${describe(value)} (${choices.join(", ")})`);
    }
    return value as T;
  }

  /** A number field within `bounds`. */
  number(key: string, bounds: FieldBounds & { fallback?: number } = {}): number {
    const value = this.#present(key, bounds.fallback);
    const { min = -Infinity, max = Infinity, integer = false } = bounds;
    const kind = integer ? "an integer" : "a number";
    const range = max === Infinity ? (min === -Infinity ? "" : ` >= ${min}`) : ` ${min}-${max}`;
    if (
      typeof value !== "number" || !Number.isFinite(value) ||
      (integer && !Number.isInteger(value)) || value < min || value > max
    ) {
      this.fail(key, `expected ${kind}${range}, got ${describe(value)}`);
    }
    return value;
  }

  /** An object field, or undefined when absent. */
  object(key: string): ConfigObject | undefined {
    const value = this.#value[key];
    return value === undefined ? undefined : new ConfigObject(this.file, this.pathOf(key), value);
  }

  /** A required, non-empty array of objects. */
  array(key: string): ConfigObject[] {
    const value = this.#present(key, undefined);
    if (!Array.isArray(value)) this.fail(key, `expected an array, got ${describe(value)}`);
    if (value.length === 0) this.fail(key, "expected at least one entry, got []");
    return value.map((item, i) => new ConfigObject(this.file, `${this.pathOf(key)}[${i}]`, item));
  }

  #present(key: string, fallback: unknown): unknown {
    const value = this.#value[key];
    if (value !== undefined) return value;
    if (fallback === undefined) this.fail(key, "required");
    return fallback;
  }
}

/** A value as an error message quotes it: JSON, shortened. */
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The names a source file may give its devices: they name log lines and metric labels. */
export const DEVICE_NAME_PATTERN: RegExp = /^[a-z0-9_-]{1,64}$/;

/** Largest sensor id (u32). */
export const MAX_SENSOR_ID = 0xffff_ffff;

/** Reads `sensors[].id` and checks it is unique in the file (`seen`). */
export function readSensorId(sensor: ConfigObject, seen: Set<number>): number {
  const id = sensor.number("id", { min: 1, max: MAX_SENSOR_ID, integer: true });
  if (seen.has(id)) sensor.fail("id", `duplicate sensor id ${id} (each id once per file)`);
  seen.add(id);
  return id;
}

/** Reads a device's `name` and checks it is unique in the file (`seen`). */
export function readDeviceName(device: ConfigObject, seen: Set<string>): string {
  const name = device.string("name", { pattern: DEVICE_NAME_PATTERN });
  if (seen.has(name)) device.fail("name", `duplicate name ${JSON.stringify(name)}`);
  seen.add(name);
  return name;
}

/** Reads `scale` and `offset` (value = raw × scale + offset; defaults 1 and 0). */
export function readScaling(point: ConfigObject): { scale: number; offset: number } {
  return {
    scale: point.number("scale", { fallback: 1 }),
    offset: point.number("offset", { fallback: 0 }),
  };
}

/**
 * Reads the quantity fields of a sensor (`temperature`, …) with `parse`;
 * at least one must be there.
 */
export function readPoints<P>(
  sensor: ConfigObject,
  parse: (point: ConfigObject) => P,
): Partial<Record<Quantity, P>> {
  const points: Partial<Record<Quantity, P>> = {};
  for (const quantity of QUANTITIES) {
    const point = sensor.object(quantity);
    if (point !== undefined) points[quantity] = parse(point);
  }
  if (Object.keys(points).length === 0) {
    throw new SourceConfigError(
      sensor.file,
      sensor.path,
      `no quantity (expected at least one of ${QUANTITIES.join(", ")})`,
    );
  }
  return points;
}

/** The text of a source file; a file that cannot be read is a {@linkcode SourceConfigError}. */
export async function readSourceFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new SourceConfigError(path, "", `cannot read the file (${detail})`);
  }
}
