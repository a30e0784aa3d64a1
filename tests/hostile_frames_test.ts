/**
 * Hostile bytes over real mutual TLS: a real gateway process gets seeded
 * random bytes and mutations of valid frames (every byte of every field,
 * every declared length, truncations, oversized frames, one byte at a
 * time), many connections that never speak, and a connection flood — while
 * a well-behaved sensor streams beside them and must be served throughout.
 *
 * What each input must earn is computed by a small model of docs/protocol.md
 * (its ACK rule after a CRC failure included) over the same bytes:
 * the last ACK, then ERROR 1 (framing), 2 (identity), 3 (ten corrupt frames)
 * or 5 (idle, when the input stops mid-frame), or no ERROR at all while the
 * input stays well framed. The gateway's answer must match it exactly.
 *
 * gateway_security_test.ts proves one case of each rule; this file is the
 * crowd. The seed is printed; set VIGIA_SEED to replay a run.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  crc16,
  decodeFrame,
  encodeReading,
  ERROR_CODES,
  type Frame,
  FRAME_TYPES,
  FrameError,
} from "../protocol/mod.ts";
import {
  closeQuietly,
  concatBytes,
  connectSensor,
  encodeReadings,
  readFrames,
  servedCheck,
  startGateway,
  waitUntil,
} from "./_link.ts";
import { testReading } from "./_reading.ts";
import { testPki } from "./_pki.ts";
import { delay, gatewayMetric, metricsPort } from "./_faults.ts";
import { randomBytes, randomInt, seededRandom } from "./_random.ts";

const SEED = Number(Deno.env.get("VIGIA_SEED") ?? 9);
/** The sensor whose certificate every hostile connection uses. */
const HOSTILE_ID = 1;
const IDLE_TIMEOUT_S = 1.5;

/** What the gateway must answer to a connection that sends `bytes` and then waits. */
interface Expected {
  /** The seq of the last ACK, or undefined for none. */
  readonly ack: number | undefined;
  /** The ERROR code that ends the connection, or undefined: it stays open (until idle). */
  readonly error: number | undefined;
  /** The input ends inside a frame: the connection waits for the rest, then ERROR 5. */
  readonly incomplete: boolean;
}

/**
 * The gateway's answer to `bytes` from a connection authorised for
 * `sensorId`, per docs/protocol.md.
 */
function expectedAnswer(bytes: Uint8Array, sensorId: number): Expected {
  let ack: number | undefined;
  let frozen = false;
  let corrupt = 0;
  let offset = 0;
  while (offset < bytes.length) {
    let decoded;
    try {
      decoded = decodeFrame(bytes, offset);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      if (error.reason !== "bad-crc") return { ack, error: ERROR_CODES.framing, incomplete: false };
      frozen = true; // no ACK may pass a reading that was dropped
      if (++corrupt >= 10) return { ack, error: ERROR_CODES.corrupt, incomplete: false };
      offset += error.byteLength!;
      continue;
    }
    if (decoded === undefined) return { ack, error: ERROR_CODES.idle, incomplete: true };
    offset += decoded.byteLength;
    corrupt = 0;
    const frame = decoded.frame;
    if (frame.type !== "reading") continue; // ignored, counted
    if (frame.sensorId !== sensorId) return { ack, error: ERROR_CODES.identity, incomplete: false };
    if (!frozen) ack = frame.seq;
  }
  return { ack, error: undefined, incomplete: false };
}

/** A frame of `type` with `payload` and a correct CRC (any length the header can say). */
function sealedFrame(type: number, payload: Uint8Array, declaredLength = payload.length) {
  const frame = new Uint8Array(6 + payload.length + 2);
  frame.set([0x53, 0x44, 0x01, type, declaredLength >> 8, declaredLength & 0xff]);
  frame.set(payload, 6);
  reseal(frame);
  return frame;
}

