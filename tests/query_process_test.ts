/**
 * query.ts as operators run it: a real server.ts process (temporary SQLite
 * database, the test PKI's ingest token) fed crafted readings through
 * `POST /api/data`, and real query.ts processes polling it every 0.2 s.
 * Synchronisation is by the query client's `--debug` "polled ... cursor=C"
 * lines, never by bare sleeps, except to let time pass for staleness.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type RunningProgram, startProgram } from "./_process.ts";
import { type TestPki, testPki } from "./_pki.ts";
import { startServer } from "./_link.ts";
import { apiReading, postReadings } from "./_api.ts";

const T0 = Date.UTC(2026, 10, 24, 10, 21, 10);
const FAST = ["--interval", "0.2", "--debug"];

interface Values {
  temperature?: number | null;
  pressure?: number | null;
  humidity?: number | null;
}

/** A reading as the API takes it; `at` in epoch ms. */
/** Sensor `id`'s reading `seq`, a second after the previous one, as the API takes it. */
function reading(id: number, seq: number, values: Values = {}, at = T0 + seq * 1000) {
  return apiReading({ id, seq, timestamp: new Date(at).toISOString(), ...values });
}

/** A running server with its database directory, and how to feed it. */
class TestServer implements AsyncDisposable {
  server: RunningProgram;
  readonly dir: string;
  readonly #pki: TestPki;
  readonly #args: string[];

