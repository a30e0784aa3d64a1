// deno-lint-ignore-file no-console -- printing figures is what a benchmark is for
/**
 * Server benchmark: ingestion through the real `server.ts` process and read
 * latency on a large store. Prints the figures and one summary line:
 *
 * ```
 * BENCH server ingest_readings_per_s=… readings_p50_ms=… readings_p99_ms=… sensor_p50_ms=… sensor_p99_ms=… after_p50_ms=… after_p99_ms=… sensor_after_p50_ms=… sensor_after_p99_ms=… series_day_ms=… rows=…
 * ```
 *
 * 1. Store commits in-process, 1,000 readings per transaction, with
 *    `synchronous=FULL` (what the server runs) and `NORMAL`, to show what
 *    the fsync per commit costs.
 * 2. `POST /api/data` with batches of `--batch` (1,000; a gateway with
 *    readings waiting sends up to 10,000) from `--clients` concurrent
 *    clients (default 16, as many gateways) to a fresh server process
 *    (bodies built and encoded before the clock starts). Every answer waits
 *    for its fsync, so fewer clients mean fewer readings per commit.
 * 3. A store of `--rows` readings (100 sensors at 1 Hz, written directly
 *    through the store module), then a server on it:
 *    `GET /api/readings?limit=100`, `?sensor=ID&limit=100`, both with
 *    `after=` a cursor anywhere in the store (p50/p99 over `--requests`
 *    sequential requests) and `/api/series` over the last 24 h. On
 *    PostgreSQL the store is built in bulk, a week partition at a time
 *    (bench/postgres.ts), and `--reuse` keeps it for the next run, so a
 *    20 M-row build and its reads can run as separate steps.
 *
 * With `--db postgres://…` every part runs on that PostgreSQL database
 * instead of SQLite files (part 1 is skipped; `--instances N` servers share
 * the database in part 2, the clients spread over them). Its readings are
 * deleted before each part: give it a scratch database.
 *
 * Flags: see {@linkcode USAGE}. Defaults keep `deno task bench` to a couple
 * of minutes (`--rows 1000000`); the figures in the README use
 * `--rows 10000000`.
 *
 * Over 300 lines on purpose: the three parts above are one script, so
 * their figures come out of one run as one BENCH line; each part is a few
 * small functions, on SQLite or PostgreSQL alike.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { readingToJson } from "../protocol/mod.ts";
import { isPostgresUrl } from "../server/storage.ts";
import { openStore } from "../server/store.ts";
import { startProgram } from "../tests/_process.ts";
import { sendUntilTaken } from "../gateway/ingest_answer.ts";
import { emptyPostgres, loadPostgres, postgresReadings } from "./postgres.ts";
import { loadWeeks, readingAt, READINGS_SQL, SENSORS, START } from "./server_readings.ts";
import { exitIfHelpAsked } from "./usage.ts";

const USAGE = `
Usage: deno task bench server -- [--ingest 1000000] [--batch 1000] [--clients 16]
         [--rows 1000000] [--requests 2000] [--runs 3] [--db postgres://… [--instances 1] [--reuse]]

  --ingest N     readings POSTed per ingestion run
  --batch N      readings per POST, 1 to 10000 (a gateway sends up to 10,000 when readings wait)
  --clients N    concurrent POST clients
  --rows N       readings in the store the read latencies are measured on
  --requests N   sequential GET requests per latency figure (0: only build the store)
  --runs N       runs per figure; the median is printed
  --db URL       a scratch PostgreSQL database instead of SQLite files (its readings are deleted)
  --instances N  servers sharing the PostgreSQL database during ingestion
  --reuse        keep the PostgreSQL store a previous run built when it holds --rows readings
                 (with --ingest 0, which would empty it)
`;
exitIfHelpAsked(USAGE);

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    ingest: { type: "string", default: "1000000" },
    batch: { type: "string", default: "1000" },
    clients: { type: "string", default: "16" },
    rows: { type: "string", default: "1000000" },
    requests: { type: "string", default: "2000" },
    runs: { type: "string", default: "3" },
    db: { type: "string" },
    instances: { type: "string", default: "1" },
    reuse: { type: "boolean", default: false },
  },
  strict: false, // `deno task bench -- ...` passes every benchmark's flags
});
const INGEST = Number(flags.ingest);
const CLIENTS = Number(flags.clients);
const ROWS = Number(flags.rows);
const REQUESTS = Number(flags.requests);
const RUNS = Number(flags.runs);
const PG_URL = typeof flags.db === "string" ? flags.db : undefined;
if (PG_URL !== undefined && !isPostgresUrl(PG_URL)) {
  throw new Error(`Cannot run: --db must be a postgres:// URL, got "${PG_URL.slice(0, 20)}…"`);
}
const INSTANCES = PG_URL === undefined ? 1 : Number(flags.instances);
const REUSE = flags.reuse === true;
const BATCH = 1000;
const POST_BATCH = Number(flags.batch);
if (!Number.isInteger(POST_BATCH) || POST_BATCH < 1 || POST_BATCH > 10_000) {
  throw new Error(`Cannot run: --batch must be 1 to 10000, got "${flags.batch}"`);
}
const TOKEN = "bench-token";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
}

async function withTemp<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-bench-server-" });
  try {
    return await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function startServer(dir: string, db: string) {
  const tokenFile = join(dir, "ingest.token");
  await Deno.writeTextFile(tokenFile, TOKEN);
  return await startProgram("server.ts", ["--port", "0", "--db", db, "--token-file", tokenFile], {
    allow: [`--allow-read=${dir}`, `--allow-write=${dir}`],
    timeoutMs: 120_000,
  });
}

/** Part 1: raw store commits of 1,000 readings, FULL against NORMAL. */
function storeCommits(dir: string, synchronous: "FULL" | "NORMAL", count: number): number {
  using store = openStore(join(dir, `commits-${synchronous}.db`), { synchronous });
  const started = performance.now();
  for (let k = 0; k < count; k += BATCH) {
    const batch = Array.from({ length: BATCH }, (_, i) => readingAt(k + i));
    store.write([batch]);
  }
  return count / ((performance.now() - started) / 1000);
}

