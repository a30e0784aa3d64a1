/**
 * When each simulated sensor measures: every sensor at the same interval,
 * each at its own random phase, on one timer for the whole process.
 *
 * @module
 */

import { seededRandom } from "../lib/random.ts";

/** A sensor as the scheduler drives it (a `SensorLink`). */
export interface ScheduledSensor {
  /** Readings still to measure (Infinity when counting forever). */
  readonly remaining: number;
  /** Measures `n` readings stamped `timestamp` (epoch ms). */
  measure(n: number, timestamp: number): void;
}

/**
 * Measures each sensor every `intervalMs`, at its own random phase so a
 * plant's sensors do not all speak in the same millisecond. A reading's
 * timestamp is its scheduled time; a late tick catches up with every
 * reading that fell due.
 *
 * All sensors share the interval, so they fall due in the same cyclic order
 * (by phase): one cursor walks that order and one timer is set for the next
 * due reading. A reading is measured within a millisecond or so of its
 * timestamp, at O(1) cost per reading whatever the number of sensors.
 *
 * Returns the function that stops it.
 */
export function startScheduler(
  links: readonly ScheduledSensor[],
  intervalMs: number,
  seed: number,
): () => void {
  const random = seededRandom(seed ^ 0x5eed);
  const start = Date.now();
  const phases = links.map(() => random() * intervalMs);
  const order = links.map((_, i) => i).sort((a, b) => phases[a]! - phases[b]!);
  let position = 0;
  let round = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const due = () => start + phases[order[position]!]! + round * intervalMs;
  const tick = () => {
    const now = Date.now();
    for (let at = due(); at <= now; at = due()) {
      const link = links[order[position]!]!;
      if (link.remaining > 0) link.measure(1, Math.round(at));
      if (++position === order.length) {
        position = 0;
        round++;
      }
    }
    timer = setTimeout(tick, Math.max(1, Math.ceil(due() - now)));
  };
  tick();
  return () => clearTimeout(timer);
}