/** Rewrites the last two bytes as the CRC of the rest. */
function reseal(frame: Uint8Array): Uint8Array {
  const crc = crc16(frame, 0, frame.length - 2);
  frame.set([crc >> 8, crc & 0xff], frame.length - 2);
  return frame;
}

interface Case {
  readonly kind: string;
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Write one byte at a time with this pause (ms) instead of in random chunks. */
  readonly slowMs?: number;
}

/** Every hostile input, by kind; seqs are unique per case so ACKs cannot be confused. */
function hostileCases(random: () => number): Case[] {
  const cases: Case[] = [];
  let seq = 1_000;
  const readings = (n: number) => Array.from({ length: n }, () => testReading(HOSTILE_ID, seq++));

  // Seeded random bytes; half of them start with a valid header so they get past byte one.
  for (let i = 0; i < 150; i++) {
    const body = randomBytes(random, randomInt(random, 1, 2_000));
    if (i % 2 === 1) body.set([0x53, 0x44, 0x01, randomInt(random, 0, 4)].slice(0, body.length));
    cases.push({ kind: "random bytes", name: `random #${i} (${body.length} bytes)`, bytes: body });
  }

  // Every byte of the middle frame of three, flipped or zeroed, with the CRC left
  // wrong (raw) or recomputed (sealed, so the field's own check is what answers).
  for (let position = 0; position < 36; position++) {
    for (const [how, mutate] of [["flip", (b: number) => b ^ 0xff], ["zero", () => 0]] as const) {
      for (const sealed of [false, true]) {
        const frames = readings(3).map(encodeReading);
        const middle = frames[1]!;
        middle[position] = mutate(middle[position]!);
        if (sealed && position < 34) reseal(middle);
        cases.push({
          kind: "every byte mutated",
          name: `byte ${position} ${how}${sealed ? ", CRC resealed" : ""}`,
          bytes: concatBytes(frames),
        });
      }
    }
  }

  // Random multi-byte mutations of a longer valid stream.
  for (let i = 0; i < 150; i++) {
    const stream = encodeReadings(readings(randomInt(random, 1, 12)));
    for (let n = randomInt(random, 1, 4); n > 0; n--) {
      stream[randomInt(random, 0, stream.length - 1)] = randomInt(random, 0, 255);
    }
    cases.push({ kind: "random mutations", name: `mutated stream #${i}`, bytes: stream });
  }

  // Every declared length, per type, with a payload that long and a correct CRC.
  const lengths = [0, 1, 2, 7, 8, 9, 27, 28, 29, 36, 200, 202, 203, 1023, 1024, 1025, 0xffff];
  for (const type of [FRAME_TYPES.reading, FRAME_TYPES.ack, FRAME_TYPES.error, 0x00, 0x7f, 0xff]) {
    for (const length of lengths) {
      const payload = randomBytes(random, Math.min(length, 1_100));
      if (type === FRAME_TYPES.reading && length >= 8) {
        payload.set(encodeReading(testReading(HOSTILE_ID, seq++)).subarray(6, 14));
      }
      cases.push({
        kind: "every length",
        name: `type 0x${type.toString(16)} length ${length}`,
        bytes: concatBytes([...readings(1).map(encodeReading), sealedFrame(type, payload, length)]),
      });
    }
  }

  // Truncated: a valid frame, then the next one cut at every length.
  for (let cut = 1; cut < 36; cut++) {
    const [first, second] = readings(2).map(encodeReading);
    cases.push({
      kind: "truncated",
      name: `second frame cut after ${cut} bytes`,
      bytes: concatBytes([first!, second!.subarray(0, cut)]),
    });
  }

  // Oversized: the largest frame allowed, and a burst far larger than any buffer.
  const biggest = sealedFrame(0x7f, randomBytes(random, 1024));
  cases.push({
    kind: "oversized",
    name: "1024-byte unknown frames between readings",
    bytes: concatBytes([biggest, ...readings(1).map(encodeReading), biggest, biggest]),
  });
  cases.push({
    kind: "oversized",
    name: "20,000 readings in one write (720 KB)",
    bytes: encodeReadings(readings(20_000)),
  });
  cases.push({
    kind: "oversized",
    name: "header claiming 65535 bytes, then 64 KB of them",
    bytes: concatBytes([
      new Uint8Array([0x53, 0x44, 0x01, 0x7f, 0xff, 0xff]),
      randomBytes(random, 65_536),
    ]),
  });

  // Slow: frames one byte per write.
  for (const pause of [0, 5, 20]) {
    cases.push({
      kind: "byte by byte",
      name: `two readings, one byte every ${pause} ms`,
      bytes: encodeReadings(readings(2)),
      slowMs: pause,
    });
  }
  // A corrupt frame, one byte at a time: dropped, the next one stored but not ACKed.
  const [good, bad, after] = readings(3).map(encodeReading);
  bad![20] = bad![20]! ^ 0x01;
  cases.push({
    kind: "byte by byte",
    name: "a CRC failure one byte at a time",
    bytes: concatBytes([good!, bad!, after!]),
    slowMs: 1,
  });
  return cases;
}

