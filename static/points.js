// @ts-check
/**
 * The sorted point arrays of the charts' lines, changed in place (the
 * charts hold them as their datasets' data): finding where a point goes,
 * inserting, folding a value into its bucket, dropping what left the window.
 *
 * @module
 */

/** @typedef {import("./model.js").Point} Point */

/**
 * Index of the first element of `points` (sorted by `x`) whose `x` is
 * greater than `x` — where a point at `x` goes to keep the order.
 * @param {readonly {x: number}[]} points
 * @param {number} x
 */
export function upperBound(points, x) {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const point = points[middle];
    if (point !== undefined && point.x <= x) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Inserts `point` at index `at`.
 * @template {{x: number}} T
 * @param {T[]} points
 * @param {number} at
 * @param {T} point
 */
export function insertAt(points, at, point) {
  if (at === points.length) points.push(point);
  else points.splice(at, 0, point);
}

/**
 * Folds a value into the bucket starting at `x`. A `null` value leaves a
 * bucket that has values as it is, and otherwise holds the bucket's place
 * as a gap (count 0) that a later value fills.
 * @param {Point[]} points
 * @param {number} x
 * @param {number | null} value
 */
export function foldIntoBucket(points, x, value) {
  const at = upperBound(points, x);
  const bucket = points[at - 1];
  if (bucket?.x !== x) {
    insertAt(
      points,
      at,
      value === null ? { x, y: null, count: 0 } : { x, y: value, min: value, max: value, count: 1 },
    );
  } else if (value !== null) {
    const count = bucket.y === null ? 0 : bucket.count ?? 1;
    bucket.y = ((bucket.y ?? 0) * count + value) / (count + 1);
    bucket.min = Math.min(bucket.min ?? value, value);
    bucket.max = Math.max(bucket.max ?? value, value);
    bucket.count = count + 1;
  }
}

/**
 * Drops the points before `x`.
 * @param {{x: number}[]} points
 * @param {number} x
 */
export function dropBefore(points, x) {
  if (points.length === 0 || (points[0]?.x ?? x) >= x) return;
  let count = 0;
  while (count < points.length && (points[count]?.x ?? x) < x) count++;
  points.splice(0, count);
}
