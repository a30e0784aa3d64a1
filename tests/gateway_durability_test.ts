/**
 * What an ACK promises, checked against the spool file itself: a real
 * gateway process, raw TLS clients, kill -9, a full spool, a graceful stop,
 * and the connection bound.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeReading, ERROR_CODES, type Reading, readingId } from "../protocol/mod.ts";
import {
  closeQuietly,
  connectSensor,
  encodeReadings,
  hasAck,
  readFrames,
  startGateway,
} from "./_link.ts";
import { testReading } from "./_reading.ts";
import { testPki } from "./_pki.ts";
import { delay } from "./_faults.ts";
import { spooledReadings } from "./_spool.ts";

/** The spool in `dir`, read as the gateway would on its next start (a crash's WAL recovered). */
function spoolIn(dir: string): Reading[] {
  return spooledReadings(join(dir, "spool.db"), { readOnly: false });
}

Deno.test("gateway killed with SIGKILL keeps every reading it ACKed", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-gw-kill-" });
  try {
    const gateway = await startGateway(pki, dir);
    const acked: Reading[] = [];
    try {
      const conn = await connectSensor(gateway.port, pki, 1);
      try {
        for (let round = 0; round < 5; round++) {
          const readings = Array.from(
            { length: 200 },
            (_, i) => testReading(1, round * 200 + i + 1),
          );
          await conn.write(encodeReadings(readings));
          const last = readings.at(-1)!.seq;
          const { frames } = await readFrames(conn, (f) => hasAck(f, last), 5_000);
          assert.ok(hasAck(frames, last));
          acked.push(...readings);
        }
        // In flight when the process dies: not ACKed, so not promised.
        await conn.write(encodeReadings([testReading(1, 1001), testReading(1, 1002)]));
      } finally {
        await gateway.stop("SIGKILL");
        closeQuietly(conn);
      }
    } finally {
      await gateway.stop("SIGKILL");
    }
    const stored = new Set(spoolIn(dir).map(readingId));
    const missing = acked.filter((r) => !stored.has(readingId(r)));
    assert.deepEqual(missing, [], "every ACKed reading survived SIGKILL");

    // A restart finds them and reports the backlog.
    await using restarted = await startGateway(pki, dir);
    assert.match(restarted.output(), new RegExp(`backlog=(${acked.length}|${acked.length + 2})`));
    assert.equal((await restarted.stop("SIGTERM")).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gateway with a full spool ACKs what fits, then refuses with ERROR 4", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-gw-full-" });
  try {
    await using gateway = await startGateway(pki, dir, { args: ["--spool-max", "5"] });
    const conn = await connectSensor(gateway.port, pki, 1);
    try {
      await conn.write(encodeReadings(Array.from({ length: 8 }, (_, i) => testReading(1, i + 1))));
      const { frames, closed } = await readFrames(conn, () => false, 3_000);
      assert.deepEqual(frames[0], { type: "ack", sensorId: 1, seq: 5 });
      assert.equal(frames[1]?.type === "error" && frames[1].code, ERROR_CODES.overloaded);
      assert.ok(closed);
    } finally {
      closeQuietly(conn);
    }
    // Still full: a new connection's first reading is refused, nothing is dropped.
    const again = await connectSensor(gateway.port, pki, 2);
    try {
      await again.write(encodeReading(testReading(2, 1)));
      const { frames } = await readFrames(again, () => false, 3_000);
      assert.equal(frames[0]?.type === "error" && frames[0].code, ERROR_CODES.overloaded);
    } finally {
      closeQuietly(again);
    }
    assert.equal((await gateway.stop("SIGTERM")).code, 0);
    assert.equal(spoolIn(dir).length, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gateway on SIGTERM commits and ACKs what it holds, then exits 0", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-gw-term-" });
  try {
    // A long flush interval: the readings are still uncommitted when the signal lands.
    await using gateway = await startGateway(pki, dir, { args: ["--flush-ms", "5000"] });
    const conn = await connectSensor(gateway.port, pki, 1);
    try {
      await conn.write(encodeReadings([1, 2, 3].map((s) => testReading(1, s))));
      await delay(300);
      const exiting = gateway.stop("SIGTERM");
      const { frames, closed } = await readFrames(conn, () => false, 4_000);
      assert.deepEqual(frames, [{ type: "ack", sensorId: 1, seq: 3 }]);
      assert.ok(closed);
      const status = await exiting;
      assert.equal(status.code, 0, gateway.output());
    } finally {
      closeQuietly(conn);
    }
    assert.equal(spoolIn(dir).length, 3);
    assert.match(gateway.output(), /stopped .*readings=3/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gateway refuses connections beyond --max-connections and serves the rest", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-gw-max-" });
  try {
    await using gateway = await startGateway(pki, dir, { args: ["--max-connections", "2"] });
    const first = await connectSensor(gateway.port, pki, 1);
    const second = await connectSensor(gateway.port, pki, 2);
    try {
      await assert.rejects(async () => {
        const third = await connectSensor(gateway.port, pki, 3);
        try {
          await third.write(encodeReading(testReading(3, 1)));
          await third.read(new Uint8Array(16));
          await third.read(new Uint8Array(16));
        } finally {
          closeQuietly(third);
        }
      });
      for (const [conn, id] of [[first, 1], [second, 2]] as const) {
        await conn.write(encodeReading(testReading(id, 1)));
        const { frames } = await readFrames(conn, (f) => hasAck(f, 1), 3_000);
        assert.ok(hasAck(frames, 1));
      }
    } finally {
      closeQuietly(first);
      closeQuietly(second);
    }
    // Once a slot is free (the gateway saw the close), a new sensor gets in.
    let served = false;
    const deadline = Date.now() + 5_000;
    while (!served && Date.now() < deadline) {
      try {
        const later = await connectSensor(gateway.port, pki, 3);
        try {
          await later.write(encodeReading(testReading(3, 1)));
          served = hasAck((await readFrames(later, (f) => hasAck(f, 1), 3_000)).frames, 1);
        } finally {
          closeQuietly(later);
        }
      } catch {
        await delay(100);
      }
    }
    assert.ok(served, "a freed slot is usable again");
    assert.equal((await gateway.stop("SIGTERM")).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
