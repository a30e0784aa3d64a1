/**
 * Query-string parameters of the read endpoints: integers within bounds and
 * times (ISO 8601 with a zone, or integer epoch ms). A bad value is a 400
 * naming the parameter and quoting what was sent.
 *
 * @module
 */

import { parseTimestamp } from "../protocol/mod.ts";
import { HttpError } from "./http.ts";

const U32_MAX = 0xffff_ffff;

function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
}

/**
 * An integer parameter in `[min, max]`, or `undefined` when absent (the
 * caller applies its default). Throws `HttpError` 400 otherwise.
 */
export function integerParam(
  params: URLSearchParams,
  name: string,
  bounds: { min: number; max: number },
): number | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  const number = /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number) || number < bounds.min || number > bounds.max) {
    throw new HttpError(
      400,
      `Cannot parse "${name}": expected an integer in ${bounds.min}..${bounds.max}, got ${
        quote(value)
      }`,
    );
  }
  return number;
}

/** A sensor id parameter (u32). */
export function sensorParam(params: URLSearchParams, name = "sensor"): number | undefined {
  return integerParam(params, name, { min: 0, max: U32_MAX });
}

/** A time parameter: ISO 8601 with a zone, or integer epoch milliseconds. */
export function timeParam(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  try {
    return parseTimestamp(/^-?\d+$/.test(value) ? Number(value) : value);
  } catch {
    throw new HttpError(
      400,
      `Cannot parse "${name}": expected ISO 8601 with a time zone or epoch milliseconds, got ${
        quote(value)
      }`,
    );
  }
}