/** Part 2: readings per second stored through POST /api/data. */
async function ingest(dir: string, bodies: Uint8Array<ArrayBuffer>[]): Promise<number> {
  if (PG_URL !== undefined) await emptyPostgres(PG_URL);
  const db = PG_URL ?? join(dir, "ingest.db");
  await using stack = new AsyncDisposableStack();
  const servers = [];
  for (let i = 0; i < INSTANCES; i++) servers.push(stack.use(await startServer(dir, db)));
  const server = servers[0]!;
  const urls = servers.map((s) => `http://127.0.0.1:${s.port}/api/data`);
  const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
  let next = 0;
  let retried = 0;
  let busy = 0;
  const client = async (_: unknown, index: number) => {
    const url = urls[index % urls.length]!;
    while (next < bodies.length) {
      const body = bodies[next++]!;
      // A full write queue answers 503 + Retry-After; wait as the gateway does.
      const response = await sendUntilTaken(
        () => fetch(url, { method: "POST", headers, body }),
        () => busy++,
      );
      if (response.status !== 200) throw new Error(`POST answered ${response.status}`);
      // Deno's fetch resends a request whose connection was reset
      // (denoland/deno#35610); the server dedupes, so count on its side.
      if ((await response.json()).duplicates > 0) retried++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - started) / 1000;
  const sensors = await (await fetch(`http://127.0.0.1:${server.port}/api/sensors`)).json();
  const stored = sensors.reduce((n: number, s: { readings: number }) => n + s.readings, 0);
  if (stored !== INGEST) throw new Error(`stored ${stored} readings, not ${INGEST}`);
  if (retried > 0) console.log(`  (${retried} requests were resent by fetch and deduplicated)`);
  if (busy > 0) console.log(`  (${busy} answers were 503 + Retry-After: the write queue was full)`);
  await Promise.all(servers.map((s) => s.stop()));
  return stored / seconds;
}

/**
 * Part 3 on PostgreSQL: in bulk, a week partition at a time, with its
 * summaries (bench/postgres.ts); with `--reuse`, kept when a previous run
 * built it (NaN seconds).
 */
async function buildPostgres(url: string, rows: number): Promise<number> {
  if (REUSE && await postgresReadings(url) === rows) return NaN;
  const started = performance.now();
  await loadPostgres(url, loadWeeks(rows), READINGS_SQL);
  return (performance.now() - started) / 1000;
}

/** Part 3: builds the large store directly (much faster than over HTTP). */
function buildStore(path: string, rows: number): number {
  const started = performance.now();
  using store = openStore(path, { synchronous: "NORMAL" });
  const group = 50_000;
  for (let k = 0; k < rows; k += group) {
    const size = Math.min(group, rows - k);
    store.write([Array.from({ length: size }, (_, i) => readingAt(k + i))]);
    store.flushSummary();
  }
  return (performance.now() - started) / 1000;
}

async function latencies(url: string, count: number, query: (i: number) => string) {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const response = await fetch(url + query(i));
    if (response.status !== 200) throw new Error(`GET ${query(i)} answered ${response.status}`);
    await response.arrayBuffer();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

const fmt = (ms: number) => ms.toFixed(2);
const thousands = (n: number) => Math.round(n).toLocaleString("en-US");

await withTemp(async (dir) => {
  console.log(
    `server benchmark (${navigator.hardwareConcurrency} cores, ${
      PG_URL === undefined ? "SQLite" : `PostgreSQL, ${INSTANCES} instance(s)`
    })`,
  );

  // Part 1 and 2 (skipped with --ingest 0).
  const full: number[] = [];
  const normal: number[] = [];
  const rates: number[] = [];
  if (INGEST > 0 && PG_URL === undefined) {
    for (let run = 0; run < RUNS; run++) {
      full.push(storeCommits(dir, "FULL", 200_000));
      normal.push(storeCommits(dir, "NORMAL", 200_000));
      for (const name of await Array.fromAsync(Deno.readDir(dir))) {
        await Deno.remove(join(dir, name.name));
      }
    }
    console.log(
      `  store, one commit per 1,000 readings: synchronous=FULL ${thousands(median(full))}/s, ` +
        `NORMAL ${thousands(median(normal))}/s (median of ${RUNS})`,
    );
  }
  if (INGEST > 0) {
    // Encoded once: the client's own work should not be what is measured.
    const encoder = new TextEncoder();
    const bodies: Uint8Array<ArrayBuffer>[] = [];
    for (let k = 0; k < INGEST; k += POST_BATCH) {
      const parts: string[] = [];
      for (let i = k; i < Math.min(INGEST, k + POST_BATCH); i++) {
        parts.push(readingToJson(readingAt(i)));
      }
      bodies.push(encoder.encode(`[${parts.join(",")}]`));
    }
    for (let run = 0; run < RUNS; run++) {
      await withTemp(async (runDir) => rates.push(await ingest(runDir, bodies)));
    }
    console.log(
      `  POST /api/data, ${thousands(INGEST)} readings in batches of ${
        thousands(POST_BATCH)
      }, ${CLIENTS} clients, ${INSTANCES} server(s): ` +
        `${thousands(median(rates))} readings/s (median of ${RUNS}: ${
          rates.map(thousands).join(", ")
        })`,
    );
  }
  const ingestRate = rates.length > 0 ? median(rates) : NaN;

  const db = PG_URL ?? join(dir, "large.db");
  const buildSeconds = PG_URL === undefined
    ? buildStore(db, ROWS)
    : await buildPostgres(PG_URL, ROWS);
  const end = START + Math.ceil(ROWS / SENSORS) * 1000;
  console.log(
    Number.isNaN(buildSeconds)
      ? `  kept the store of ${thousands(ROWS)} readings a previous run built (--reuse)`
      : `  built a store of ${thousands(ROWS)} readings in ${buildSeconds.toFixed(1)} s`,
  );
  if (REQUESTS === 0) return;
  await using server = await startServer(dir, db);
  const base = `http://127.0.0.1:${server.port}`;
  await latencies(base, 200, () => "/api/readings?limit=100"); // warm the page cache
  const latest = await latencies(base, REQUESTS, () => "/api/readings?limit=100");
  const sensor = await latencies(
    base,
    REQUESTS,
    (i) => `/api/readings?sensor=${1 + ((i * 37) % SENSORS)}&limit=100`,
  );
  // The store's cursors are 1…ROWS on both backends: pages from anywhere in it.
  const cursorAt = (i: number) => 1 + ((i * 104_729) % ROWS);
  const after = await latencies(
    base,
    REQUESTS,
    (i) => `/api/readings?after=${cursorAt(i)}&limit=100`,
  );
  const sensorAfter = await latencies(
    base,
    REQUESTS,
    (i) => `/api/readings?sensor=${1 + ((i * 37) % SENSORS)}&after=${cursorAt(i)}&limit=100`,
  );
  const since = end - 86_400_000;
  const series = await latencies(base, 20, () => `/api/series?since=${since}&until=${end}`);
  const seriesHour = await latencies(
    base,
    20,
    () => `/api/series?since=${end - 3_600_000}&until=${end}`,
  );
  const seriesSensor = await latencies(
    base,
    20,
    (i) => `/api/series?since=${since}&until=${end}&sensor=${1 + i}`,
  );
  const sensors = await latencies(base, 20, () => "/api/sensors");
  const dayRows = Math.min(ROWS, SENSORS * 86_400);
  console.log(
    `  GET /api/readings?limit=100             p50 ${fmt(latest.p50)} ms, p99 ${
      fmt(latest.p99)
    } ms`,
  );
  console.log(
    `  GET /api/readings?sensor=ID&limit=100   p50 ${fmt(sensor.p50)} ms, p99 ${
      fmt(sensor.p99)
    } ms`,
  );
  console.log(
    `  GET /api/readings?after=C&limit=100     p50 ${fmt(after.p50)} ms, p99 ${fmt(after.p99)} ms`,
  );
  console.log(
    `  GET /api/readings?sensor=ID&after=C&limit=100 p50 ${fmt(sensorAfter.p50)} ms, p99 ${
      fmt(sensorAfter.p99)
    } ms`,
  );
  console.log(
    `  GET /api/series, last 24 h, all sensors  p50 ${fmt(series.p50)} ms, p99 ${
      fmt(series.p99)
    } ms ` +
      `(${thousands(dayRows)} readings in the window)`,
  );
  console.log(`  GET /api/series, last 24 h, one sensor   p50 ${fmt(seriesSensor.p50)} ms`);
  console.log(`  GET /api/series, last hour, all sensors  p50 ${fmt(seriesHour.p50)} ms`);
  console.log(`  GET /api/sensors                         p50 ${fmt(sensors.p50)} ms`);
  await server.stop();
  console.log(
    `BENCH server ingest_readings_per_s=${Math.round(ingestRate)} ` +
      `store_full_per_s=${Math.round(median(full))} store_normal_per_s=${
        Math.round(median(normal))
      } ` +
      `readings_p50_ms=${fmt(latest.p50)} readings_p99_ms=${fmt(latest.p99)} ` +
      `sensor_p50_ms=${fmt(sensor.p50)} sensor_p99_ms=${fmt(sensor.p99)} ` +
      `after_p50_ms=${fmt(after.p50)} after_p99_ms=${fmt(after.p99)} ` +
      `sensor_after_p50_ms=${fmt(sensorAfter.p50)} sensor_after_p99_ms=${fmt(sensorAfter.p99)} ` +
      `series_day_ms=${fmt(series.p50)} series_day_p99_ms=${fmt(series.p99)} rows=${ROWS}`,
  );
});
