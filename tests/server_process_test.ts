/**
 * `server.ts` as a real process with the permissions the launcher gives it: flags,
 * the first log line, HTTP and WebSocket on a real socket, the database
 * surviving a restart, graceful SIGTERM and the start-up failures.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { openStore } from "../server/store.ts";
import { ROOT, startProgram } from "./_process.ts";
import { postReadings } from "./_api.ts";

const TOKEN = "process-test-token";

async function tempSetup() {
  const dir = await Deno.makeTempDir({ prefix: "vigia-server-proc-" });
  const tokenFile = join(dir, "ingest.token");
  await Deno.writeTextFile(tokenFile, TOKEN + "\n");
  // startProgram adds these to the permissions the server's flags need.
  const allow = [`--allow-read=${dir}`, `--allow-write=${dir}`];
  return {
    dir,
    db: join(dir, "data", "readings.db"),
    tokenFile,
    allow,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function batch(from: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    id: 1 + (i % 3),
    seq: from + i,
    timestamp: Date.parse("2026-11-24T10:00:00.000Z") + (from + i) * 1000,
    temperature: 21.5,
    pressure: 1013.25,
    humidity: 45.1,
  }));
}

Deno.test("server.ts stores over HTTP, pushes live, stops on SIGTERM and keeps its data", async () => {
  await using temp = await tempSetup();
  const args = ["--port", "0", "--db", temp.db, "--token-file", temp.tokenFile];
  {
    await using server = await startProgram("server.ts", args, { allow: temp.allow });
    try {
      assert.equal(server.hostname, "127.0.0.1");
      assert.match(
        server.lines().find((l) => l.includes("server "))!,
        /listening on 127\.0\.0\.1:\d+$/,
      );
      const base = `http://127.0.0.1:${server.port}`;
      const socket = new WebSocket(`ws://127.0.0.1:${server.port}/api/live`);
      const pushed = new Promise<{ readings: unknown[] }>((resolve) => {
        socket.onmessage = (event) => resolve(JSON.parse(event.data));
      });
      const closed = new Promise((resolve) => (socket.onclose = resolve));
      await new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = reject;
      });
      const response = await postReadings(base, TOKEN, batch(0, 30));
      assert.deepEqual(await response.json(), { stored: 30, duplicates: 0 });
      assert.equal((await pushed).readings.length, 30);
      const readings = await (await fetch(`${base}/api/readings?limit=5`)).json();
      assert.equal(readings.length, 5);
      assert.equal(readings[0].seq, 29);
      const unauthorized = await fetch(`${base}/api/data`, { method: "POST", body: "{}" });
      assert.equal(unauthorized.status, 401);
      await unauthorized.body?.cancel();
      const health = await fetch(`${base}/healthz`);
      assert.deepEqual(await health.json(), { status: "ok" });
      const chart = await fetch(`${base}/vendor/chart.umd.min.js`);
      assert.equal(chart.status, 200, "Chart.js is readable under the server's permissions");
      await chart.body?.cancel();
      const status = await server.stop("SIGTERM");
      await closed;
      assert.equal(status.code, 0, server.output());
      assert.match(server.output(), /stopped/);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- server output ---\n${server.output()}`, {
        cause: error,
      });
    }
  }
  // Same database, new process: the readings and the cursor are still there.
  await using again = await startProgram("server.ts", args, { allow: temp.allow });
  const response = await fetch(`http://127.0.0.1:${again.port}/api/readings?limit=100`);
  assert.equal((await response.json()).length, 30);
  assert.ok(Number(response.headers.get("x-vigia-cursor")) >= 30);
  assert.equal((await again.stop("SIGINT")).code, 0);
});

Deno.test("server.ts answers a request in flight when SIGTERM arrives, then exits 0", async () => {
  await using temp = await tempSetup();
  const args = ["--port", "0", "--db", temp.db, "--token-file", temp.tokenFile];
  await using server = await startProgram("server.ts", args, { allow: temp.allow });
  const body = new TextEncoder().encode(JSON.stringify(batch(0, 10)));
  const half = body.length >> 1;
  const { promise: sentHalf, resolve: onHalf } = Promise.withResolvers<void>();
  const { promise: signalled, resolve: onSignalled } = Promise.withResolvers<void>();
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(body.subarray(0, half));
      onHalf();
      await signalled;
      controller.enqueue(body.subarray(half));
      controller.close();
    },
  });
  const response = fetch(`http://127.0.0.1:${server.port}/api/data`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: stream,
  });
  await sentHalf;
  await new Promise((resolve) => setTimeout(resolve, 100)); // the server is reading the body
  const status = server.stop("SIGTERM");
  await server.waitForLine(/shutting down/);
  onSignalled();
  const answer = await response;
  assert.equal(answer.status, 200, server.output());
  assert.deepEqual(await answer.json(), { stored: 10, duplicates: 0 });
  assert.equal((await status).code, 0, server.output());
  // And it was really committed.
  await using again = await startProgram("server.ts", args, { allow: temp.allow });
  const readings = await (await fetch(`http://127.0.0.1:${again.port}/api/readings`)).json();
  assert.equal(readings.length, 10);
});

Deno.test("server.ts --retain-days deletes older readings at start and keeps the rest", async () => {
  await using temp = await tempSetup();
  const now = Date.now();
  {
    using store = openStore(temp.db);
    const reading = (seq: number, timestamp: number) => ({
      sensorId: 1,
      seq,
      timestamp,
      temperature: 2150,
      pressure: 101325,
      humidity: 4510,
    });
    store.write([[
      reading(1, now - 3 * 86_400_000),
      reading(2, now - 2 * 86_400_000),
      reading(3, now),
    ]]);
  }
  await using server = await startProgram(
    "server.ts",
    ["--port", "0", "--db", temp.db, "--token-file", temp.tokenFile, "--retain-days", "1"],
    { allow: temp.allow },
  );
  await server.waitForLine(/retention deleted old readings readings=2/);
  const readings = await (await fetch(`http://127.0.0.1:${server.port}/api/readings`)).json();
  assert.deepEqual(readings.map((r: { seq: number }) => r.seq), [3]);
  const sensors = await (await fetch(`http://127.0.0.1:${server.port}/api/sensors`)).json();
  assert.equal(sensors[0].readings, 1);
});

Deno.test("server.ts exits 1 naming `deno task certs` when the token file is missing", async () => {
  await using temp = await tempSetup();
  await using server = await startProgram(
    "server.ts",
    ["--port", "0", "--db", temp.db, "--token-file", join(temp.dir, "missing.token")],
    { allow: temp.allow, waitFor: null },
  );
  const status = await server.status;
  assert.equal(status.code, 1, server.output());
  assert.match(server.output(), /missing\.token.*deno task certs/);
  assert.doesNotMatch(server.output(), /^\s+at /m, "no stack trace without --debug");
});

Deno.test("server.ts exits 2 for a bad flag and for a --db outside its permissions", async () => {
  await using temp = await tempSetup();
  await using bad = await startProgram("server.ts", ["--port", "http"], {
    allow: temp.allow,
    waitFor: null,
  });
  assert.equal((await bad.status).code, 2);
  assert.match(bad.output(), /Cannot parse --port: expected an integer, got "http"/);
  // Started by hand without the launcher's grant: it says what to add.
  const outside = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", `--allow-read=${temp.tokenFile}`, "server.ts", "--port", "0"]
      .concat(["--db", "/nonexistent-vigia/readings.db", "--token-file", temp.tokenFile]),
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const output = new TextDecoder().decode(outside.stderr);
  assert.equal(outside.code, 2, output);
  assert.match(output, /--db.* needs --allow-read=\/nonexistent-vigia/);
});