interface Outcome {
  readonly frames: Frame[];
  readonly closed: boolean;
}

/** Sends `item` as sensor 1 and reads what the gateway answers, as long as `expected` says to wait. */
async function play(
  port: number,
  pki: Awaited<ReturnType<typeof testPki>>,
  item: Case,
  expected: Expected,
  random: () => number,
): Promise<Outcome> {
  const conn = await connectSensor(port, pki, HOSTILE_ID);
  try {
    const writing = (async () => {
      try {
        if (item.slowMs !== undefined) {
          for (let i = 0; i < item.bytes.length; i++) {
            await conn.write(item.bytes.subarray(i, i + 1));
            if (item.slowMs > 0) await delay(item.slowMs);
          }
          return;
        }
        let offset = 0;
        while (offset < item.bytes.length) {
          const end = Math.min(item.bytes.length, offset + randomInt(random, 1, 4_096));
          offset += await conn.write(item.bytes.subarray(offset, end));
        }
      } catch {
        // The gateway closed first (it may stop reading after an ERROR): fine.
      }
    })();
    // Time to send it all (the slow cases), then: for a well-framed input its
    // ACK (or one flush interval of silence), for the others the ERROR.
    const sendingMs = (item.slowMs ?? 0) * item.bytes.length * 2 + item.bytes.length / 100;
    const ackSeq = expected.ack;
    const result = await readFrames(
      conn,
      (frames) =>
        frames.some((f) => f.type === "error") ||
        (expected.error === undefined && ackSeq !== undefined &&
          frames.some((f) => f.type === "ack" && f.seq === ackSeq)),
      sendingMs + (expected.error === undefined && ackSeq === undefined ? 500 : 3_000) +
        (expected.incomplete ? IDLE_TIMEOUT_S * 1000 : 0),
    );
    let { frames, closed } = result;
    if (frames.some((f) => f.type === "error") && !closed) {
      closed = (await readFrames(conn, () => false, 3_000)).closed;
    }
    if (expected.error === undefined && ackSeq !== undefined && !closed) {
      // Nothing else may follow within a few flush intervals.
      const more = await readFrames(conn, () => false, 300);
      frames = [...frames, ...more.frames];
      closed = more.closed;
    }
    await writing;
    return { frames, closed };
  } finally {
    closeQuietly(conn);
  }
}

function describe(outcome: Outcome): string {
  return JSON.stringify({
    frames: outcome.frames.map((f) =>
      f.type === "ack" ? `ACK ${f.seq}` : f.type === "error" ? `ERROR ${f.code}` : f.type
    ),
    closed: outcome.closed,
  });
}

