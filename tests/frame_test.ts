import assert from "node:assert/strict";
import {
  decodeFrame,
  encodeAck,
  encodeError,
  encodeReading,
  type Frame,
  FrameError,
  type FrameErrorReason,
  type MeasuredReading,
  TIMESTAMP_LIMIT,
} from "../protocol/mod.ts";
import { withCrc } from "./_crc_reference.ts";
import { randomInt, seededRandom } from "./_random.ts";

/** The test vectors of docs/protocol.md, each byte group named. */
const VECTORS: readonly { name: string; hex: string; frame: Frame }[] = [
  {
    name: "READING sensor 7, seq 42, ts 1764000000123, 21.50 °C, 1013.25 hPa, 45.10 %",
    hex: [
      "5344", // magic "SD"
      "01", // version
      "01", // type READING
      "001c", // length 28
      "00000007", // sensor_id 7
      "0000002a", // seq 42
      "0000019ab697e87b", // timestamp 1764000000123
      "00000866", // temperature 2150
      "00018bcd", // pressure 101325
      "0000119e", // humidity 4510
      "9ec1", // CRC-16/MODBUS, big-endian
    ].join(""),
    frame: {
      type: "reading",
      sensorId: 7,
      seq: 42,
      timestamp: 1764000000123,
      temperature: 2150,
      pressure: 101325,
      humidity: 4510,
    },
  },
  {
    name: "READING sensor 4294967295, seq 1, ts 0, −74.56 °C, 0 hPa, −5.44 %",
    hex: [
      "5344", // magic
      "01", // version
      "01", // type READING
      "001c", // length 28
      "ffffffff", // sensor_id u32 max
      "00000001", // seq 1
      "0000000000000000", // timestamp 0
      "ffffe2e0", // temperature -7456 (two's complement)
      "00000000", // pressure 0
      "fffffde0", // humidity -544
      "c0ae", // CRC
    ].join(""),
    frame: {
      type: "reading",
      sensorId: 4294967295,
      seq: 1,
      timestamp: 0,
      temperature: -7456,
      pressure: 0,
      humidity: -544,
    },
  },
  {
    name: "ACK sensor 7, seq 42",
    hex: [
      "5344", // magic
      "01", // version
      "02", // type ACK
      "0008", // length 8
      "00000007", // sensor_id 7
      "0000002a", // seq 42
      "b2ad", // CRC
    ].join(""),
    frame: { type: "ack", sensorId: 7, seq: 42 },
  },
];

function encode(frame: Frame): Uint8Array {
  switch (frame.type) {
    case "reading":
      return encodeReading(frame);
    case "ack":
      return encodeAck(frame.sensorId, frame.seq);
    case "error":
      return encodeError(frame.code, frame.reason);
    case "unknown":
      throw new Error("no encoder for unknown frames");
  }
}

for (const vector of VECTORS) {
  Deno.test(`encode() writes the docs/protocol.md vector byte for byte: ${vector.name}`, () => {
    assert.equal(encode(vector.frame).toHex(), vector.hex);
  });

  Deno.test(`decodeFrame() reads the docs/protocol.md vector: ${vector.name}`, () => {
    const bytes = Uint8Array.fromHex(vector.hex);
    assert.deepEqual(decodeFrame(bytes), { frame: vector.frame, byteLength: bytes.length });
  });

  Deno.test(`decodeFrame() rejects every single-byte change of: ${vector.name}`, () => {
    const bytes = Uint8Array.fromHex(vector.hex);
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const changed = bytes.slice();
        changed[i]! ^= flip;
        assert.throws(
          () => {
            const result = decodeFrame(changed);
            // A changed length can make the frame look longer: it is then incomplete, not accepted.
            if (result === undefined) {
              throw new FrameError("bad-length", "incomplete", { offset: 0 });
            }
          },
          FrameError,
          `byte ${i} ^ ${flip.toString(16)} was accepted`,
        );
      }
    }
  });

  Deno.test(`decodeFrame() needs more bytes for every prefix of: ${vector.name}`, () => {
    const bytes = Uint8Array.fromHex(vector.hex);
    for (let length = 0; length < bytes.length; length++) {
      assert.equal(decodeFrame(bytes.subarray(0, length)), undefined, `prefix of ${length} bytes`);
    }
  });
}

