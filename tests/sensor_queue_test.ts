import assert from "node:assert/strict";
import { testReading } from "./_reading.ts";
import { ReadingQueue } from "../sensor/queue.ts";

function fill(queue: ReadingQueue, from: number, to: number): number {
  let dropped = 0;
  for (let seq = from; seq <= to; seq++) dropped += queue.push(testReading(1, seq));
  return dropped;
}

function send(queue: ReadingQueue, max: number): { seqs: number[]; resends: number } {
  const seqs: number[] = [];
  let resends = 0;
  queue.send(max, (r, resend) => {
    seqs.push(r.seq);
    if (resend) resends++;
  });
  return { seqs, resends };
}

Deno.test("ReadingQueue.send() hands out waiting readings in order, up to max", () => {
  const queue = new ReadingQueue(10);
  fill(queue, 1, 5);
  assert.deepEqual(send(queue, 3), { seqs: [1, 2, 3], resends: 0 });
  assert.equal(queue.inFlight, 3);
  assert.equal(queue.unsent, 2);
  assert.deepEqual(send(queue, 10), { seqs: [4, 5], resends: 0 });
});

Deno.test("ReadingQueue.ack() removes readings up to the seq, cumulatively", () => {
  const queue = new ReadingQueue(10);
  fill(queue, 1, 5);
  send(queue, 5);
  assert.equal(queue.ack(3), 3);
  assert.equal(queue.length, 2);
  assert.equal(queue.inFlight, 2);
  assert.equal(queue.ack(3), 0, "an old ACK again removes nothing");
  assert.equal(queue.ack(5), 2);
  assert.equal(queue.length, 0);
});

Deno.test("ReadingQueue.ack() ignores a seq that was not sent on this connection", () => {
  const queue = new ReadingQueue(10);
  fill(queue, 1, 5);
  send(queue, 2);
  assert.equal(queue.ack(4), 0, "readings 3 and 4 were not sent yet");
  assert.equal(queue.ack(999), 0);
  assert.equal(queue.length, 5);
});

Deno.test("ReadingQueue.rewind() resends every unacknowledged reading, oldest first, as resends", () => {
  const queue = new ReadingQueue(10);
  fill(queue, 1, 6);
  send(queue, 4);
  queue.ack(2);
  queue.rewind();
  assert.deepEqual(send(queue, 10), { seqs: [3, 4, 5, 6], resends: 2 });
});

Deno.test("ReadingQueue.push() drops the oldest reading when full and counts it", () => {
  const queue = new ReadingQueue(3);
  assert.equal(fill(queue, 1, 5), 2);
  assert.equal(queue.length, 3);
  assert.deepEqual(send(queue, 10).seqs, [3, 4, 5]);
});

Deno.test("ReadingQueue keeps in-flight accounting right when a dropped reading was in flight", () => {
  const queue = new ReadingQueue(3);
  fill(queue, 1, 3);
  send(queue, 2); // 1, 2 in flight
  fill(queue, 4, 4); // drops 1
  assert.equal(queue.inFlight, 1);
  assert.equal(queue.ack(2), 1);
  assert.deepEqual(send(queue, 10), { seqs: [3, 4], resends: 0 });
});

Deno.test("ReadingQueue.ack() handles seq wrap-around past 2^32 - 1", () => {
  const queue = new ReadingQueue(10);
  for (const seq of [0xffff_fffe, 0xffff_ffff, 0, 1]) queue.push(testReading(1, seq));
  send(queue, 4);
  assert.equal(queue.ack(0), 3);
  assert.equal(queue.ack(1), 1);
});

Deno.test("ReadingQueue rejects a capacity below 1", () => {
  assert.throws(() => new ReadingQueue(0), RangeError);
});