  private constructor(server: RunningProgram, dir: string, pki: TestPki, args: string[]) {
    [this.server, this.dir, this.#pki, this.#args] = [server, dir, pki, args];
  }

  /** Starts a server on a new database, with `thresholds` as its `--thresholds` file if given. */
  static async start(thresholds?: unknown): Promise<TestServer> {
    const pki = await testPki(2);
    const dir = await Deno.makeTempDir({ prefix: "vigia-query-" });
    const args: string[] = [];
    if (thresholds !== undefined) {
      const file = join(dir, "server-thresholds.json");
      await Deno.writeTextFile(file, JSON.stringify(thresholds));
      args.push("--thresholds", file);
    }
    const server = await startServer(pki, dir, { args });
    return new TestServer(server, dir, pki, args);
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  /** Stops the server and starts it again on the same port and database. */
  async restart(): Promise<void> {
    await this.stop();
    this.server = await startServer(this.#pki, this.dir, {
      port: this.server.port,
      args: this.#args,
    });
  }

  async stop(): Promise<void> {
    const status = await this.server.stop();
    assert.equal(status.code, 0, this.server.output());
  }

  /** Stores readings; returns the server's cursor after them. */
  async post(...readings: ReturnType<typeof reading>[]): Promise<number> {
    const response = await postReadings(this.url, this.#pki.tokenValue, readings);
    assert.equal(response.status, 200, await response.text());
    const head = await fetch(`${this.url}/api/readings?limit=1`);
    await head.body?.cancel();
    return Number(head.headers.get("x-vigia-cursor"));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server[Symbol.asyncDispose]();
    await Deno.remove(this.dir, { recursive: true });
  }
}

function startQuery(server: TestServer, args: string[]): Promise<RunningProgram> {
  return startProgram("query.ts", ["--server", server.url, ...args], {
    waitFor: /following http/,
    // Any zone but UTC: the lines must read the same everywhere.
    env: { TZ: "Pacific/Chatham" },
  });
}

/** Waits until the query client has polled up to `cursor` (its `--debug` lines). */
async function polledUpTo(query: RunningProgram, cursor: number, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  const seen = () =>
    query.lines().some((line) => {
      const match = /DEBUG polled .*cursor=(\d+)/.exec(line);
      return match !== null && Number(match[1]) >= cursor;
    });
  while (!seen()) {
    if (Date.now() > deadline) {
      throw new Error(`query did not poll up to cursor ${cursor}:\n${query.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits for `count` more polls after the current moment. */
async function morePolls(query: RunningProgram, count: number) {
  const polls = () => query.lines().filter((line) => /DEBUG polled/.test(line)).length;
  const target = polls() + count;
  const deadline = Date.now() + 10_000;
  while (polls() < target) {
    if (Date.now() > deadline) throw new Error(`query stopped polling:\n${query.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The event lines (stdout) about one sensor. */
function eventsOf(query: RunningProgram, sensor: number): string[] {
  return query.lines().filter((line) =>
    /^\[/.test(line) ? line.includes(` sensor ${sensor}:`) : line.startsWith(`{"event"`) &&
      JSON.parse(line).sensor === sensor
  );
}

async function withFailureOutput<T>(programs: RunningProgram[], body: () => Promise<T>) {
  try {
    return await body();
  } catch (error) {
    // The processes' output, only when a test fails.
    if (error instanceof Error) {
      for (const program of programs) error.message += `\n--- output ---\n${program.output()}`;
    }
    throw error;
  }
}

Deno.test("query prints exactly one ALERT and one RECOVERED for an excursion", async () => {
  await using server = await TestServer.start();
  await using query = await startQuery(server, [...FAST, "--stale", "0"]);
  await withFailureOutput([query], async () => {
    const steps = [[20], [150.61], [151, 149], [90], [24.1], [25, 24]];
    let seq = 0;
    for (const temperatures of steps) {
      const readings = temperatures.map((temperature) => reading(7, ++seq, { temperature }));
      await polledUpTo(query, await server.post(...readings));
    }
    await morePolls(query, 3);
    assert.deepEqual(eventsOf(query, 7), [
      "[2026-11-24 10:21:12] ALERT sensor 7: temperature 150.61 °C above 85.00",
      "[2026-11-24 10:21:16] RECOVERED sensor 7: temperature 24.10 °C back in range (-40.00…85.00)",
    ]);
  });
});

Deno.test("query does not flap while a value oscillates across a limit inside the deadband", async () => {
  await using server = await TestServer.start();
  await using query = await startQuery(server, [...FAST, "--stale", "0"]);
  await withFailureOutput([query], async () => {
    // Default deadband of pressure: 1 % of 400 hPa = 4 hPa, so the alarm clears at 1196 or below.
    const pressures = [1199, 1201, 1199, 1200.5, 1197, 1202, 1196.01, 1200];
    let seq = 0;
    for (const pressure of pressures) {
      await polledUpTo(query, await server.post(reading(8, ++seq, { pressure })));
    }
    assert.deepEqual(eventsOf(query, 8), [
      "[2026-11-24 10:21:12] ALERT sensor 8: pressure 1201.00 hPa above 1200.00",
    ]);
    await polledUpTo(query, await server.post(reading(8, ++seq, { pressure: 1196 })));
    assert.deepEqual(eventsOf(query, 8).slice(1), [
      "[2026-11-24 10:21:19] RECOVERED sensor 8: pressure 1196.00 hPa back in range (800.00…1200.00)",
    ]);
  });
});

Deno.test("query alerts on the server's ranges and deadband, as the dashboard draws them", async () => {
  await using server = await TestServer.start({ temperature: { min: 10, max: 30, deadband: 2 } });
  await using query = await startQuery(server, [...FAST, "--stale", "0"]);
  await withFailureOutput([query], async () => {
    assert.match(query.output(), /thresholds=server/);
    let seq = 0;
    for (const temperature of [25, 30.5, 28.01, 31, 28, 29]) {
      await polledUpTo(query, await server.post(reading(6, ++seq, { temperature })));
    }
    assert.deepEqual(eventsOf(query, 6), [
      "[2026-11-24 10:21:12] ALERT sensor 6: temperature 30.50 °C above 30.00",
      "[2026-11-24 10:21:15] RECOVERED sensor 6: temperature 28.00 °C back in range (10.00…30.00)",
    ]);
  });
});

Deno.test("query reports a silent sensor as STALE once, and its return", async () => {
  await using server = await TestServer.start();
  // Sensor 3 is known from /api/sensors at start; sensor 4 first reports afterwards.
  await server.post(reading(3, 1));
  await using query = await startQuery(server, [...FAST, "--stale", "1"]);
  await withFailureOutput([query], async () => {
    await polledUpTo(query, await server.post(reading(4, 1)));
    await query.waitForLine(/STALE sensor 3: no reading for [12] s$/, 5_000);
    await query.waitForLine(/STALE sensor 4: no reading for [12] s$/, 5_000);
    await morePolls(query, 3);
    await polledUpTo(query, await server.post(reading(4, 2)));
    assert.equal(eventsOf(query, 3).length, 1, "one STALE line for sensor 3");
    const sensor4 = eventsOf(query, 4).map((line) =>
      line.replace(/^\[[^\]]+\] /, "").replace(/for \d+ s$/, "for N s")
    );
    assert.deepEqual(sensor4, [
      "STALE sensor 4: no reading for N s",
      "RECOVERED sensor 4: reporting again",
    ]);
    // The reporting line carries the new reading's own timestamp.
    assert.match(eventsOf(query, 4)[1]!, /^\[2026-11-24 10:21:12\]/);
  });
});

Deno.test("query never judges a stored reading twice, and judges late readings once", async () => {
  await using server = await TestServer.start();
  // Stored before the start: followed from the head, only the newest per sensor is judged.
  await server.post(reading(9, 1, { humidity: 120 }), reading(9, 2, { humidity: 50 }));
  await using query = await startQuery(server, [...FAST, "--stale", "0", "--json"]);
  await withFailureOutput([query], async () => {
    await polledUpTo(query, await server.post(reading(9, 3, { humidity: 101 })));
    await polledUpTo(query, await server.post(reading(9, 4, { humidity: 40 })));
    // A retransmission is not stored again, so it is not judged again.
    await server.post(reading(9, 3, { humidity: 101 }));
    await morePolls(query, 3);
    // Late, with an old timestamp (a gateway draining its spool): a time cursor would miss it.
    const late = reading(9, 0, { humidity: -5 }, T0 - 3_600_000);
    await polledUpTo(query, await server.post(late));
    await polledUpTo(query, await server.post(reading(9, 5, { humidity: 45 })));
    await morePolls(query, 3);
    const events = eventsOf(query, 9).map((line) => JSON.parse(line));
    assert.deepEqual(
      events.map((e) => `${e.event} ${e.seq} ${e.value} ${e.timestamp}`),
      [
        "alert 3 101 2026-11-24T10:21:13.000Z",
        "recovered 4 40 2026-11-24T10:21:14.000Z",
        "alert 0 -5 2026-11-24T09:21:10.000Z",
        "recovered 5 45 2026-11-24T10:21:15.000Z",
      ],
    );
    assert.deepEqual(events[0], {
      event: "alert",
      sensor: 9,
      quantity: "humidity",
      value: 101,
      unit: "%",
      limit: "max",
      threshold: 100,
      timestamp: "2026-11-24T10:21:13.000Z",
      seq: 3,
    });
  });
});

Deno.test("query keeps its cursor while the server goes away and comes back", async () => {
  await using server = await TestServer.start();
  await using query = await startQuery(server, [...FAST, "--stale", "0"]);
  await withFailureOutput([query, server.server], async () => {
    await server.post(reading(5, 1, { temperature: 99 }));
    await polledUpTo(query, await server.post(reading(5, 2, { temperature: 20 })));
    await server.stop();
    await query.waitForLine(/server unreachable: .*; retrying/, 5_000);
    await server.restart();
    // Posted as soon as the server is back, quite likely before the client
    // reconnects: a client that restarted from the head would miss it.
    await server.post(reading(5, 3, { temperature: 99 }));
    await query.waitForLine(/server reachable again after/, 10_000);
    await query.waitForLine(/ALERT sensor 5: .* 99\.00 °C above 85\.00$/, 5_000);
    await morePolls(query, 3);
    const lines = query.lines();
    assert.equal(lines.filter((line) => /server unreachable/.test(line)).length, 1);
    assert.equal(lines.filter((line) => /reachable again/.test(line)).length, 1);
    assert.deepEqual(eventsOf(query, 5).map((line) => line.replace(/^\[[^\]]+\] /, "")), [
      "ALERT sensor 5: temperature 99.00 °C above 85.00",
      "RECOVERED sensor 5: temperature 20.00 °C back in range (-40.00…85.00)",
      "ALERT sensor 5: temperature 99.00 °C above 85.00",
    ]);
    const status = await query.stop();
    assert.equal(status.code, 0);
  });
});

/** Runs `query.ts --once` to its end. */
async function once(server: TestServer, args: string[] = [], allow: string[] = []) {
  const query = await startProgram("query.ts", ["--server", server.url, "--once", ...args], {
    waitFor: null,
    allow,
  });
  const status = await query.status;
  return { code: status.code, lines: query.lines(), output: query.output() };
}

Deno.test("query --once exits 0 when all is well and 1 when an alarm is active", async () => {
  await using server = await TestServer.start();
  const now = Date.now();
  assert.equal((await once(server)).code, 0, "no sensors: nothing wrong");

  await server.post(reading(1, 1, { temperature: 30 }, now));
  let result = await once(server);
  assert.equal(result.code, 0, result.output);

  await server.post(reading(2, 1, { temperature: -45 }, now));
  result = await once(server);
  assert.equal(result.code, 1, result.output);
  assert.deepEqual(result.lines.filter((line) => line.startsWith("[")), [
    `[${new Date(now).toISOString().slice(0, 19).replace("T", " ")}] ` +
    "ALERT sensor 2: temperature -45.00 °C below -40.00",
  ]);

  await server.post(reading(2, 2, { temperature: 20 }, now + 1));
  assert.equal((await once(server)).code, 0, "the newest reading decides");

  // A reading that does not measure a quantity: nothing is judged for it.
  await server.post(reading(2, 3, { temperature: null, humidity: null, pressure: 5000 }, now + 2));
  result = await once(server);
  assert.equal(result.code, 1, result.output);
  assert.deepEqual(result.lines.filter((line) => line.startsWith("[")), [
    `[${new Date(now + 2).toISOString().slice(0, 19).replace("T", " ")}] ` +
    "ALERT sensor 2: pressure 5000.00 hPa above 1200.00",
  ]);
  await server.post(reading(2, 4, { temperature: null, humidity: null }, now + 3));
  assert.equal((await once(server)).code, 0, "an absent quantity raises nothing");

  // A thresholds file wins over the server's ranges.
  const file = join(server.dir, "thresholds.json");
  await Deno.writeTextFile(file, JSON.stringify({ temperature: { min: 0, max: 25 } }));
  result = await once(server, ["--thresholds", file, "--json"], [`--allow-read=${file}`]);
  assert.equal(result.code, 1, result.output);
  const event = JSON.parse(result.lines.find((line) => line.startsWith("{"))!);
  assert.equal(event.sensor, 1);
  assert.equal(event.threshold, 25);

  // A sensor whose newest reading is older than --stale.
  await server.post(reading(3, 1, {}, now - 120_000));
  result = await once(server, ["--stale", "60"]);
  assert.equal(result.code, 1, result.output);
  assert.match(result.output, /STALE sensor 3: no reading for 1\d\d s/);
  assert.equal((await once(server, ["--stale", "0"])).code, 0, "--stale 0 disables staleness");
});

Deno.test("query --once exits 1 with one line when the server is unreachable, 2 for bad flags", async () => {
  await using server = await TestServer.start();
  const bad = await once(server, ["--interval", "never"]);
  assert.equal(bad.code, 2, bad.output);
  assert.match(bad.output, /Cannot parse --interval: expected a number, got "never"/);
  const missing = await once(server, ["--thresholds", "/nonexistent/t.json"], [
    "--allow-read=/nonexistent",
  ]);
  assert.equal(missing.code, 2, missing.output);
  assert.match(missing.output, /Cannot read thresholds file "\/nonexistent\/t.json"/);
  await server.stop();
  const down = await once(server);
  assert.equal(down.code, 1, down.output);
  const errors = down.lines.filter((line) => !line.startsWith("Warning"));
  assert.equal(errors.length, 1, down.output);
  assert.match(errors[0]!, /fatal: Cannot reach http:\/\/127\.0\.0\.1:\d+: Connection refused/);
});
