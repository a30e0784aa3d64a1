/**
 * The gateway's door, as a real process with real TLS on 127.0.0.1: who
 * gets in, what each malformed or hostile input earns (the ERROR code of
 * docs/protocol.md, or no connection at all), and that a well-behaved sensor is
 * served all along.
 */
import assert from "node:assert/strict";
import { crc16, encodeReading, ERROR_CODES, FRAME_TYPES } from "../protocol/mod.ts";
import {
  closeQuietly,
  concatBytes,
  connectSensor,
  encodeReadings,
  errorCode,
  hasAck,
  readFrames,
  servedCheck,
  startGateway,
  waitUntil,
} from "./_link.ts";
import { testReading } from "./_reading.ts";
import { clientCert, testPki } from "./_pki.ts";
import { gatewayMetric, metricsPort } from "./_faults.ts";

function corrupt(frame: Uint8Array): Uint8Array {
  const copy = frame.slice();
  copy[copy.length - 1]! ^= 0xff;
  return copy;
}

Deno.test("gateway answers every hostile input as documented and keeps serving sensors", async (t) => {
  const pki = await testPki(3);
  const otherPki = await testPki(1); // a second, unrelated CA
  const dir = await Deno.makeTempDir({ prefix: "vigia-gw-sec-" });
  await using gateway = await startGateway(pki, dir, {
    args: ["--idle-timeout", "1.5", "--metrics-port", "0"],
  });
  const metrics = await metricsPort(gateway);
  const port = gateway.port;
  /** A well-behaved sensor 3 gets its reading ACKed. */
  const assertServing = servedCheck(port, pki, 3);
  /** `attempt` rejects (the handshake fails), the gateway counts it, and sensor 3 is served. */
  const assertHandshakeFails = async (attempt: () => Promise<void>) => {
    const before = await gatewayMetric(metrics, "tls_rejected");
    await assert.rejects(attempt);
    await waitUntil(
      async () => (await gatewayMetric(metrics, "tls_rejected")) > before,
      3_000,
      "tls_rejected",
    );
    await assertServing();
  };

  try {
    await t.step("a sensor with a plant certificate gets an ACK", assertServing);

    await t.step("no client certificate: the handshake fails", async () => {
      await assertHandshakeFails(async () => {
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port,
          caCerts: [await Deno.readTextFile(pki.caCert)],
        });
        try {
          await conn.handshake();
          await conn.write(encodeReading(testReading(1, 1)));
          const { frames } = await readFrames(conn, () => false, 2_000);
          assert.deepEqual(frames, []);
          await conn.read(new Uint8Array(16)); // the alert surfaces here at the latest
        } finally {
          closeQuietly(conn);
        }
      });
    });

    await t.step("a certificate from another CA: the handshake fails", async () => {
      await assertHandshakeFails(async () => {
        const conn = await connectSensor(port, pki, 1, {
          cert: await Deno.readTextFile(otherPki.sensorCert(1)),
          key: await Deno.readTextFile(otherPki.sensorKey(1)),
        });
        try {
          await conn.write(encodeReading(testReading(1, 1)));
          await conn.read(new Uint8Array(16));
          await conn.read(new Uint8Array(16));
        } finally {
          closeQuietly(conn);
        }
      });
    });

    await t.step("plaintext frames: never read as frames, connection closed", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(encodeReading(testReading(1, 1)));
        const bytes: number[] = [];
        const buffer = new Uint8Array(1024);
        for (;;) {
          const n = await conn.read(buffer).catch(() => null);
          if (n === null) break;
          bytes.push(...buffer.subarray(0, n));
        }
        // At most a TLS alert record (content type 0x15), never a frame ("SD").
        assert.notEqual(bytes[0], 0x53);
      } finally {
        closeQuietly(conn);
      }
      await assertServing();
    });

    await t.step("a plant certificate whose CN is not sensor-<id>: ERROR 2", async () => {
      for (const cn of ["sensor-007", "gateway"]) {
        const { cert, key } = await clientCert(dir, cn, pki);
        const conn = await connectSensor(port, pki, 7, { cert, key });
        try {
          const { frames, closed } = await readFrames(conn, () => false, 3_000);
          assert.equal(errorCode(frames), ERROR_CODES.identity, cn);
          assert.ok(closed);
        } finally {
          closeQuietly(conn);
        }
      }
      assert.match(gateway.output(), /CN \\?"sensor-007\\?" does not name a sensor/);
      await assertServing();
    });

    await t.step("a reading for another sensor id: earlier ones ACKed, then ERROR 2", async () => {
      const conn = await connectSensor(port, pki, 1);
      try {
        await conn.write(encodeReadings([testReading(1, 1), testReading(2, 2)]));
        const { frames, closed } = await readFrames(conn, () => false, 3_000);
        assert.deepEqual(frames[0], { type: "ack", sensorId: 1, seq: 1 });
        assert.equal(errorCode(frames), ERROR_CODES.identity);
        assert.ok(closed);
      } finally {
        closeQuietly(conn);
      }
      await assertServing();
    });

    await t.step("a corrupt CRC: dropped, and no ACK goes past it on that connection", async () => {
      const conn = await connectSensor(port, pki, 1);
      const before = await gatewayMetric(metrics, "crc_failures");
      try {
        await conn.write(encodeReadings([testReading(1, 101)]));
        await conn.write(corrupt(encodeReading(testReading(1, 102))));
        await conn.write(encodeReadings([testReading(1, 103), testReading(1, 104)]));
        const first = await readFrames(conn, (f) => hasAck(f, 101), 3_000);
        assert.deepEqual(first.frames, [{ type: "ack", sensorId: 1, seq: 101 }]);
        // 103 and 104 were committed by now (flush 50 ms); no ACK may name them.
        const later = await readFrames(conn, () => false, 500);
        assert.equal(later.closed, false, "the connection stays open");
        assert.deepEqual(later.frames, []);
        assert.equal(await gatewayMetric(metrics, "crc_failures"), before + 1);
      } finally {
        closeQuietly(conn);
      }
      // The sensor's ACK timeout: reconnect and resend from the lost one.
      const again = await connectSensor(port, pki, 1);
      try {
        await again.write(encodeReadings([102, 103, 104].map((s) => testReading(1, s))));
        const { frames } = await readFrames(again, (f) => hasAck(f, 104), 3_000);
        assert.ok(hasAck(frames, 104));
      } finally {
        closeQuietly(again);
      }
    });

    await t.step("ten corrupt frames in a row: ERROR 3", async () => {
      const conn = await connectSensor(port, pki, 1);
      try {
        const bad = Array.from({ length: 10 }, (_, i) => corrupt(encodeReading(testReading(1, i))));
        await conn.write(concatBytes(bad));
        const { frames, closed } = await readFrames(conn, () => false, 3_000);
        assert.equal(errorCode(frames), ERROR_CODES.corrupt);
        assert.ok(closed);
      } finally {
        closeQuietly(conn);
      }
      await assertServing();
    });

    await t.step("bad magic: ERROR 1 and close", async () => {
      const conn = await connectSensor(port, pki, 1);
      try {
        await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
        const { frames, closed } = await readFrames(conn, () => false, 3_000);
        assert.equal(errorCode(frames), ERROR_CODES.framing);
        assert.ok(closed);
      } finally {
        closeQuietly(conn);
      }
      await assertServing();
    });

    await t.step("a timestamp out of range: ERROR 1, not silently skipped", async () => {
      const frame = encodeReading(testReading(1, 1));
      // Timestamp i64 at payload offset 8: 2^62 ms, far past the ±8.64e15 limit.
      frame.set([0x40, 0, 0, 0, 0, 0, 0, 0], 6 + 8);
      const crc = crc16(frame, 0, frame.length - 2);
      frame.set([crc >> 8, crc & 0xff], frame.length - 2);
      const conn = await connectSensor(port, pki, 1);
      try {
        await conn.write(frame);
        const { frames, closed } = await readFrames(conn, () => false, 3_000);
        const error = frames.find((f) => f.type === "error");
        assert.equal(error?.type === "error" && error.code, ERROR_CODES.framing);
        assert.match(error?.type === "error" ? error.reason : "", /timestamp/);
        assert.ok(closed);
      } finally {
        closeQuietly(conn);
      }
    });

    await t.step("an unknown frame type is ignored and the connection goes on", async () => {
      const unknown = new Uint8Array([0x53, 0x44, 0x01, 0x7f, 0x00, 0x01, 0xaa, 0, 0]);
      const crc = crc16(unknown, 0, 7);
      unknown.set([crc >> 8, crc & 0xff], 7);
      assert.equal(unknown[3], 0x7f);
      assert.notEqual(unknown[3], FRAME_TYPES.reading);
      const conn = await connectSensor(port, pki, 1);
      try {
        await conn.write(unknown);
        await conn.write(encodeReading(testReading(1, 500)));
        const { frames } = await readFrames(conn, (f) => hasAck(f, 500), 3_000);
        assert.ok(hasAck(frames, 500));
      } finally {
        closeQuietly(conn);
      }
    });

    await t.step("a slowloris client gets ERROR 5 while others are served", async () => {
      const slow = await connectSensor(port, pki, 2);
      const frame = encodeReading(testReading(2, 1));
      let stop = false;
      const trickle = (async () => {
        for (let i = 0; i < frame.length - 1 && !stop; i++) {
          await slow.write(frame.subarray(i, i + 1)).catch(() => (stop = true));
          await new Promise((resolve) => setTimeout(resolve, 150));
        }
      })();
      try {
        await assertServing();
        const { frames, closed } = await readFrames(slow, () => false, 5_000);
        assert.equal(errorCode(frames), ERROR_CODES.idle);
        assert.ok(closed);
      } finally {
        stop = true;
        await trickle;
        closeQuietly(slow);
      }
      await assertServing();
    });

    await t.step(
      "a TCP client that never starts TLS is dropped after the handshake timeout",
      async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          const started = Date.now();
          const n = await conn.read(new Uint8Array(64)).catch(() => null);
          assert.equal(n, null);
          const waited = Date.now() - started;
          assert.ok(waited >= 1_000 && waited < 5_000, `closed after ${waited} ms`);
        } finally {
          closeQuietly(conn);
        }
        await assertServing();
      },
    );

    await t.step("a silent TLS connection gets ERROR 5 after the idle timeout", async () => {
      const conn = await connectSensor(port, pki, 2);
      try {
        const started = Date.now();
        const { frames, closed } = await readFrames(conn, () => false, 5_000);
        assert.equal(errorCode(frames), ERROR_CODES.idle);
        assert.ok(closed);
        assert.ok(Date.now() - started >= 1_000);
      } finally {
        closeQuietly(conn);
      }
    });
  } finally {
    const status = await gateway.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, gateway.output());
  }
});
