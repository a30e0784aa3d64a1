/**
 * The gateway's admission limit (gateway/admission.ts) with a clock and a
 * drain of the test's own: the budget at the measured rate while the server
 * takes readings, plus two network round trips (a far server),
 * `--spool-max` while forwarding stalls, a slow start before
 * the first measurement, and the hand-over out of a stall coming down at
 * half the drain rate rather than at once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Admission, MIN_LIMIT_READINGS } from "../gateway/admission.ts";

function setup(budgetMs = 250) {
  const drain = {
    draining: true,
    drainRate: undefined as number | undefined,
    roundTripMs: undefined as number | undefined,
  };
  let now = 0;
  const admission = new Admission({
    budgetMs,
    maxReadings: 1_000_000,
    drain,
    now: () => now,
  });
  return {
    drain,
    admission,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

Deno.test("admission: the budget at the measured rate while the server takes readings", () => {
  const { drain, admission } = setup();
  assert.equal(admission.limit(0), MIN_LIMIT_READINGS, "slow start before a measurement");
  drain.drainRate = 200_000;
  assert.equal(admission.limit(0), 50_000, "250 ms at 200,000/s");
  drain.drainRate = 10;
  assert.equal(admission.limit(0), MIN_LIMIT_READINGS, "never below the floor");
});

Deno.test("admission: two network round trips on top of the budget, so a far server is not throttled", () => {
  const { drain, admission } = setup(100);
  drain.drainRate = 200_000;
  drain.roundTripMs = 1;
  assert.equal(admission.limit(0), 20_400, "a near server: 102 ms at 200,000/s");
  drain.drainRate = 1_000;
  drain.roundTripMs = 250;
  assert.equal(admission.limit(0), 600, "a far one: 100 ms + two 250 ms round trips at 1,000/s");
  assert.equal(admission.budgetReadings(), 600, "oldest first within it");
});

Deno.test("admission: --spool-max while forwarding stalls, and with --backlog-ms 0", () => {
  const { drain, admission } = setup();
  drain.drainRate = 200_000;
  drain.draining = false;
  assert.equal(admission.limit(0), 1_000_000);
  const { drain: off, admission: unlimited } = setup(0);
  off.drainRate = 200_000;
  assert.equal(unlimited.limit(0), 1_000_000, "no budget: the spool bound only");
});

Deno.test("admission: out of a stall the limit starts at the backlog and comes down at half the drain rate", () => {
  const { drain, admission, advance } = setup();
  drain.drainRate = 200_000;
  assert.equal(admission.limit(0), 50_000);
  drain.draining = false;
  assert.equal(admission.limit(600_000), 1_000_000, "the outage fills the spool");
  drain.draining = true;
  // Back: room for the budget on top of the backlog, so nobody is held at once ...
  assert.equal(admission.limit(600_000), 650_000);
  // ... then down by 100,000 a second (half of 200,000/s), the sensors' share the other half.
  advance(1_000);
  assert.equal(admission.limit(640_000), 550_000);
  advance(2_000);
  assert.equal(admission.limit(400_000), 350_000);
  // A backlog that drains faster (the sensors send less) takes the limit down with it.
  advance(100);
  assert.equal(admission.limit(60_000), 110_000);
  advance(10_000);
  assert.equal(admission.limit(30_000), 50_000, "down to the budget, and no further");
  advance(10_000);
  assert.equal(admission.limit(50_000), 50_000, "and it stays there");
});
