import assert from "node:assert/strict";
import {
  encodeReadingRecords,
  parseReadingJson,
  type Reading,
  readingToObject,
} from "../protocol/mod.ts";
import { MAX_BODY_BYTES, writeBatchesJson } from "../gateway/request_body.ts";
import type { SpooledBatch } from "../gateway/spool.ts";
import { randomInt, seededRandom } from "./_random.ts";

function batch(id: number, readings: readonly Reading[]): SpooledBatch {
  return { id, readings: readings.length, payload: encodeReadingRecords(readings) };
}

function bodyOf(batches: readonly SpooledBatch[]): string {
  const target = new Uint8Array(MAX_BODY_BYTES);
  return new TextDecoder().decode(target.subarray(0, writeBatchesJson(batches, target)));
}

const I32_MIN = -0x8000_0000;
const I32_MAX = 0x7fff_ffff;

Deno.test("writeBatchesJson() writes values as JSON.stringify would and timestamps as epoch ms", () => {
  const edges: Reading[] = [
    { sensorId: 0, seq: 0, timestamp: 0, temperature: 0, pressure: 0, humidity: 0 },
    {
      sensorId: 0xffff_ffff,
      seq: 0xffff_ffff,
      timestamp: 8_640_000_000_000_000,
      temperature: I32_MAX,
      pressure: I32_MIN,
      humidity: -1,
    },
    {
      sensorId: 7,
      seq: 42,
      timestamp: -8_640_000_000_000_000,
      temperature: -5,
      pressure: 100,
      humidity: -100,
    },
    { sensorId: 9, seq: 1, timestamp: -1, temperature: 10, pressure: -210, humidity: 99_999 },
    { sensorId: 9, seq: 2, timestamp: 5, temperature: null, pressure: 0, humidity: null },
    { sensorId: 9, seq: 3, timestamp: 6, temperature: -1, pressure: null, humidity: 0 },
  ];
  const expected = edges.map((r) =>
    JSON.stringify({ ...readingToObject(r), timestamp: r.timestamp })
  );
  assert.equal(bodyOf([batch(1, edges)]), `[${expected.join(",")}]`);
});

Deno.test("writeBatchesJson() round-trips random readings through the API parser, batches in order", () => {
  const random = seededRandom(8);
  const readings = Array.from({ length: 3_000 }, (): Reading => {
    // Presence bits 1..7: every mix of absent quantities, never all three.
    const presence = randomInt(random, 1, 7);
    return {
      sensorId: randomInt(random, 0, 0xffff_ffff),
      seq: randomInt(random, 0, 0xffff_ffff),
      timestamp: randomInt(random, -8_640_000_000_000_000, 8_640_000_000_000_000),
      temperature: presence & 1 ? randomInt(random, I32_MIN, I32_MAX) : null,
      pressure: presence & 2 ? randomInt(random, -100_000, 100_000) : null,
      humidity: presence & 4 ? randomInt(random, -1_000, 1_000) : null,
    };
  });
  const body = bodyOf([batch(1, readings.slice(0, 1_000)), batch(2, readings.slice(1_000))]);
  assert.deepEqual((JSON.parse(body) as unknown[]).map(parseReadingJson), readings);
});

Deno.test("writeBatchesJson() writes an empty array for no readings", () => {
  assert.equal(bodyOf([]), "[]");
  assert.equal(bodyOf([batch(1, [])]), "[]");
});

Deno.test("writeBatchesJson() throws RangeError rather than overrun its buffer", () => {
  const reading = { sensorId: 1, seq: 1, timestamp: 0, temperature: 0, pressure: 0, humidity: 0 };
  const readings = Array.from({ length: 100 }, () => reading);
  assert.throws(() => writeBatchesJson([batch(1, readings)], new Uint8Array(2_000)), RangeError);
});
