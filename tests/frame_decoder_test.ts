import assert from "node:assert/strict";
import {
  encodeAck,
  encodeError,
  encodeReading,
  type Frame,
  FrameDecoder,
  FrameError,
  MAX_FRAME_SIZE,
  type MeasuredReading,
} from "../protocol/mod.ts";
import { withCrc } from "./_crc_reference.ts";
import { concatBytes } from "./_link.ts";
import { randomBytes, randomInt, seededRandom } from "./_random.ts";

const READING: MeasuredReading = {
  sensorId: 7,
  seq: 42,
  timestamp: 1764000000123,
  temperature: 2150,
  pressure: 101325,
  humidity: 4510,
};

/** Four frames of every kind, back to back: 36 + 16 + 19 + 11 bytes. */
const FRAMES: readonly Frame[] = [
  { type: "reading", ...READING },
  { type: "ack", sensorId: 7, seq: 42 },
  { type: "error", code: 4, reason: "overloaded" },
  { type: "unknown", typeCode: 0x42, payload: Uint8Array.of(1, 2, 3) },
];
const STREAM = concatBytes([
  encodeReading(READING),
  encodeAck(7, 42),
  encodeError(4, "overloaded"),
  withCrc(Uint8Array.fromHex("534401420003010203")),
]);

function decodeChunks(chunks: readonly Uint8Array[], decoder = new FrameDecoder()) {
  const out: (Frame | FrameError)[] = [];
  for (const chunk of chunks) {
    for (const item of decoder.push(chunk)) out.push(item);
    assert.ok(decoder.bufferedBytes <= MAX_FRAME_SIZE);
  }
  return out;
}

Deno.test("FrameDecoder.push() yields every frame of one chunk holding several", () => {
  assert.deepEqual(decodeChunks([STREAM]), FRAMES);
});

Deno.test("FrameDecoder.push() yields the same frames for a stream split at every point", () => {
  for (let split = 0; split <= STREAM.length; split++) {
    const chunks = [STREAM.subarray(0, split), STREAM.subarray(split)];
    assert.deepEqual(decodeChunks(chunks), FRAMES, `split at ${split}`);
  }
});

Deno.test("FrameDecoder.push() yields the same frames for a stream cut in three at every pair of points", () => {
  for (let first = 0; first <= STREAM.length; first++) {
    for (let second = first; second <= STREAM.length; second++) {
      const chunks = [
        STREAM.subarray(0, first),
        STREAM.subarray(first, second),
        STREAM.subarray(second),
      ];
      assert.deepEqual(decodeChunks(chunks), FRAMES, `cuts at ${first} and ${second}`);
    }
  }
});

Deno.test("FrameDecoder.push() yields the same frames fed one byte at a time", () => {
  const chunks = Array.from(STREAM, (byte) => Uint8Array.of(byte));
  assert.deepEqual(decodeChunks(chunks), FRAMES);
});

Deno.test("FrameDecoder.push() never keeps a reference to a chunk the caller reuses", () => {
  const buffer = STREAM.slice();
  const decoder = new FrameDecoder();
  const frames = [...decoder.push(buffer.subarray(0, 60)), ...decoder.push(buffer.subarray(60))];
  buffer.fill(0);
  assert.deepEqual(frames, FRAMES);
});

Deno.test("FrameDecoder.push() skips a frame with a bad CRC and goes on after it", () => {
  const corrupt = encodeReading(READING);
  corrupt[20]! ^= 0x01; // a temperature bit: the CRC no longer matches
  const items = decodeChunks([concatBytes([encodeAck(1, 1), corrupt, encodeAck(1, 2)])]);
  assert.equal(items.length, 3);
  assert.deepEqual(items[0], { type: "ack", sensorId: 1, seq: 1 });
  assert.ok(items[1] instanceof FrameError && items[1].reason === "bad-crc");
  assert.ok(items[1].boundaryKnown);
  assert.deepEqual(items[2], { type: "ack", sensorId: 1, seq: 2 });
});

Deno.test("FrameDecoder.push() skips a bad CRC split across chunks", () => {
  const corrupt = encodeReading(READING);
  corrupt[35]! ^= 0xff;
  const stream = concatBytes([corrupt, encodeAck(1, 2)]);
  for (let split = 1; split < stream.length; split++) {
    const items = decodeChunks([stream.subarray(0, split), stream.subarray(split)]);
    assert.equal(items.length, 2, `split at ${split}`);
    assert.ok(items[0] instanceof FrameError && items[0].reason === "bad-crc");
    assert.deepEqual(items[1], { type: "ack", sensorId: 1, seq: 2 });
  }
});

