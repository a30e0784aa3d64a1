/**
 * Safe ranges per quantity: the server reports them at `/api/thresholds`
 * (the dashboard draws them) and the query client alerts on them, so both
 * read the same defaults and the same `--thresholds` file format:
 *
 * ```json
 * {"temperature": {"min": -40, "max": 85},
 *  "pressure": {"min": 800, "max": 1200},
 *  "humidity": {"min": 0, "max": 100}}
 * ```
 *
 * A file may name only some quantities; the others keep their defaults.
 *
 * @module
 */

import { QUANTITIES, type Quantity } from "../protocol/mod.ts";

/** The safe range of one quantity, inclusive, in the API's units. */
export interface SafeRange {
  readonly min: number;
  readonly max: number;
  readonly unit: string;
}

/** The safe range of every quantity. */
export type Thresholds = Readonly<Record<Quantity, SafeRange>>;

/** Built-in ranges: an industrial sensor's usual rating. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  temperature: { min: -40, max: 85, unit: "°C" },
  pressure: { min: 800, max: 1200, unit: "hPa" },
  humidity: { min: 0, max: 100, unit: "%" },
};

/**
 * Validates a parsed thresholds document (see the module doc) and merges it
 * over the defaults. Throws `TypeError` or `RangeError` naming the field.
 */
export function parseThresholds(value: unknown): Thresholds {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("thresholds: expected an object keyed by quantity");
  }
  const document = value as Record<string, unknown>;
  for (const key of Object.keys(document)) {
    if (!(QUANTITIES as readonly string[]).includes(key)) {
      throw new RangeError(
        `thresholds: unknown quantity "${key}" (expected ${QUANTITIES.join(", ")})`,
      );
    }
  }
  const entries = QUANTITIES.map((quantity) => {
    const fallback = DEFAULT_THRESHOLDS[quantity];
    const range = document[quantity];
    if (range === undefined) return [quantity, fallback] as const;
    if (typeof range !== "object" || range === null) {
      throw new TypeError(`thresholds.${quantity}: expected {"min": number, "max": number}`);
    }
    const { min = fallback.min, max = fallback.max } = range as Record<string, unknown>;
    if (typeof min !== "number" || typeof max !== "number" || !Number.isFinite(min + max)) {
      throw new TypeError(`thresholds.${quantity}: min and max must be finite numbers`);
    }
    if (min >= max) {
      throw new RangeError(`thresholds.${quantity}: min ${min} must be below max ${max}`);
    }
    return [quantity, { min, max, unit: fallback.unit }] as const;
  });
  return Object.fromEntries(entries) as Record<Quantity, SafeRange>;
}

/** Reads and parses a thresholds file; errors name the file. */
export async function loadThresholds(path: string): Promise<Thresholds> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read thresholds file "${path}": ${(error as Error).message}`);
  }
  try {
    return parseThresholds(JSON.parse(text));
  } catch (error) {
    throw new Error(`Cannot load thresholds file "${path}": ${(error as Error).message}`);
  }
}
