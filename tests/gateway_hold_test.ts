/**
 * A full spool that the server is draining: the gateway holds a sensor's
 * bytes unread until the forwarder frees room, instead of refusing it with
 * ERROR 4 (which would cost a reconnect and a handshake at both ends); a
 * hold that outlasts its bound ends in ERROR 4 as before. Real gateway
 * process, real mutual TLS, and an ingest peer that answers when told.
 */
import assert from "node:assert/strict";
import { ERROR_CODES } from "../protocol/mod.ts";
import {
  closeQuietly,
  connectSensor,
  encodeReadings,
  errorCode,
  hasAck,
  readFrames,
  startGateway,
  waitUntil,
} from "./_link.ts";
import { testReading } from "./_reading.ts";
import { delay, gatewayMetric, metricsPort } from "./_faults.ts";
import { type TestPki, testPki } from "./_pki.ts";

/** An ingest peer: answers 2xx at once until `hold()`, then only when `release()`d. */
function startIngestPeer() {
  let holding = false;
  let released = Promise.withResolvers<void>();
  let answered = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json() as unknown[];
    if (holding) await released.promise;
    answered++;
    return Response.json({ stored: body.length, duplicates: 0 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get answered() {
      return answered;
    },
    hold: () => {
      holding = true;
      released = Promise.withResolvers<void>();
    },
    release: () => {
      holding = false;
      released.resolve();
    },
    close: async () => {
      released.resolve();
      await server.shutdown();
    },
  };
}

/**
 * Runs `body` against a real gateway whose spool takes 100 readings, in
 * front of an ingest peer; the gateway must then stop with exit 0.
 */
async function withSmallSpool(
  body: (
    gateway: { pki: TestPki; peer: IngestPeer; port: number; metrics: number },
  ) => Promise<void>,
): Promise<void> {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-gw-hold-" });
  const peer = startIngestPeer();
  try {
    await using gateway = await startGateway(pki, dir, {
      server: peer.url,
      args: ["--spool-max", "100", "--metrics-port", "0"],
    });
    await body({ pki, peer, port: gateway.port, metrics: await metricsPort(gateway) });
    assert.equal((await gateway.stop()).code, 0);
  } finally {
    await peer.close();
    await Deno.remove(dir, { recursive: true });
  }
}

type IngestPeer = ReturnType<typeof startIngestPeer>;

const readings = (from: number, to: number) =>
  encodeReadings(Array.from({ length: to - from + 1 }, (_, i) => testReading(1, from + i)));

/**
 * Sensor 1's readings 1…10 stored and answered (the server is taking rows),
 * then the server held and 11…`upTo` ACKed: spooled, posted, not yet answered.
 */
async function postedUnanswered(conn: Deno.Conn, peer: IngestPeer, upTo: number) {
  await conn.write(readings(1, 10));
  assert.ok(hasAck((await readFrames(conn, (f) => hasAck(f, 10))).frames, 10));
  await waitUntil(() => peer.answered === 1, 5_000, "the first 2xx");
  peer.hold();
  await conn.write(readings(11, upTo));
  assert.ok(hasAck((await readFrames(conn, (f) => hasAck(f, upTo))).frames, upTo));
}

Deno.test("gateway holds a sensor while its full spool drains, then ACKs without ERROR 4", () =>
  withSmallSpool(async ({ pki, peer, port, metrics }) => {
    const conn = await connectSensor(port, pki, 1);
    try {
      await postedUnanswered(conn, peer, 100);
      await conn.write(readings(101, 120)); // 20 more than the spool has room for
      const released = delay(500).then(() => {
        peer.release();
        return performance.now();
      });
      const { frames } = await readFrames(conn, (f) => f.length > 0);
      const answeredAt = performance.now();
      // Held: nothing at all (no ERROR 4) until the server took rows, then the ACK.
      assert.deepEqual(frames, [{ type: "ack", sensorId: 1, seq: 120 }]);
      assert.ok(answeredAt >= await released, "ACKed only after the spool drained");
      assert.equal(await gatewayMetric(metrics, "room_holds"), 1);
      assert.equal(await gatewayMetric(metrics, "overload_refusals"), 0);
    } finally {
      closeQuietly(conn);
    }
  }));

Deno.test("gateway refuses a held sensor with ERROR 4 when the spool does not drain in time", () =>
  withSmallSpool(async ({ pki, peer, port, metrics }) => {
    const conn = await connectSensor(port, pki, 1);
    try {
      await postedUnanswered(conn, peer, 95);
      const sent = Date.now();
      await conn.write(readings(96, 120));
      const { frames } = await readFrames(conn, (f) => errorCode(f) !== undefined, 8_000);
      const waited = Date.now() - sent;
      // What fits (96..110: rows 1..10 left the spool with the first 2xx) is
      // stored and ACKed before the refusal; the rest stays on the sensor.
      assert.ok(hasAck(frames, 110), JSON.stringify(frames));
      assert.equal(errorCode(frames), ERROR_CODES.overloaded);
      assert.ok(waited >= 1_500, `held ${waited} ms before the refusal`);
      assert.equal(await gatewayMetric(metrics, "room_holds"), 1);
      assert.equal(await gatewayMetric(metrics, "overload_refusals"), 1);
    } finally {
      closeQuietly(conn);
    }
    peer.release();
  }));

Deno.test("a sensor arriving while another is held queues behind it, even if its readings fit", () =>
  withSmallSpool(async ({ pki, peer, port, metrics }) => {
    const first = await connectSensor(port, pki, 1);
    const second = await connectSensor(port, pki, 2);
    try {
      await postedUnanswered(first, peer, 90); // 80 in the spool
      await first.write(readings(91, 120)); // 30 more: past the spool's 100, held
      await waitUntil(
        async () => await gatewayMetric(metrics, "room_holds") === 1,
        5_000,
        "a hold",
      );
      // Five readings would fit (85 of 100), but the first sensor was there first.
      await second.write(encodeReadings([1, 2, 3, 4, 5].map((seq) => testReading(2, seq))));
      const released = delay(500).then(() => {
        peer.release();
        return performance.now();
      });
      const { frames } = await readFrames(second, (f) => hasAck(f, 5));
      assert.ok(performance.now() >= await released, "the later sensor went first");
      assert.deepEqual(frames, [{ type: "ack", sensorId: 2, seq: 5 }]);
      assert.ok(hasAck((await readFrames(first, (f) => hasAck(f, 120))).frames, 120));
      assert.equal(await gatewayMetric(metrics, "room_holds"), 2);
      assert.equal(await gatewayMetric(metrics, "overload_refusals"), 0);
    } finally {
      closeQuietly(first);
      closeQuietly(second);
    }
  }));
