// @ts-check
/**
 * How times and values read on screen: local wall-clock times (the plant's
 * own clock), values with the API's two decimals, silences as "12 s ago",
 * and time-axis ticks on round local times (the charts use a linear axis of
 * epoch ms, which would otherwise tick at arbitrary instants).
 *
 * @module
 */

/** What each quantity is called on screen, and its unit. */
export const QUANTITY_LABELS = /** @type {const} */ ({
  temperature: { label: "Temperature", unit: "°C" },
  pressure: { label: "Pressure", unit: "hPa" },
  humidity: { label: "Humidity", unit: "% RH" },
});

const clockWithSeconds = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const clock = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const dateTime = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "medium",
  hourCycle: "h23",
});
const twoDecimals = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const plain = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/**
 * Local time of day, `HH:MM:SS` (or `HH:MM` when `seconds` is false).
 * @param {number} ms epoch ms
 * @param {boolean} [seconds]
 */
export function formatTime(ms, seconds = true) {
  return (seconds ? clockWithSeconds : clock).format(ms);
}

/**
 * Local date and time, for titles and tooltips.
 * @param {number} ms
 */
export function formatDateTime(ms) {
  return dateTime.format(ms);
}

/**
 * A measured value with two decimals, as stored (`21.50`).
 * @param {number} value
 */
export function formatValue(value) {
  return twoDecimals.format(value);
}

/**
 * A limit or tick value, without trailing zeros (`85`, `1013.25`).
 * @param {number} value
 */
export function formatNumber(value) {
  return plain.format(value);
}

/**
 * How long ago `ms` was, coarsely: `now`, `12 s ago`, `4 min ago`, `3 h ago`.
 * @param {number} ms
 * @param {number} now
 */
export function formatAgo(ms, now) {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (!Number.isFinite(seconds)) return "never";
  if (seconds < 2) return "now";
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/**
 * A duration in words, for the window and bucket labels (`15 min`, `4 min`, `10 s`).
 * @param {number} ms
 */
export function formatDuration(ms) {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${formatNumber(ms / 1000)} s`;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Round tick steps, shortest first. */
const STEPS = [
  1000,
  2000,
  5000,
  10_000,
  15_000,
  30_000,
  MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
];

/**
 * Tick positions between `min` and `max` (epoch ms) on round local times,
 * at most `maxTicks` of them, and the step chosen.
 * @param {number} min
 * @param {number} max
 * @param {number} maxTicks
 * @returns {{ticks: number[], stepMs: number}}
 */
export function timeTicks(min, max, maxTicks) {
  const span = Math.max(1, max - min);
  const stepMs = STEPS.find((step) => span / step <= Math.max(1, maxTicks)) ?? 24 * HOUR;
  // Align on the local clock: shift by the zone offset, round, shift back.
  const offset = new Date(min).getTimezoneOffset() * MINUTE;
  const ticks = [];
  for (let local = Math.ceil((min - offset) / stepMs) * stepMs; local + offset <= max;) {
    ticks.push(local + offset);
    local += stepMs;
  }
  return { ticks, stepMs };
}