Deno.test("decodeFrame() reads a frame at an offset and reports its length", () => {
  const bytes = Uint8Array.fromHex("ffff" + VECTORS[2]!.hex + "00");
  assert.deepEqual(decodeFrame(bytes, 2), { frame: VECTORS[2]!.frame, byteLength: 16 });
});

Deno.test("encodeError() and decodeFrame() round-trip a code and a UTF-8 reason", () => {
  const bytes = encodeError(2, "sensor 8 is not sensor-7 — refusé");
  assert.deepEqual(decodeFrame(bytes)?.frame, {
    type: "error",
    code: 2,
    reason: "sensor 8 is not sensor-7 — refusé",
  });
  assert.equal(bytes.subarray(0, 6).toHex(), "534401030026"); // L = 2 + 36 UTF-8 bytes
});

Deno.test("encodeError() cuts a long reason at 200 bytes without splitting a character", () => {
  const frame = decodeFrame(encodeError(1, "é".repeat(150)))?.frame;
  assert.ok(frame?.type === "error");
  assert.equal(frame.reason, "é".repeat(100)); // 200 bytes exactly
  const odd = decodeFrame(encodeError(1, "a" + "é".repeat(150)))?.frame;
  assert.ok(odd?.type === "error");
  assert.equal(odd.reason, "a" + "é".repeat(99)); // 199 bytes: the 100th é would be split
});

Deno.test("decodeFrame() returns a frame of unknown type with valid framing as unknown", () => {
  // type 0x7f, length 3, payload 010203, CRC over the header and payload.
  const body = Uint8Array.fromHex("534401" + "7f" + "0003" + "010203");
  const frame = withCrc(body);
  assert.deepEqual(decodeFrame(frame), {
    frame: { type: "unknown", typeCode: 0x7f, payload: Uint8Array.fromHex("010203") },
    byteLength: 11,
  });
});

/** Malformed frames: the FrameError reason and whether the boundary survives. */
const BAD_FRAMES: readonly {
  name: string;
  hex: string;
  reason: FrameErrorReason;
  known: boolean;
}[] = [
  { name: "first magic byte", hex: "5444", reason: "bad-magic", known: false },
  { name: "second magic byte", hex: "5345", reason: "bad-magic", known: false },
  { name: "version 2", hex: "534402", reason: "bad-version", known: false },
  { name: "version 0", hex: "534400", reason: "bad-version", known: false },
  { name: "READING of length 27", hex: "53440101001b", reason: "bad-length", known: false },
  { name: "READING of length 29", hex: "53440101001d", reason: "bad-length", known: false },
  { name: "ACK of length 9", hex: "534401020009", reason: "bad-length", known: false },
  { name: "ERROR of length 1", hex: "534401030001", reason: "bad-length", known: false },
  { name: "ERROR of length 203", hex: "5344010300cb", reason: "bad-length", known: false },
  { name: "unknown type of length 1025", hex: "534401090401", reason: "bad-length", known: false },
  { name: "length 0xffff", hex: "53440101ffff", reason: "bad-length", known: false },
  {
    name: "READING with its CRC off by one",
    hex: VECTORS[0]!.hex.slice(0, -4) + "9ec0",
    reason: "bad-crc",
    known: true,
  },
  {
    name: "CRC written little-endian",
    hex: VECTORS[2]!.hex.slice(0, -4) + "adb2",
    reason: "bad-crc",
    known: true,
  },
];

for (const bad of BAD_FRAMES) {
  Deno.test(`decodeFrame() throws FrameError "${bad.reason}" for ${bad.name}`, () => {
    const error = assertFrameError(() => decodeFrame(Uint8Array.fromHex(bad.hex)));
    assert.equal(error.reason, bad.reason);
    assert.equal(error.boundaryKnown, bad.known);
    assert.match(error.message, /^Cannot decode frame: /);
  });
}