Deno.test("FrameDecoder.push() stops for good when framing is lost", () => {
  const decoder = new FrameDecoder();
  const items = decodeChunks(
    [concatBytes([encodeAck(1, 1), Uint8Array.of(0x00), encodeAck(1, 2)])],
    decoder,
  );
  assert.equal(items.length, 2);
  assert.ok(items[1] instanceof FrameError && items[1].reason === "bad-magic");
  assert.equal(items[1].boundaryKnown, false);
  // Later bytes, even valid frames, only repeat the error: nothing after it is trusted.
  assert.deepEqual([...decoder.push(encodeAck(1, 3))], [items[1]]);
  assert.equal(decoder.bufferedBytes, 0);
  assert.equal(decoder.lostBoundary, items[1]);
});

Deno.test("FrameDecoder.push() reports a bad magic byte before the rest of the header arrives", () => {
  const items = decodeChunks([Uint8Array.of(0x47)]); // "G", as in an HTTP "GET"
  assert.equal(items.length, 1);
  assert.ok(items[0] instanceof FrameError && items[0].reason === "bad-magic");
});

Deno.test("FrameDecoder.push() reports a bad length before the payload arrives", () => {
  const items = decodeChunks([Uint8Array.fromHex("53440101ffff")]);
  assert.equal(items.length, 1);
  assert.ok(items[0] instanceof FrameError && items[0].reason === "bad-length");
});

Deno.test("FrameDecoder.push() lets nothing but FrameError escape 100,000 seeded random and mutated inputs", () => {
  const random = seededRandom(0xc0ffee);
  const valid = concatBytes([STREAM, STREAM, encodeReading({ ...READING, seq: 43 })]);
  const counts = { frames: 0, crcErrors: 0, lostErrors: 0 };
  for (let input = 0; input < 100_000; input++) {
    const bytes = input % 4 === 0
      ? randomBytes(random, randomInt(random, 0, 200))
      : mutate(valid, random);
    const decoder = new FrameDecoder();
    let yielded = 0;
    let offset = 0;
    while (offset < bytes.length) {
      const size = randomInt(random, 1, 64);
      for (const item of decoder.push(bytes.subarray(offset, offset + size))) {
        yielded++;
        if (item instanceof FrameError) {
          if (item.boundaryKnown) counts.crcErrors++;
          else counts.lostErrors++;
        } else {
          assert.ok(["reading", "ack", "error", "unknown"].includes(item.type));
          counts.frames++;
        }
        // Each item consumes at least one byte, or repeats the final error once per push.
        assert.ok(yielded <= bytes.length + bytes.length, `runaway output, seed input ${input}`);
      }
      assert.ok(decoder.bufferedBytes <= MAX_FRAME_SIZE, `buffered ${decoder.bufferedBytes}`);
      offset += size;
    }
  }
  // The mutations must exercise every path, or this test proves little.
  assert.ok(counts.frames > 100_000 && counts.crcErrors > 10_000 && counts.lostErrors > 10_000);
});

Deno.test("FrameDecoder.push() holds at most one maximal frame while it waits for the rest", () => {
  const decoder = new FrameDecoder();
  const header = Uint8Array.fromHex("534401090400"); // unknown type, 1024-byte payload
  decodeChunks([header, new Uint8Array(1024)], decoder);
  assert.equal(decoder.bufferedBytes, MAX_FRAME_SIZE - 2); // all but the CRC
  const items = decodeChunks([Uint8Array.of(0, 0)], decoder);
  assert.equal(items.length, 1);
  assert.ok(items[0] instanceof FrameError && items[0].reason === "bad-crc");
  assert.equal(decoder.bufferedBytes, 0);
});

/** One to four random mutations: flips, overwrites, insertions, deletions, truncation. */
function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  let out: Uint8Array = bytes.slice();
  const mutations = randomInt(random, 1, 4);
  for (let i = 0; i < mutations; i++) {
    const at = randomInt(random, 0, out.length - 1);
    switch (randomInt(random, 0, 4)) {
      case 0:
        out[at]! ^= 1 << randomInt(random, 0, 7);
        break;
      case 1:
        out[at] = randomInt(random, 0, 255);
        break;
      case 2:
        out = concatBytes([
          out.subarray(0, at),
          randomBytes(random, randomInt(random, 1, 8)),
          out.subarray(at),
        ]);
        break;
      case 3:
        out = concatBytes([out.subarray(0, at), out.subarray(at + randomInt(random, 1, 8))]);
        break;
      default:
        out = out.subarray(0, at);
    }
    if (out.length === 0) break;
  }
  return out;
}
