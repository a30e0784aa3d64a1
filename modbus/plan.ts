/**
 * Planning a device's poll: the points of one table merged into as few
 * reads as the protocol allows (at most 125 registers each), reading
 * through small gaps between points rather than paying a round trip per
 * point.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { planReads } from "./plan.ts";
 *
 * const reads = planReads([
 *   { table: "holding", address: 0, count: 1 },
 *   { table: "holding", address: 4, count: 2 }, // a gap of 3: read through
 *   { table: "holding", address: 300, count: 1 }, // far: its own read
 *   { table: "input", address: 10, count: 2 },
 * ]);
 * assert.deepEqual(reads.map(({ table, address, count, points }) => [table, address, count, points]), [
 *   ["holding", 0, 6, [0, 1]],
 *   ["holding", 300, 1, [2]],
 *   ["input", 10, 2, [3]],
 * ]);
 * ```
 *
 * @module
 */

import { MAX_READ_REGISTERS, REGISTER_TABLES, type RegisterTable } from "./mbap.ts";

/** The registers one point occupies. */
export interface RegisterSpan {
  readonly table: RegisterTable;
  readonly address: number;
  /** 1 or 2. */
  readonly count: number;
}

/** One read of a plan. */
export interface PlannedRead {
  readonly table: RegisterTable;
  readonly address: number;
  readonly count: number;
  /** Indexes (into the planned spans) of the points this read covers. */
  readonly points: readonly number[];
}

/** Options of {@linkcode planReads}. */
export interface PlanOptions {
  /**
   * Unused registers a read may cover between two points (default 16):
   * reading them costs ~2 bytes each, a separate request a whole round trip.
   */
  readonly maxGap?: number;
  /** Registers per read (default and at most 125). */
  readonly maxCount?: number;
}

/** Default of {@linkcode PlanOptions.maxGap}. */
export const DEFAULT_MAX_GAP = 16;

/**
 * Merges `spans` into reads: per table, in address order, a point joins the
 * read before it when the gap between them is at most `maxGap` and the
 * read stays within `maxCount` registers. Overlapping points share registers.
 */
export function planReads(
  spans: readonly RegisterSpan[],
  options: PlanOptions = {},
): PlannedRead[] {
  const maxGap = options.maxGap ?? DEFAULT_MAX_GAP;
  const maxCount = Math.min(options.maxCount ?? MAX_READ_REGISTERS, MAX_READ_REGISTERS);
  const reads: PlannedRead[] = [];
  for (const table of REGISTER_TABLES) {
    const order = spans.map((_, i) => i).filter((i) => spans[i]!.table === table)
      .sort((a, b) => spans[a]!.address - spans[b]!.address || a - b);
    let current: { address: number; count: number; points: number[] } | undefined;
    for (const index of order) {
      const { address, count } = spans[index]!;
      const end = address + count;
      if (
        current !== undefined && address - (current.address + current.count) <= maxGap &&
        end - current.address <= maxCount
      ) {
        current.count = Math.max(current.count, end - current.address);
        current.points.push(index);
        continue;
      }
      if (current !== undefined) reads.push({ table, ...current });
      current = { address, count, points: [index] };
    }
    if (current !== undefined) reads.push({ table, ...current });
  }
  return reads;
}
