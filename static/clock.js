// @ts-check
/**
 * The server's clock as the page estimates it, so "now" on screen is the
 * plant's now even when this computer's clock is off.
 *
 * @module
 */

/**
 * How far the server's clock is ahead of this computer's, in ms. A plant
 * screen's PC often has no time server: with its clock minutes off, "now"
 * would put the live edge of the charts off screen and call every sensor
 * stale. Estimated from each answer's `Date` header (whole seconds, so
 * differences under 1.5 s are ignored) and smoothed.
 */
let clockOffsetMs = 0;
let clockSamples = 0;

/** The server's time now, in epoch ms (see {@linkcode clockOffsetMs}). */
export function serverNow() {
  return Date.now() + clockOffsetMs;
}

/**
 * Takes a sample of the server's clock from an answer to a request sent at `sentAt`.
 * @param {Response} response
 * @param {number} sentAt
 */
export function observeClock(response, sentAt) {
  const date = Date.parse(response.headers.get("Date") ?? "");
  if (!Number.isFinite(date)) return;
  const receivedAt = Date.now();
  // The header truncates to the second: the server's time was in [date, date + 1 s).
  const sample = date + 500 - (sentAt + receivedAt) / 2;
  const offset = clockSamples === 0 ? sample : 0.8 * clockOffsetMs + 0.2 * sample;
  clockSamples++;
  clockOffsetMs = Math.abs(offset) < 1500 ? 0 : offset;
}
