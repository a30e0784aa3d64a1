/**
 * sensor.ts as a real process against a scripted TLS peer on 127.0.0.1
 * that plays the gateway's part of docs/protocol.md and misbehaves on cue:
 * ACKs that stop (as after a CRC failure), ERROR 4, a long outage.
 */
import assert from "node:assert/strict";
import {
  encodeAck,
  encodeError,
  ERROR_CODES,
  FrameDecoder,
  FrameError,
  type Reading,
} from "../protocol/mod.ts";
import { describeConnectFailure } from "../sensor/link.ts";
import { closeQuietly, finishedSummary, parseSummary, startSensors } from "./_link.ts";
import { testPki } from "./_pki.ts";
import { delay, freePort } from "./_faults.ts";

type Script = (
  conn: Deno.TlsConn,
  index: number,
  readings: AsyncGenerator<Reading>,
) => Promise<void>;

/** A TLS listener with the gateway's certificate running `script` per connection. */
async function scriptedGateway(script: Script, port = 0) {
  const pki = await testPki(3);
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port,
    cert: await Deno.readTextFile(pki.gatewayCert),
    key: await Deno.readTextFile(pki.gatewayKey),
  });
  const conns: Deno.TlsConn[] = [];
  const handlers: Promise<void>[] = [];
  const serving = (async () => {
    let index = 0;
    try {
      for await (const conn of listener) {
        conns.push(conn);
        handlers.push(
          script(conn, index++, readingsOf(conn)).catch(() => {}).finally(() => closeQuietly(conn)),
        );
      }
    } catch { /* listener closed */ }
  })();
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      conns.forEach(closeQuietly);
      await serving;
      await Promise.all(handlers);
    },
  };
}

async function* readingsOf(conn: Deno.TlsConn): AsyncGenerator<Reading> {
  const decoder = new FrameDecoder();
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return;
    for (const frame of decoder.push(buffer.subarray(0, n))) {
      if (frame instanceof FrameError) throw frame;
      if (frame.type === "reading") yield frame;
    }
  }
}

Deno.test("sensor.ts reconnects after its ACK timeout and resends from the oldest unacknowledged reading", async () => {
  const pki = await testPki(3);
  const firstSeqOnConnection: number[] = [];
  const acked = new Set<number>();
  const peer = await scriptedGateway(async (conn, index, readings) => {
    let first = true;
    for await (const reading of readings) {
      if (first) firstSeqOnConnection.push(reading.seq);
      first = false;
      // First connection: ACK up to 5, then silence (as after a CRC failure).
      if (index === 0 && reading.seq > 5) continue;
      await conn.write(encodeAck(reading.sensorId, reading.seq));
      acked.add(reading.seq);
    }
  });
  try {
    await using sensor = await startSensors(pki, peer.port, {
      interval: 0.01,
      count: 20,
      ackTimeout: 0.5,
      seed: 1,
    });
    const summary = await finishedSummary(sensor);
    assert.equal(summary.acknowledged, 20);
    assert.ok(summary.ack_timeouts! >= 1);
    assert.ok(summary.resent! >= 1);
    assert.equal(summary.sent, 20);
    assert.deepEqual(firstSeqOnConnection.slice(0, 2), [1, 6]);
  } finally {
    await peer.close();
  }
});

Deno.test("sensor.ts keeps its readings through ERROR 4 and delivers them on a later connection", async () => {
  const pki = await testPki(3);
  const received: number[] = [];
  const peer = await scriptedGateway(async (conn, index, readings) => {
    for await (const reading of readings) {
      if (index === 0) {
        await conn.write(encodeError(ERROR_CODES.overloaded, "spool full"));
        return;
      }
      received.push(reading.seq);
      await conn.write(encodeAck(reading.sensorId, reading.seq));
    }
  });
  try {
    await using sensor = await startSensors(pki, peer.port, { interval: 0.01, count: 10, seed: 2 });
    const summary = await finishedSummary(sensor);
    assert.equal(summary.acknowledged, 10);
    assert.match(sensor.output(), /errors=4:1/);
    assert.equal(received[0], 1, "the refused reading came back first");
  } finally {
    await peer.close();
  }
});

Deno.test("sensor.ts drops and counts its oldest readings when its buffer fills during an outage", async () => {
  const pki = await testPki(3);
  const port = freePort();
  await using sensor = await startSensors(pki, port, {
    interval: 0.01,
    count: 30,
    buffer: 10,
    window: 5,
    seed: 3,
  });
  await delay(1_000); // all 30 measured, 20 dropped
  const received: number[] = [];
  const peer = await scriptedGateway(async (conn, _index, readings) => {
    for await (const reading of readings) {
      received.push(reading.seq);
      await conn.write(encodeAck(reading.sensorId, reading.seq));
    }
  }, port);
  try {
    const summary = await finishedSummary(sensor);
    assert.equal(summary.dropped, 20);
    assert.equal(summary.acknowledged, 10);
    assert.deepEqual(received, Array.from({ length: 10 }, (_, i) => 21 + i));
  } finally {
    await peer.close();
  }
});

Deno.test("sensor.ts prints its summary and exits 0 on SIGTERM", async () => {
  const pki = await testPki(3);
  const peer = await scriptedGateway(async (conn, _index, readings) => {
    for await (const reading of readings) {
      await conn.write(encodeAck(reading.sensorId, reading.seq));
    }
  });
  try {
    await using sensor = await startSensors(pki, peer.port, { interval: 0.01, sensors: 2 });
    await sensor.waitForLine(/connected sensor=2/);
    await delay(300);
    const status = await sensor.stop("SIGTERM");
    assert.equal(status.code, 0, sensor.output());
    const summary = parseSummary(await sensor.waitForLine(/summary/));
    assert.ok(summary.acknowledged! > 0);
    assert.equal(summary.sensors, 2);
    assert.equal(summary.generated, summary.acknowledged! + summary.pending! + summary.dropped!);
    assert.ok(summary.sent! <= summary.generated!);
  } finally {
    await peer.close();
  }
});

Deno.test("describeConnectFailure() tells a certificate mismatch from an unreachable gateway", () => {
  assert.match(
    describeConnectFailure("invalid peer certificate: BadSignature"),
    /not signed by this sensor's CA/,
  );
  assert.match(
    describeConnectFailure(
      "unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
    ),
    /not signed by this sensor's CA/,
  );
  assert.match(
    describeConnectFailure("certificate has expired (CERT_HAS_EXPIRED)"),
    /outside its validity period/,
  );
  assert.match(
    describeConnectFailure(
      "Hostname/IP does not match certificate's altnames: Host: vm. is not in the cert's " +
        "altnames: DNS:localhost (ERR_TLS_CERT_ALTNAME_INVALID)",
    ),
    /does not name the host/,
  );
  assert.match(
    describeConnectFailure("received fatal alert: DecryptError"),
    /refused this sensor's/,
  );
  assert.equal(describeConnectFailure("Connection refused (os error 111)"), "gateway unreachable");
});