Deno.test("decodeFrame() names both CRCs in the mismatch message", () => {
  const error = assertFrameError(() => decodeFrame(Uint8Array.fromHex(BAD_FRAMES[11]!.hex)));
  assert.equal(error.message, "Cannot decode frame: CRC mismatch (expected 0x9ec1, got 0x9ec0)");
  assert.equal(error.byteLength, 36);
});

Deno.test("decodeFrame() rejects a READING whose timestamp no Date can hold, boundary known", () => {
  const frame = encodeReading({
    ...(VECTORS[0]!.frame as MeasuredReading),
    timestamp: TIMESTAMP_LIMIT,
  });
  frame[14] = 0x7f; // push the timestamp's high word far beyond the limit
  const error = assertFrameError(() => decodeFrame(withCrc(frame.subarray(0, 34))));
  assert.equal(error.reason, "bad-timestamp");
  assert.equal(error.byteLength, 36);
});

Deno.test("encodeReading() throws RangeError for every field out of its wire range", () => {
  const good = VECTORS[0]!.frame as MeasuredReading;
  const bad: Partial<MeasuredReading>[] = [
    { sensorId: -1 },
    { sensorId: 2 ** 32 },
    { seq: 1.5 },
    { seq: 2 ** 32 },
    { timestamp: TIMESTAMP_LIMIT + 1 },
    { timestamp: Number.NaN },
    { temperature: 2 ** 31 },
    { pressure: -(2 ** 31) - 1 },
    { humidity: 0.5 },
  ];
  for (const change of bad) {
    assert.throws(() => encodeReading({ ...good, ...change }), RangeError, JSON.stringify(change));
  }
});

Deno.test("encodeReading() and decodeFrame() round-trip 10,000 seeded readings and every extreme", () => {
  const random = seededRandom(42);
  const extremes = {
    sensorId: [0, 1, 2 ** 31, 2 ** 32 - 1],
    seq: [0, 1, 2 ** 32 - 1],
    timestamp: [-TIMESTAMP_LIMIT, -1, 0, 1, 2 ** 32, Date.now(), TIMESTAMP_LIMIT],
    temperature: [-(2 ** 31), -1, 0, 2 ** 31 - 1],
    pressure: [-(2 ** 31), 0, 101325, 2 ** 31 - 1],
    humidity: [-(2 ** 31), 0, 10000, 2 ** 31 - 1],
  };
  const pick = (values: number[]) => values[randomInt(random, 0, values.length - 1)]!;
  const readings: MeasuredReading[] = [];
  for (let i = 0; i < 10_000; i++) {
    const extreme = i % 2 === 0;
    readings.push({
      sensorId: extreme ? pick(extremes.sensorId) : randomInt(random, 0, 2 ** 32 - 1),
      seq: extreme ? pick(extremes.seq) : randomInt(random, 0, 2 ** 32 - 1),
      timestamp: extreme
        ? pick(extremes.timestamp)
        : randomInt(random, -TIMESTAMP_LIMIT, TIMESTAMP_LIMIT),
      temperature: extreme
        ? pick(extremes.temperature)
        : randomInt(random, -(2 ** 31), 2 ** 31 - 1),
      pressure: extreme ? pick(extremes.pressure) : randomInt(random, -(2 ** 31), 2 ** 31 - 1),
      humidity: extreme ? pick(extremes.humidity) : randomInt(random, -(2 ** 31), 2 ** 31 - 1),
    });
  }
  for (const reading of readings) {
    const decoded = decodeFrame(encodeReading(reading));
    assert.deepEqual(decoded, { frame: { type: "reading", ...reading }, byteLength: 36 });
  }
});

function assertFrameError(action: () => unknown): FrameError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof FrameError, `expected FrameError, got ${error}`);
    return error;
  }
  assert.fail("expected a FrameError, nothing was thrown");
}
