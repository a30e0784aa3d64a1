/**
 * Codec benchmarks (`deno bench`): encoding, and decoding with CRC check,
 * of a 1 MiB stream of READING frames. One iteration is the whole stream;
 * `bench/run.ts` turns the timings into frames per second.
 *
 * @module
 */

import {
  encodeReadingInto,
  FrameDecoder,
  type MeasuredReading,
  READING_FRAME_SIZE,
} from "../protocol/mod.ts";

/** READING frames in 1 MiB. */
export const FRAMES_PER_MIB: number = Math.floor(1024 * 1024 / READING_FRAME_SIZE);

const readings: MeasuredReading[] = Array.from({ length: FRAMES_PER_MIB }, (_, i) => ({
  sensorId: 1 + (i % 100),
  seq: i,
  timestamp: 1_764_000_000_000 + i,
  temperature: 2150 + (i % 300),
  pressure: 101325 - (i % 500),
  humidity: 4510 + (i % 1000),
}));
const stream = new Uint8Array(FRAMES_PER_MIB * READING_FRAME_SIZE);
readings.forEach((reading, i) => encodeReadingInto(stream, i * READING_FRAME_SIZE, reading));
// Socket-sized chunks that split frames at arbitrary points, as TLS records do.
const CHUNK_SIZE = 16 * 1024;

Deno.bench(`encode ${FRAMES_PER_MIB} READING frames (1 MiB)`, { group: "codec" }, () => {
  const out = new Uint8Array(stream.length);
  for (let i = 0; i < readings.length; i++) {
    encodeReadingInto(out, i * READING_FRAME_SIZE, readings[i]!);
  }
});

Deno.bench(
  `decode + CRC check ${FRAMES_PER_MIB} READING frames (1 MiB)`,
  { group: "codec" },
  () => {
    const decoder = new FrameDecoder();
    let frames = 0;
    for (let offset = 0; offset < stream.length; offset += CHUNK_SIZE) {
      for (const item of decoder.push(stream.subarray(offset, offset + CHUNK_SIZE))) {
        if (item instanceof Error) throw item;
        frames++;
      }
    }
    if (frames !== FRAMES_PER_MIB) throw new Error(`decoded ${frames} frames`);
  },
);