function assertAnswer(item: Case, expected: Expected, outcome: Outcome): void {
  const label = `${item.kind}: ${item.name} (seed ${SEED}) expected ${
    JSON.stringify(expected)
  }, got ${describe(outcome)}`;
  const acks = outcome.frames.filter((f) => f.type === "ack");
  const errors = outcome.frames.filter((f) => f.type === "error");
  assert.ok(
    outcome.frames.every((f) => f.type === "ack" || f.type === "error"),
    `only ACK and ERROR frames: ${label}`,
  );
  for (const ack of acks) assert.equal(ack.sensorId, HOSTILE_ID, label);
  assert.equal(acks.at(-1)?.type === "ack" ? acks.at(-1)!.seq : undefined, expected.ack, label);
  if (expected.error === undefined) {
    assert.equal(errors.length, 0, label);
    assert.equal(outcome.closed, false, `the connection stays open: ${label}`);
  } else {
    assert.equal(errors.length, 1, label);
    assert.equal(errors[0]!.type === "error" && errors[0]!.code, expected.error, label);
    assert.equal(outcome.frames.at(-1)?.type, "error", `the ERROR comes last: ${label}`);
    assert.ok(outcome.closed, `closed after the ERROR: ${label}`);
  }
}

/** A sensor sending one reading every 100 ms that must get every ACK; stop() returns its figures. */
function steadySensor(port: number, pki: Awaited<ReturnType<typeof testPki>>, sensorId: number) {
  let stopping = false;
  let sent = 0;
  let acked = 0;
  let slowestMs = 0;
  const running = (async () => {
    const conn = await connectSensor(port, pki, sensorId);
    try {
      for (let seq = 1; !stopping; seq++) {
        const started = performance.now();
        await conn.write(encodeReading(testReading(sensorId, seq)));
        sent++;
        const { frames, closed } = await readFrames(
          conn,
          (f) => f.some((frame) => frame.type === "ack" && frame.seq === seq),
          5_000,
        );
        if (closed || !frames.some((f) => f.type === "ack" && f.seq === seq)) {
          throw new Error(`steady sensor ${sensorId}: no ACK for seq ${seq} (closed: ${closed})`);
        }
        acked++;
        slowestMs = Math.max(slowestMs, performance.now() - started);
        await delay(100);
      }
    } finally {
      closeQuietly(conn);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await running;
      return { sent, acked, slowestMs };
    },
  };
}

/** Runs `task` over `items` with at most `width` at a time. */
async function pool<T>(items: readonly T[], width: number, task: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

/** `rss_mb` of every `stats` line so far. */
function rssSamples(lines: readonly string[]): number[] {
  return lines.flatMap((line) => {
    const match = / stats .*rss_mb=(\d+)/.exec(line);
    return match ? [Number(match[1])] : [];
  });
}

Deno.test(`gateway answers seeded hostile frames over mutual TLS per docs/protocol.md and keeps serving (seed ${SEED})`, async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-hostile-frames-" });
  const random = seededRandom(SEED);
  await using gateway = await startGateway(pki, dir, {
    args: [
      "--idle-timeout",
      String(IDLE_TIMEOUT_S),
      "--metrics-port",
      "0",
      "--stats-interval",
      "1",
    ],
  });
  const metrics = await metricsPort(gateway);
  const steady = steadySensor(gateway.port, pki, 3);
  const counts = new Map<string, number>();
  const answers = new Map<string, number>();
  try {
    const cases = hostileCases(random);
    await pool(cases, 32, async (item) => {
      const expected = expectedAnswer(item.bytes, HOSTILE_ID);
      const outcome = await play(gateway.port, pki, item, expected, random);
      assertAnswer(item, expected, outcome);
      counts.set(item.kind, (counts.get(item.kind) ?? 0) + 1);
      const answer = expected.error === undefined ? "open" : `ERROR ${expected.error}`;
      answers.set(answer, (answers.get(answer) ?? 0) + 1);
    });
    const served = await steady.stop();
    assert.equal(served.acked, served.sent, "the steady sensor got every ACK");
    assert.ok(served.sent >= 10, `the steady sensor kept sending (${served.sent})`);
    // Every hostile session is gone; only what is expected of the door remains.
    await waitUntil(
      async () => (await gatewayMetric(metrics, "connections_active")) === 0,
      5_000,
      "every session closed",
    );
    const rss = rssSamples(gateway.lines());
    const peak = Math.max(...rss);
    // A leak of the per-connection state (decoder, pending batch) over ~900
    // connections and ~3 MB of input would show; a runtime's own heap is ~60 MB.
    assert.ok(peak < 300, `gateway RSS stayed bounded: peak ${peak} MB (samples ${rss.join(",")})`);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const figures = [...counts].map(([kind, n]) => `${kind}=${n}`).join(" ") + "; answers: " +
      [...answers].sort().map(([answer, n]) => `${answer}=${n}`).join(" ");
    await Deno.stderr.write(
      new TextEncoder().encode(
        `hostile frames (seed ${SEED}): ${total} connections: ${figures}; steady sensor ` +
          `${served.acked}/${served.sent} ACKed, slowest ${Math.round(served.slowestMs)} ms; ` +
          `gateway RSS peak ${peak} MB\n`,
      ),
    );
  } catch (error) {
    await steady.stop().catch(() => {});
    throw error;
  } finally {
    const status = await gateway.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, gateway.output());
  }
});

