/**
 * Disks that fill up and files that cannot be written, for the gateway's
 * spool and the server's store, with real processes on real filesystems:
 * a tmpfs of a few hundred KiB (root only: CI runs as root; elsewhere these
 * tests are skipped with a message) and a read-only view of a directory.
 *
 * The promise under test is the same at both stages: what could not be
 * stored is never acknowledged (no ACK at the gateway, no 2xx at the
 * server), the error is clear (one line, naming the cause), the process
 * keeps going and recovers by itself once space returns.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  fetchAllReadings,
  finishedSummary,
  startGateway,
  startSensors,
  startServer,
  waitUntil,
} from "./_link.ts";
import { startProgram } from "./_process.ts";
import { testPki } from "./_pki.ts";
import {
  assertNothingLost,
  freePort,
  gatewayMetric,
  integrityCheck,
  metricsPort,
  readOnlyView,
  settle,
  spoolDrained,
  TINY_DISK_UNAVAILABLE,
  tinyDisk,
} from "./_faults.ts";
import { type ApiReading, apiReading, postReadings } from "./_api.ts";

if (TINY_DISK_UNAVAILABLE) {
  await Deno.stderr.write(
    new TextEncoder().encode(
      `faults_disk_test: disk-full tests skipped: ${TINY_DISK_UNAVAILABLE}\n`,
    ),
  );
}

const STACK_LINE = /^\s+at |stack=|\.ts:\d+:\d+/m;

Deno.test({
  name: "gateway whose spool disk is full refuses with ERROR 4, ACKs only what it stored, recovers",
  ignore: TINY_DISK_UNAVAILABLE !== undefined,
  async fn() {
    const pki = await testPki(3);
    await using disk = await tinyDisk(1024);
    const serverDir = await Deno.makeTempDir({ prefix: "vigia-faults-disk-srv-" });
    const serverPort = freePort();
    const count = 3_000;
    const seed = 41;
    try {
      const freeSpace = await disk.fill(160 * 1024);
      await using gateway = await startGateway(pki, disk.dir, {
        server: `http://127.0.0.1:${serverPort}`,
        args: ["--metrics-port", "0"],
      });
      const metrics = await metricsPort(gateway);
      const since = Date.now();
      await using sensors = await startSensors(pki, gateway.port, {
        sensors: 2,
        interval: 0.002,
        count,
        seed,
      });
      await waitUntil(
        async () => (await gatewayMetric(metrics, "commit_failures")) >= 2,
        15_000,
        "commits failing on the full disk",
      );
      const failure = await gateway.waitForLine(/ERROR Cannot commit/);
      assert.match(
        failure,
        /ERROR Cannot commit \d+ readings to the spool: database or disk is full$/,
      );
      assert.doesNotMatch(gateway.output(), STACK_LINE);
      await sensors.waitForLine(/gateway closed the connection sensor=\d code=4/);
      // Still alive and answering while the disk stays full.
      assert.ok((await gatewayMetric(metrics, "spool_depth")) > 0);

      // Space comes back, then the server: everything ACKed was stored, the rest resent.
      await freeSpace();
      await using server = await startServer(pki, serverDir, { port: serverPort });
      const summary = await finishedSummary(sensors);
      assert.equal(summary.acknowledged, 2 * count);
      assert.equal(summary.dropped, 0);
      await spoolDrained(metrics, 15_000);
      const run = { sensors: [1, 2], count, seed, since, until: Date.now() };
      const tally = await settle(server.port, run, 10_000);
      assertNothingLost(tally, "after the disk had space again");
      const failures = await gatewayMetric(metrics, "commit_failures");
      await Deno.stderr.write(
        new TextEncoder().encode(
          `spool disk full: ${failures} failed commits (not ACKed), stored ${tally.stored}, ` +
            `lost ${tally.lost}, duplicated ${tally.duplicated}\n`,
        ),
      );
      assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
      assert.equal(integrityCheck(join(disk.dir, "spool.db")), "ok");
    } finally {
      await Deno.remove(serverDir, { recursive: true });
    }
  },
});

function batch(first: number, size: number): ApiReading[] {
  return Array.from(
    { length: size },
    (_, i) =>
      apiReading({ id: 1 + (i % 4), seq: first + i, timestamp: 1_764_000_000_000 + first + i }),
  );
}

Deno.test({
  name:
    "server whose disk is full answers 503 with a JSON error, stores only what it answered 200 for, recovers",
  ignore: TINY_DISK_UNAVAILABLE !== undefined,
  async fn() {
    const pki = await testPki(3);
    await using disk = await tinyDisk(1024);
    const freeSpace = await disk.fill(300 * 1024);
    await using server = await startServer(pki, disk.dir);
    const post = (readings: ApiReading[]) =>
      postReadings(`http://127.0.0.1:${server.port}`, pki.tokenValue, readings);
    const accepted: ApiReading[] = [];
    let refused: ApiReading[] | undefined;
    let refusal: Response | undefined;
    for (let first = 0; first < 200_000 && refused === undefined; first += 1_000) {
      const readings = batch(first, 1_000);
      const response = await post(readings);
      if (response.status === 200) {
        accepted.push(...readings);
        await response.body?.cancel();
      } else {
        refused = readings;
        refusal = response;
      }
    }
    assert.ok(refusal, "the disk filled up");
    assert.equal(refusal.status, 503, "a full disk is 'unavailable', not an internal error");
    const body = await refusal.json();
    assert.deepEqual(Object.keys(body), ["error"]);
    assert.match(body.error, /^Cannot store readings: /);
    assert.doesNotMatch(body.error, STACK_LINE);
    assert.match(refusal.headers.get("retry-after") ?? "", /^\d+$/);
    // Again: the same answer, and nothing of it stored.
    const again = await post(refused!);
    assert.equal(again.status, 503);
    await again.body?.cancel();
    const log = server.output();
    assert.match(log, /ERROR .*database or disk is full/);
    assert.doesNotMatch(log, STACK_LINE, "the log says why in one line, without a stack");
    const stored = await fetchAllReadings(server.port);
    assert.equal(stored.length, accepted.length, "exactly what was answered 200 is stored");

    // Space again: the same batch is stored, nothing lost or doubled.
    await freeSpace();
    const retried = await post(refused!);
    assert.equal(retried.status, 200);
    assert.deepEqual(await retried.json(), { stored: refused!.length, duplicates: 0 });
    assert.equal(
      (await fetchAllReadings(server.port)).length,
      accepted.length + refused!.length,
    );
    await Deno.stderr.write(
      new TextEncoder().encode(
        `store disk full: ${accepted.length} readings answered 200 and stored, the next ` +
          `${refused!.length} answered 503 twice and stored after space returned\n`,
      ),
    );
    assert.equal((await server.stop("SIGTERM")).code, 0, server.output());
    assert.equal(integrityCheck(join(disk.dir, "readings.db")), "ok");
  },
});

Deno.test("a spool or store on a read-only filesystem stops the program at start, naming the file", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-faults-readonly-" });
  try {
    // Databases that exist and were closed cleanly.
    await (await startGateway(pki, dir)).stop("SIGTERM");
    await (await startServer(pki, dir)).stop("SIGTERM");
    await using view = await readOnlyView(dir);
    const allow = [`--allow-read=${pki.dir},${view.dir}`, `--allow-write=${view.dir}`];
    for (
      const [script, file, args] of [
        ["gateway.ts", "spool.db", ["--certs", pki.dir, "--spool", join(view.dir, "spool.db")]],
        ["server.ts", "readings.db", [
          "--db",
          join(view.dir, "readings.db"),
          "--token-file",
          pki.token,
        ]],
        ["server.ts", "new.db", ["--db", join(view.dir, "new.db"), "--token-file", pki.token]],
      ] as const
    ) {
      await using program = await startProgram(script, ["--port", "0", ...args], {
        allow,
        waitFor: null,
      });
      const status = await program.status;
      const output = program.output();
      assert.equal(status.code, 1, output);
      const fatal = output.split("\n").filter((line) => / ERROR /.test(line));
      assert.equal(fatal.length, 1, output);
      assert.match(fatal[0]!, new RegExp(`fatal: Cannot open .*${file.replace(".", "\\.")}`));
      assert.doesNotMatch(output, STACK_LINE);
      assert.doesNotMatch(output, /listening on/, "never listens without its database");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
