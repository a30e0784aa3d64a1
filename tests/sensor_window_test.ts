import assert from "node:assert/strict";
import { InFlightWindow } from "../sensor/window.ts";

const options = { max: 500, floor: 8, targetMs: 100 };

Deno.test("InFlightWindow starts at its max and stays there while ACKs are in time", () => {
  const window = new InFlightWindow(options);
  assert.equal(window.size, 500);
  for (let t = 0; t < 100; t++) window.onAck(50, 99, t * 10);
  assert.equal(window.size, 500);
});

Deno.test("InFlightWindow cuts by target ÷ delay, at most by half", () => {
  const window = new InFlightWindow(options);
  window.onAck(1, 125, 0); // 100/125 = 0.8
  assert.equal(window.size, 400);
  window.onAck(1, 10_000, 1_000_000); // 0.01, held to 0.5
  assert.equal(window.size, 200);
});

Deno.test("InFlightWindow cuts at most once per round trip", () => {
  const window = new InFlightWindow(options);
  window.onAck(10, 200, 1_000);
  assert.equal(window.size, 250);
  // The rest of the same slow round: no further cut within 200 ms of the last.
  window.onAck(10, 200, 1_100);
  window.onAck(10, 200, 1_199);
  assert.equal(window.size, 250);
  window.onAck(10, 200, 1_200);
  assert.equal(window.size, 125);
});

Deno.test("InFlightWindow never shrinks below its floor", () => {
  const window = new InFlightWindow(options);
  for (let t = 0; t < 20; t++) window.onAck(1, 1_000, t * 1_000);
  assert.equal(window.size, 8);
});

Deno.test("InFlightWindow grows by one per window acknowledged in time, up to its max", () => {
  const window = new InFlightWindow({ ...options, max: 20 });
  window.onAck(1, 400, 0);
  assert.equal(window.size, 10);
  window.onAck(10, 50, 10); // 10 + 10/10
  assert.equal(window.size, 11);
  for (let i = 0; i < 100; i++) window.onAck(20, 50, 20 + i);
  assert.equal(window.size, 20);
});

Deno.test("InFlightWindow with a target of 0 is fixed at its max", () => {
  const window = new InFlightWindow({ ...options, targetMs: 0 });
  window.onAck(100, 60_000, 0);
  assert.equal(window.size, 500);
});

Deno.test("InFlightWindow ignores an ACK that covered nothing", () => {
  const window = new InFlightWindow(options);
  window.onAck(0, 1_000, 0);
  assert.equal(window.size, 500);
});

Deno.test("InFlightWindow keeps its floor within its max, and rejects bad options", () => {
  assert.equal(new InFlightWindow({ max: 4, floor: 8, targetMs: 100 }).floor, 4);
  assert.throws(
    () => new InFlightWindow({ max: 0, floor: 8, targetMs: 100 }),
    /Cannot create window: max must be an integer >= 1, got 0/,
  );
  assert.throws(
    () => new InFlightWindow({ max: 10, floor: 8, targetMs: -1 }),
    /Cannot create window: target must be >= 0 ms, got -1/,
  );
});

Deno.test("InFlightWindow with slowStart begins at the floor and doubles each round trip until an ACK is late", () => {
  const window = new InFlightWindow({ ...options, slowStart: true });
  assert.equal(window.size, 8);
  window.onAck(8, 20, 100); // a whole window in time: twice as many
  assert.equal(window.size, 16);
  window.onAck(16, 20, 200);
  assert.equal(window.size, 32);
  window.onAck(32, 300, 300); // late: cut, and from now on one more per round trip
  assert.equal(window.size, 16);
  window.onAck(16, 20, 700);
  assert.equal(window.size, 17);
  assert.equal(new InFlightWindow({ ...options, slowStart: true, targetMs: 0 }).size, 500);
});