Deno.test("gateway closes many silent connections at the idle timeout and holds --max-connections", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-slowloris-" });
  const limit = 48;
  await using gateway = await startGateway(pki, dir, {
    args: ["--idle-timeout", "1.5", "--max-connections", String(limit), "--metrics-port", "0"],
  });
  const metrics = await metricsPort(gateway);
  const silent: { conn: Deno.Conn; tls: boolean }[] = [];
  try {
    // Half never start TLS, half finish the handshake and then say nothing.
    for (let i = 0; i < limit / 2; i++) {
      silent.push({
        conn: await Deno.connect({ hostname: "127.0.0.1", port: gateway.port }),
        tls: false,
      });
      silent.push({ conn: await connectSensor(gateway.port, pki, 1 + (i % 3)), tls: true });
    }
    await waitUntil(
      async () => (await gatewayMetric(metrics, "connections_accepted")) >= limit / 2,
      5_000,
      "the TLS half accepted",
    );
    // The door is full: one more is refused at once, however well-behaved.
    const refusedBefore = await gatewayMetric(metrics, "connections_refused");
    const refused = await (async () => {
      try {
        const extra = await connectSensor(gateway.port, pki, 3);
        try {
          await extra.write(encodeReading(testReading(3, 1)));
          const { frames, closed } = await readFrames(extra, () => false, 2_000);
          return frames.length === 0 && closed;
        } finally {
          closeQuietly(extra);
        }
      } catch {
        return true;
      }
    })();
    assert.ok(refused, "a connection beyond --max-connections is refused");
    assert.ok((await gatewayMetric(metrics, "connections_refused")) > refusedBefore);

    // All of them are closed by the idle or handshake timeout, none lingers.
    const started = Date.now();
    await Promise.all(silent.map(async ({ conn, tls }) => {
      const { frames, closed } = tls
        ? await readFrames(conn, () => false, 6_000)
        : { frames: [], closed: (await conn.read(new Uint8Array(64)).catch(() => null)) === null };
      assert.ok(closed, "a silent connection is closed");
      if (tls) {
        const error = frames.find((f) => f.type === "error");
        assert.equal(error?.type === "error" && error.code, ERROR_CODES.idle);
      }
    }));
    const waited = Date.now() - started;
    assert.ok(waited < 6_000, `closed within ${waited} ms`);
    assert.ok((await gatewayMetric(metrics, "idle_timeouts")) >= limit / 2);

    // And the door is open again.
    await servedCheck(gateway.port, pki, 3)();
  } finally {
    for (const { conn } of silent) closeQuietly(conn);
    const status = await gateway.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, gateway.output());
  }
});
