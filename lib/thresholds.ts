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
 * A range may also carry a `deadband` (hysteresis, in the quantity's unit):
 * an alarm raised when a value leaves the range clears only once the value is
 * back inside by at least that much, so a value hovering at a limit does not
 * flap. Without one, {@linkcode deadbandOf} uses 1 % of the range's width
 * (1.25 °C, 4 hPa, 1 % RH for the defaults).
 *
 * ```json
 * {"temperature": {"min": -40, "max": 85, "deadband": 0.5}}
 * ```
 *
 * @module
 */

import { QUANTITIES, type Quantity } from "../protocol/mod.ts";

/** The safe range of one quantity, inclusive, in the API's units. */
export interface SafeRange {
  readonly min: number;
  readonly max: number;
  readonly unit: string;
  /** Hysteresis, in the unit; absent means {@linkcode deadbandOf}'s default. */
  readonly deadband?: number;
}

/** The safe range of every quantity. */
export type Thresholds = Readonly<Record<Quantity, SafeRange>>;

/** Built-in ranges: an industrial sensor's usual rating. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  temperature: { min: -40, max: 85, unit: "°C" },
  pressure: { min: 800, max: 1200, unit: "hPa" },
  humidity: { min: 0, max: 100, unit: "%" },
};

/** The default deadband as a fraction of the range's width. */
export const DEFAULT_DEADBAND_FRACTION = 0.01;

/**
 * The deadband in force for `range`: its own `deadband`, or 1 % of its
 * width. Always below half the width, so a value can always clear.
 */
export function deadbandOf(range: SafeRange): number {
  return range.deadband ?? (range.max - range.min) * DEFAULT_DEADBAND_FRACTION;
}

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
    const { min = fallback.min, max = fallback.max, deadband } = range as Record<string, unknown>;
    if (typeof min !== "number" || typeof max !== "number" || !Number.isFinite(min + max)) {
      throw new TypeError(`thresholds.${quantity}: min and max must be finite numbers`);
    }
    if (min >= max) {
      throw new RangeError(`thresholds.${quantity}: min ${min} must be below max ${max}`);
    }
    if (deadband === undefined) return [quantity, { min, max, unit: fallback.unit }] as const;
    if (typeof deadband !== "number" || !Number.isFinite(deadband)) {
      throw new TypeError(`thresholds.${quantity}.deadband: expected a finite number`);
    }
    // At half the width or more, no value could be inside by the deadband
    // from the violated limit, and an alarm would never clear.
    if (deadband < 0 || deadband >= (max - min) / 2) {
      throw new RangeError(
        `thresholds.${quantity}.deadband: expected 0 or more and below half the range ` +
          `(${(max - min) / 2}), got ${deadband}`,
      );
    }
    return [quantity, { min, max, unit: fallback.unit, deadband }] as const;
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
