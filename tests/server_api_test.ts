/**
 * The server's HTTP API in-process: `createHandler` over a store, called
 * with `Request`s, for every status and validation rule of
 * docs/http-api.md. Every test runs twice, on a temporary SQLite file and on
 * a fresh database of a throwaway PostgreSQL cluster (tests/_postgres.ts):
 * both backends must answer the same.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_THRESHOLDS, parseThresholds } from "../lib/thresholds.ts";
import { createHandler, type HandlerOptions } from "../server/handler.ts";
import { openStorage, type Storage } from "../server/storage.ts";
import { seededRandom } from "./_random.ts";
import { type ApiReading, apiReading } from "./_api.ts";
import { POSTGRES_MISSING, sharedPostgres, stopSharedPostgres } from "./_postgres.ts";

const TOKEN = "test-token-0123456789";
const BASE = "http://127.0.0.1";
const T0 = Date.parse("2026-11-24T10:00:00.000Z");

type Backend = "sqlite" | "postgres";
type Setup = (options?: Partial<HandlerOptions>) => ReturnType<typeof setupOn>;

/** Registers `fn` once per backend, each with a `setup` that opens a fresh store of it. */
function test(name: string, fn: (setup: Setup) => Promise<void>): void {
  for (const backend of ["sqlite", "postgres"] as const) {
    Deno.test({
      name: `${backend}: ${name}`,
      ignore: backend === "postgres" && POSTGRES_MISSING !== undefined,
      fn: () => fn((options) => setupOn(backend, options)),
    });
  }
}

async function openTestStorage(backend: Backend, dir: string): Promise<Storage> {
  if (backend === "sqlite") return await openStorage(join(dir, "readings.db"));
  return await openStorage(await (await sharedPostgres()).createDatabase());
}

async function setupOn(backend: Backend, options: Partial<HandlerOptions> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "vigia-server-api-" });
  const store = await openTestStorage(backend, dir);
  const handler = createHandler(store, { token: TOKEN, now: () => T0, ...options });
  const request = (path: string, init?: RequestInit) => handler(new Request(BASE + path, init));
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    request("/api/data", {
      method: "POST",
      headers: {
        authorization: `Bearer ${TOKEN}`,
        "content-type": "application/json",
        ...headers,
      },
      body: typeof body === "string" || body instanceof Uint8Array
        ? body as BodyInit
        : JSON.stringify(body),
    });
  const getJson = async (path: string) => {
    const response = await request(path);
    return { response, body: await response.json() };
  };
  return {
    backend,
    store,
    handler,
    request,
    post,
    getJson,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function assertError(response: Response, status: number, pattern?: RegExp) {
  assert.equal(response.status, status);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  const body = await response.json();
  assert.equal(typeof body.error, "string");
  if (pattern) assert.match(body.error, pattern);
  return body;
}

async function storedCount(store: Storage): Promise<number> {
  return (await store.latestPage({ limit: 10_000 })).readings.length;
}

// --- POST /api/data -------------------------------------------------------

test("POST /api/data stores one reading and GET /api/readings returns it byte for byte", async (setup) => {
  await using api = await setup();
  const response = await api.post(apiReading());
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { stored: 1, duplicates: 0 });
  // The server's own time on the request, from which a gateway tells the network's share.
  assert.match(response.headers.get("server-timing") ?? "", /^store;dur=\d+\.\d$/);
  const text = await (await api.request("/api/readings")).text();
  assert.equal(
    text,
    '[{"id":7,"seq":1,"timestamp":"2026-11-24T10:00:00.000Z","temperature":21.5,"pressure":1013.25,"humidity":45.1}]',
  );
});

test("POST /api/data stores a reading with absent quantities, and every read answers them as null", async (setup) => {
  await using api = await setup();
  const batch = [
    apiReading({ seq: 1, pressure: null }),
    apiReading({ seq: 2, temperature: null, humidity: null }),
  ];
  assert.deepEqual(await (await api.post(batch)).json(), { stored: 2, duplicates: 0 });
  assert.equal(
    await (await api.request("/api/readings")).text(),
    '[{"id":7,"seq":2,"timestamp":"2026-11-24T10:00:00.000Z","temperature":null,"pressure":1013.25,"humidity":null},' +
      '{"id":7,"seq":1,"timestamp":"2026-11-24T10:00:00.000Z","temperature":21.5,"pressure":null,"humidity":45.1}]',
  );
  assert.deepEqual((await api.getJson("/api/readings?after=0")).body, batch);
  const sensors = (await api.getJson("/api/sensors")).body;
  assert.deepEqual(sensors[0].last, batch[1]);
  const series = (await api.getJson(`/api/series?since=${T0}&until=${T0 + 10_000}&bucket=10`))
    .body.series;
  assert.deepEqual(series[0].points, [{
    t: "2026-11-24T10:00:00.000Z",
    count: 2,
    temperature: { min: 21.5, avg: 21.5, max: 21.5 },
    pressure: { min: 1013.25, avg: 1013.25, max: 1013.25 },
    humidity: { min: 45.1, avg: 45.1, max: 45.1 },
  }]);
  await api.post([
    apiReading({ seq: 3, timestamp: T0 + 20_000, temperature: null, humidity: null }),
  ]);
  const later =
    (await api.getJson(`/api/series?since=${T0 + 20_000}&until=${T0 + 30_000}&bucket=10`))
      .body.series;
  assert.deepEqual(later[0].points[0].temperature, { min: null, avg: null, max: null });
  assert.deepEqual(later[0].points[0].humidity, { min: null, avg: null, max: null });
});

test("POST /api/data stores a batch and counts a repeated batch as duplicates", async (setup) => {
  await using api = await setup();
  const batch = Array.from({ length: 50 }, (_, i) => apiReading({ id: i % 5, seq: i }));
  assert.deepEqual(await (await api.post(batch)).json(), { stored: 50, duplicates: 0 });
  assert.deepEqual(await (await api.post(batch)).json(), { stored: 0, duplicates: 50 });
  const mixed = [...batch.slice(0, 10), apiReading({ id: 99, seq: 1 })];
  assert.deepEqual(await (await api.post(mixed)).json(), { stored: 1, duplicates: 10 });
  assert.equal(await storedCount(api.store), 51);
});

test("POST /api/data counts a reading repeated inside one batch once", async (setup) => {
  await using api = await setup();
  const response = await api.post([apiReading(), apiReading(), apiReading({ seq: 2 })]);
  assert.deepEqual(await response.json(), { stored: 2, duplicates: 1 });
});

test("POST /api/data treats (id, seq, timestamp) as the identity, not the values", async (setup) => {
  await using api = await setup();
  await api.post(apiReading());
  // Same identity, other values: a retransmission, not a new reading.
  assert.deepEqual(await (await api.post(apiReading({ temperature: 30 }))).json(), {
    stored: 0,
    duplicates: 1,
  });
  // Same id and seq at another time (a sensor that restarted its counter): new.
  assert.deepEqual(
    await (await api.post(apiReading({ timestamp: "2026-11-24T10:00:01.000Z" }))).json(),
    { stored: 1, duplicates: 0 },
  );
});

test("POST /api/data accepts epoch milliseconds and zone offsets, answers ISO UTC", async (setup) => {
  await using api = await setup();
  await api.post([
    apiReading({ seq: 1, timestamp: T0 + 1 }),
    apiReading({ seq: 2, timestamp: "2026-11-24T11:00:00.002+01:00" }),
  ]);
  const { body } = await api.getJson("/api/readings");
  assert.deepEqual(body.map((r: ApiReading) => r.timestamp), [
    "2026-11-24T10:00:00.002Z",
    "2026-11-24T10:00:00.001Z",
  ]);
});

test("POST /api/data keeps values exact in hundredths", async (setup) => {
  await using api = await setup();
  const values = [
    { temperature: -74.56, pressure: 0.01, humidity: 100 },
    { temperature: 0.1, pressure: 1013.25, humidity: 0.3 },
    { temperature: 21474836.47, pressure: -21474836.48, humidity: 33.33 },
  ];
  await api.post(values.map((v, seq) => apiReading({ seq, ...v })));
  const { body } = await api.getJson("/api/readings");
  for (const r of body) {
    const { temperature, pressure, humidity } = r;
    assert.deepEqual({ temperature, pressure, humidity }, values[r.seq]);
  }
});

test("POST /api/data answers 401 without the right bearer token", async (setup) => {
  await using api = await setup();
  for (
    const authorization of [
      undefined,
      "",
      "Bearer",
      "Bearer wrong",
      `Bearer ${TOKEN}x`,
      `Basic ${btoa(`user:${TOKEN}`)}`,
      `Bearer ${TOKEN.slice(0, -1)}`,
    ]
  ) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (authorization !== undefined) headers.authorization = authorization;
    const response = await api.request("/api/data", {
      method: "POST",
      headers,
      body: JSON.stringify(apiReading()),
    });
    await assertError(response, 401, /token/);
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
  }
  assert.equal(await storedCount(api.store), 0);
  // The scheme is case-insensitive (RFC 9110).
  assert.equal((await api.post(apiReading(), { authorization: `bearer ${TOKEN}` })).status, 200);
});

test("POST /api/data answers 415 unless the body is declared JSON", async (setup) => {
  await using api = await setup();
  for (
    const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/jsonx",
      "",
      "application/json; charset=latin1",
    ]
  ) {
    await assertError(await api.post(apiReading(), { "content-type": type }), 415, /Content-Type/);
  }
  for (
    const type of [
      "application/json; charset=utf-8",
      "Application/JSON",
      'application/json;charset="UTF-8"',
    ]
  ) {
    assert.equal(
      (await api.post(apiReading({ seq: type.length }), { "content-type": type })).status,
      200,
    );
  }
});

test("POST /api/data answers 400 for a body that is not JSON", async (setup) => {
  await using api = await setup();
  const bom = "\ufeff" + JSON.stringify(apiReading()); // RFC 8259: no byte order mark
  for (
    const body of ["", "{", "[1,", "nul", "{'id': 1}", new Uint8Array([0xff, 0xfe, 0x7b]), bom]
  ) {
    const error = await assertError(await api.post(body), 400, /^Cannot parse body/);
    assert.equal(error.index, undefined);
  }
});

test("POST /api/data rejects the whole batch for one invalid reading, naming its index", async (setup) => {
  await using api = await setup();
  const cases: [unknown, RegExp][] = [
    [{ ...apiReading(), id: undefined }, /^id: /],
    [apiReading({ id: -1 }), /^id: /],
    [apiReading({ id: 4294967296 }), /^id: /],
    [apiReading({ id: 1.5 }), /^id: /],
    [{ ...apiReading(), id: "7" }, /^id: /],
    [apiReading({ seq: 2 ** 32 }), /^seq: /],
    [{ ...apiReading(), seq: null }, /^seq: /],
    [apiReading({ timestamp: "yesterday" }), /^timestamp: /],
    [apiReading({ timestamp: "2026-11-24T10:00:00" }), /^timestamp: /],
    [apiReading({ timestamp: 1.5 }), /^timestamp: /],
    [{ ...apiReading(), timestamp: undefined }, /^timestamp: /],
    [
      { ...apiReading(), temperature: "hot" },
      /^temperature: expected a finite number or null, got "hot"/,
    ],
    [
      apiReading({ temperature: null, pressure: null, humidity: null }),
      /^temperature, pressure, humidity: expected at least one number, got all null/,
    ],
    [{ ...apiReading(), humidity: undefined }, /^humidity: /],
    [apiReading({ temperature: 1e300 }), /^temperature: /],
    [null, /^reading: /],
    [42, /^reading: /],
    [[apiReading()], /^reading: /],
  ];
  for (const [bad, pattern] of cases) {
    const batch = [
      apiReading({ seq: 1 }),
      apiReading({ seq: 2 }),
      apiReading({ seq: 3 }),
      bad,
      apiReading({ seq: 5 }),
    ];
    const error = await assertError(await api.post(batch), 400, pattern);
    assert.equal(error.index, 3, `index for ${JSON.stringify(bad)}`);
  }
  assert.equal(await storedCount(api.store), 0, "nothing of a rejected batch is stored");
  // A single object that is invalid: index 0.
  const single = await assertError(await api.post({ ...apiReading(), id: "x" }), 400, /^id: /);
  assert.equal(single.index, 0);
  for (const body of ["42", "null", '"reading"', "true"]) {
    assert.equal((await assertError(await api.post(body), 400, /^reading: /)).index, 0);
  }
});

test("POST /api/data takes 10,000 readings in a batch and answers 413 for 10,001", async (setup) => {
  await using api = await setup();
  const batch = Array.from({ length: 10_001 }, (_, seq) => apiReading({ seq }));
  await assertError(await api.post(batch), 413, /10001 readings, at most 10000/);
  assert.equal(await storedCount(api.store), 0);
  assert.deepEqual(await (await api.post(batch.slice(0, 10_000))).json(), {
    stored: 10_000,
    duplicates: 0,
  });
});

test("POST /api/data answers 413 for a body over 4 MiB, with or without Content-Length", async (setup) => {
  await using api = await setup();
  const big = new Uint8Array(4 * 1024 * 1024 + 1).fill(0x20);
  await assertError(await api.post(big), 413, /body over 4194304 bytes/);
  // Streamed in chunks with no Content-Length: cut off at the limit.
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent > 8 * 1024 * 1024) return controller.close();
      sent += 64 * 1024;
      controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
    },
  });
  const response = await api.request("/api/data", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: stream,
  });
  await assertError(response, 413);
  assert.ok(sent < 5 * 1024 * 1024, `stopped reading after ${sent} bytes`);
  // A lying Content-Length over the limit is refused before reading.
  await assertError(
    await api.post(JSON.stringify(apiReading()), { "content-length": String(5 * 1024 * 1024) }),
    413,
  );
});

test("POST /api/data answers 408 when the body does not arrive in time", async (setup) => {
  await using api = await setup({ limits: { bodyTimeoutMs: 50 } });
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("[")); // and then nothing
    },
  });
  const response = await api.request("/api/data", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: stream,
  });
  await assertError(response, 408, /timed out/);
});

test("POST /api/data stores an empty batch as nothing", async (setup) => {
  await using api = await setup();
  assert.deepEqual(await (await api.post([])).json(), { stored: 0, duplicates: 0 });
});

test("POST /api/data answers 503 once the server is shutting down", async (setup) => {
  const controller = new AbortController();
  await using api = await setup({ signal: controller.signal });
  assert.equal((await api.post(apiReading())).status, 200);
  controller.abort();
  await assertError(await api.post(apiReading({ seq: 2 })), 503, /shutting down/);
  const health = await api.request("/healthz");
  assert.equal(health.status, 503);
});

test("Concurrent POST /api/data requests are each answered with their own counts", async (setup) => {
  await using api = await setup();
  const batches = Array.from(
    { length: 8 },
    (_, b) => Array.from({ length: 100 }, (_, i) => apiReading({ id: b, seq: i })),
  );
  const repeated = [...batches, batches[0]!];
  const results = await Promise.all(repeated.map(async (batch) => (await api.post(batch)).json()));
  const counts = results.map((r) => `${r.stored}/${r.duplicates}`);
  // The first and the repeated batch race: one stores 100, the other sees 100 duplicates.
  assert.deepEqual(counts.slice(1, 8), Array(7).fill("100/0"));
  assert.deepEqual([counts[0], counts[8]].sort(), ["0/100", "100/0"]);
  assert.equal(await storedCount(api.store), 800);
});

// --- GET /api/readings ----------------------------------------------------

async function seed(api: Awaited<ReturnType<typeof setupOn>>) {
  // Three sensors, five readings each, one second apart; sensor 3 sent a
  // late reading with an old timestamp last.
  const batch: ApiReading[] = [];
  for (let seq = 1; seq <= 5; seq++) {
    for (const id of [1, 2, 3]) batch.push(apiReading({ id, seq, timestamp: T0 + seq * 1000 }));
  }
  await api.post(batch);
  await api.post(apiReading({ id: 3, seq: 0, timestamp: T0 - 60_000 }));
}

test("GET /api/readings answers newest first, ties by highest seq", async (setup) => {
  await using api = await setup();
  await api.post([
    apiReading({ id: 1, seq: 5, timestamp: T0 }),
    apiReading({ id: 2, seq: 9, timestamp: T0 }),
    apiReading({ id: 3, seq: 1, timestamp: T0 + 1 }),
  ]);
  const { body } = await api.getJson("/api/readings");
  assert.deepEqual(body.map((r: ApiReading) => `${r.id}:${r.seq}`), ["3:1", "2:9", "1:5"]);
});

test("GET /api/readings applies limit, sensor, since (inclusive) and until (exclusive)", async (setup) => {
  await using api = await setup();
  await seed(api);
  const ids = async (query: string) =>
    (await api.getJson(`/api/readings${query}`)).body.map((r: ApiReading) => `${r.id}:${r.seq}`);
  assert.equal((await ids("")).length, 16);
  assert.deepEqual(await ids("?limit=2"), ["3:5", "2:5"]);
  assert.deepEqual(await ids("?sensor=2&limit=3"), ["2:5", "2:4", "2:3"]);
  assert.deepEqual(await ids("?sensor=3&limit=10"), ["3:5", "3:4", "3:3", "3:2", "3:1", "3:0"]);
  assert.deepEqual(await ids(`?sensor=1&since=${T0 + 4000}`), ["1:5", "1:4"]);
  assert.deepEqual(await ids(`?sensor=1&until=${T0 + 2000}`), ["1:1"]);
  const since = new Date(T0 + 2000).toISOString();
  const until = new Date(T0 + 4000).toISOString();
  assert.deepEqual(await ids(`?sensor=1&since=${since}&until=${until}`), ["1:3", "1:2"]);
  assert.deepEqual(await ids(`?since=${T0 + 5000}`), ["3:5", "2:5", "1:5"]);
  assert.deepEqual(await ids("?sensor=4"), []);
  const offset = encodeURIComponent("2026-11-24T11:00:05+01:00");
  assert.deepEqual(await ids(`?sensor=2&since=${offset}`), ["2:5"]);
});

test("GET /api/readings answers 400 for bad parameters", async (setup) => {
  await using api = await setup();
  for (
    const query of [
      "limit=0",
      "limit=10001",
      "limit=abc",
      "limit=",
      "limit=1.5",
      "limit=-1",
      "sensor=-1",
      "sensor=4294967296",
      "sensor=x",
      "since=yesterday",
      "since=2026-11-24T10:00:00",
      "until=",
      "after=-1",
      "after=x",
      "limit=99999999999999999999",
    ]
  ) {
    await assertError(await api.request(`/api/readings?${query}`), 400, /^Cannot parse "/);
  }
  assert.equal((await api.request("/api/readings?limit=10000")).status, 200);
  assert.equal((await api.request("/api/readings?unknown=1")).status, 200);
});

test("GET /api/readings?after= walks every reading once in storage order, late ones too", async (setup) => {
  await using api = await setup();
  const first = await api.request("/api/readings");
  assert.equal(first.headers.get("x-vigia-cursor"), "0");
  await seed(api);
  const seen: string[] = [];
  let cursor = "0";
  let pages = 0;
  while (true) {
    const response = await api.request(`/api/readings?after=${cursor}&limit=4`);
    const page = await response.json();
    seen.push(...page.map((r: ApiReading) => `${r.id}:${r.seq}`));
    cursor = response.headers.get("x-vigia-cursor")!;
    pages++;
    if (page.length < 4) break;
  }
  assert.equal(pages, 5, "four full pages, then an empty one");
  assert.equal(seen.length, 16);
  assert.equal(new Set(seen).size, 16);
  assert.equal(seen.at(-1), "3:0", "the late reading comes last: it was stored last");
  // Caught up: the same cursor gives nothing until something new is stored.
  assert.deepEqual(await (await api.request(`/api/readings?after=${cursor}`)).json(), []);
  await api.post(apiReading({ id: 9, seq: 1, timestamp: T0 - 1e9 }));
  const next = await (await api.request(`/api/readings?after=${cursor}`)).json();
  assert.deepEqual(next.map((r: ApiReading) => r.id), [9]);
});

test("GET /api/readings cursor header: newest without after, last returned or newest with it", async (setup) => {
  await using api = await setup();
  await seed(api);
  const newest = Number((await api.request("/api/readings?limit=1")).headers.get("x-vigia-cursor"));
  assert.ok(newest >= 16);
  // A full page ends at its last reading.
  const full = await api.request("/api/readings?after=0&limit=5");
  const cursor = Number(full.headers.get("x-vigia-cursor"));
  assert.ok(cursor > 0 && cursor < newest);
  // A filter that matches nothing new still moves the cursor to the newest,
  // so a follower of one sensor does not rescan the same readings.
  const none = await api.request("/api/readings?after=0&sensor=42");
  assert.deepEqual(await none.json(), []);
  assert.equal(Number(none.headers.get("x-vigia-cursor")), newest);
  // Following one sensor with after= returns only its readings, in storage order.
  const sensor3 = await (await api.request("/api/readings?after=0&sensor=3")).json();
  assert.deepEqual(sensor3.map((r: ApiReading) => r.seq), [1, 2, 3, 4, 5, 0]);
});

// --- the other read endpoints -----------------------------------------------

test("GET /api/sensors lists each sensor with counts, first/last seen and last reading", async (setup) => {
  await using api = await setup();
  assert.deepEqual((await api.getJson("/api/sensors")).body, []);
  await seed(api);
  await api.post(apiReading({ id: 1, seq: 1, timestamp: T0 + 1000 })); // a duplicate
  const { body } = await api.getJson("/api/sensors");
  assert.deepEqual(body.map((s: { id: number }) => s.id), [1, 2, 3]);
  assert.deepEqual(body[2], {
    id: 3,
    readings: 6,
    first_seen: new Date(T0 - 60_000).toISOString(),
    last_seen: new Date(T0 + 5000).toISOString(),
    last: { ...apiReading({ id: 3, seq: 5, timestamp: new Date(T0 + 5000).toISOString() }) },
  });
  assert.equal(body[0].readings, 5);
});

test("GET /api/series answers min/avg/max per bucket equal to a brute-force computation", async (setup) => {
  await using api = await setup();
  const random = seededRandom(42);
  // Two sensors over 3 hours at irregular times, values with two decimals.
  const start = T0 - 3 * 3_600_000;
  const batch: ApiReading[] = [];
  for (let i = 0; i < 4000; i++) {
    const timestamp = start + Math.floor(random() * 3 * 3_600_000);
    // Some quantities absent: sensor 2 never measures pressure, and a
    // reading now and then lacks temperature or humidity (never both).
    const id = 1 + (i % 2);
    const temperature = Math.round(random() * 10_000 - 5_000) / 100;
    const pressure = Math.round(random() * 100_000) / 100;
    const humidity = Math.round(random() * 10_000) / 100;
    const gap = random();
    batch.push(apiReading({
      id,
      seq: i,
      timestamp,
      temperature: gap < 0.1 ? null : temperature,
      pressure: id === 2 ? null : pressure,
      humidity: gap > 0.9 ? null : humidity,
    }));
  }
  for (let i = 0; i < batch.length; i += 1000) await api.post(batch.slice(i, i + 1000));

  // Windows and buckets that exercise the raw edges, every rollup width and their mixes.
  const windows: [number, number, number | undefined, number | undefined][] = [
    [start, T0, 60, undefined],
    [start + 12_345, T0 - 54_321, 600, undefined],
    [start + 7_000, T0 - 3_000, 3600, 2],
    [start + 1, start + 1_800_000, 10, 1],
    [start + 1_234, start + 1_800_000, 7, undefined], // no rollup divides 7 s: raw
    [start - 3_600_000, T0 + 3_600_000, 1200, undefined],
    [start + 59_999, start + 3 * 3_600_000 - 1, 20, undefined],
  ];
  for (const [since, until, bucket, sensor] of windows) {
    let query = `/api/series?since=${since}&until=${until}&bucket=${bucket}`;
    if (sensor !== undefined) query += `&sensor=${sensor}`;
    const { response, body } = await api.getJson(query);
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.since, new Date(since).toISOString());
    assert.equal(body.until, new Date(until).toISOString());
    assert.equal(body.bucket, bucket);
    assert.deepEqual(
      body.series,
      bruteForceSeries(batch, since, until, bucket! * 1000, sensor),
      query,
    );
  }
});

function bruteForceSeries(
  readings: ApiReading[],
  since: number,
  until: number,
  bucketMs: number,
  sensor: number | undefined,
) {
  const groups = new Map<number, Map<number, ApiReading[]>>();
  for (const r of readings) {
    const t = r.timestamp as number;
    if (t < since || t >= until || (sensor !== undefined && r.id !== sensor)) continue;
    const bucket = Math.floor(t / bucketMs) * bucketMs;
    if (!groups.has(r.id)) groups.set(r.id, new Map());
    const points = groups.get(r.id)!;
    if (!points.has(bucket)) points.set(bucket, []);
    points.get(bucket)!.push(r);
  }
  const stats = (all: (number | null)[]) => {
    const values = all.filter((v) => v !== null);
    if (values.length === 0) return { min: null, avg: null, max: null };
    const hundredths = values.map((v) => Math.round(v * 100));
    const sum = hundredths.reduce((a, b) => a + b, 0);
    return {
      min: Math.min(...hundredths) / 100,
      avg: Math.round(sum / values.length) / 100,
      max: Math.max(...hundredths) / 100,
    };
  };
  return [...groups.keys()].sort((a, b) => a - b).map((id) => ({
    id,
    points: [...groups.get(id)!.keys()].sort((a, b) => a - b).map((t) => {
      const rs = groups.get(id)!.get(t)!;
      return {
        t: new Date(t).toISOString(),
        count: rs.length,
        temperature: stats(rs.map((r) => r.temperature)),
        pressure: stats(rs.map((r) => r.pressure)),
        humidity: stats(rs.map((r) => r.humidity)),
      };
    }),
  }));
}

test("GET /api/series defaults to the last hour in round buckets", async (setup) => {
  await using api = await setup();
  await api.post(apiReading({ timestamp: T0 - 30_000 }));
  const { body } = await api.getJson("/api/series");
  assert.equal(body.until, new Date(T0).toISOString());
  assert.equal(body.since, new Date(T0 - 3_600_000).toISOString());
  assert.equal(body.bucket, 10);
  assert.equal(body.series[0].points[0].t, new Date(T0 - 30_000).toISOString());
  const day = await api.getJson(`/api/series?since=${T0 - 86_400_000}`);
  assert.equal(day.body.bucket, 300);
  const week = await api.getJson(`/api/series?since=${T0 - 7 * 86_400_000}&until=${T0}`);
  assert.equal(week.body.bucket, 1800);
});

test("GET /api/series answers 400 for bad parameters", async (setup) => {
  await using api = await setup();
  for (
    const query of [
      `since=${T0}&until=${T0}`,
      `since=${T0 + 1}&until=${T0}`,
      "bucket=0",
      "bucket=-10",
      "bucket=abc",
      `since=${T0 - 86_400_000}&until=${T0}&bucket=1`, // 86,400 buckets
      `since=${T0 - 86_400_000 * 30}&until=${T0}&bucket=11`, // not a multiple of 10 s over a month
      "sensor=-1",
      "since=not-a-time",
    ]
  ) {
    await assertError(await api.request(`/api/series?${query}`), 400, /^Cannot/);
  }
});

test("GET /api/thresholds serves the ranges in force", async (setup) => {
  {
    await using api = await setup();
    assert.deepEqual((await api.getJson("/api/thresholds")).body, DEFAULT_THRESHOLDS);
  }
  const custom = parseThresholds({ temperature: { min: 0, max: 50 } });
  await using api = await setup({ thresholds: custom });
  const { body } = await api.getJson("/api/thresholds");
  assert.deepEqual(body.temperature, { min: 0, max: 50, unit: "°C" });
  assert.deepEqual(body.pressure, DEFAULT_THRESHOLDS.pressure);
});

test("GET /healthz answers ok while the database answers, 503 when it does not", async (setup) => {
  await using api = await setup();
  const ok = await api.getJson("/healthz");
  assert.equal(ok.response.status, 200);
  assert.deepEqual(ok.body, { status: "ok" });
  await api.store.close();
  const down = await api.getJson("/healthz");
  assert.equal(down.response.status, 503);
  assert.deepEqual(down.body, { status: "unavailable", error: "database unavailable" });
});

test("GET /healthz answers 503 once the writer can no longer write, though reads work", async (setup) => {
  await using healthy = await setup();
  const dead = new Error("Store writer thread failed: out of memory");
  // The writer interface as a dead writer thread presents it: reads still answer.
  const writer = {
    write: () => Promise.reject(dead),
    deleteBefore: () => Promise.reject(dead),
    close: () => Promise.resolve(),
    failure: dead,
  };
  await using api = await setup({ writer });
  assert.equal((await healthy.getJson("/healthz")).response.status, 200);
  assert.equal((await api.getJson("/api/readings")).response.status, 200);
  const down = await api.getJson("/healthz");
  assert.equal(down.response.status, 503);
  assert.deepEqual(down.body, { status: "unavailable", error: "database unavailable" });
});

test("GET /metrics exposes request, reading and database counters", async (setup) => {
  await using api = await setup();
  await api.post([apiReading(), apiReading()]);
  await api.post(apiReading(), { authorization: "Bearer nope" });
  await api.request("/api/readings");
  await api.request("/nowhere/../../etc/passwd");
  const response = await api.request("/metrics");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  for (
    const line of [
      'vigia_http_requests_total{route="/api/data",method="POST",status="200"} 1',
      'vigia_http_requests_total{route="/api/data",method="POST",status="401"} 1',
      'vigia_http_requests_total{route="/api/readings",method="GET",status="200"} 1',
      'vigia_http_requests_total{route="other",method="GET",status="404"} 1',
      "vigia_readings_stored_total 1",
      "vigia_readings_duplicate_total 1",
      "vigia_readings_rejected_total 1",
      "vigia_live_clients 0",
      "# TYPE vigia_http_request_duration_seconds histogram",
    ]
  ) {
    assert.ok(text.includes(line + "\n"), `missing ${line}`);
  }
  assert.match(
    text,
    /vigia_http_request_duration_seconds_bucket\{route="\/api\/data",le="\+Inf"\} 2\n/,
  );
  assert.match(text, /vigia_database_size_bytes [1-9]\d*\n/);
  assert.ok(!text.includes("passwd"), "no client path becomes a label");
});

// --- routing, static files, errors ----------------------------------------

test("Unknown paths answer 404 JSON and wrong methods 405 with Allow", async (setup) => {
  await using api = await setup();
  await assertError(await api.request("/api/nothing"), 404);
  await assertError(await api.request("/"), 404); // no dashboard given
  const get = await api.request("/api/data");
  await assertError(get, 405);
  assert.equal(get.headers.get("allow"), "POST");
  const del = await api.request("/api/readings", { method: "DELETE" });
  await assertError(del, 405);
  assert.equal(del.headers.get("allow"), "GET, HEAD");
  const head = await api.request("/api/thresholds", { method: "HEAD" });
  assert.equal(head.status, 200);
  await head.body?.cancel();
});

test("Static files: only the listed names, with content type, cache headers and ETag", async (setup) => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-static-" });
  try {
    await Deno.mkdir(join(dir, "static", "js"), { recursive: true });
    await Deno.writeTextFile(join(dir, "static", "index.html"), "<!doctype html><p>hi</p>");
    await Deno.writeTextFile(join(dir, "static", "js", "app.js"), "export {};");
    await Deno.writeTextFile(join(dir, "secret.txt"), "secret");
    await Deno.writeTextFile(join(dir, "static", "deno.json"), "{}"); // tooling, not the dashboard
    await Deno.writeTextFile(join(dir, "static", ".env"), "SECRET=1");
    await Deno.writeTextFile(join(dir, "static", "notes.md"), "# notes");
    await Deno.writeTextFile(join(dir, "chart.js"), "/* chart */");
    const { loadStaticFiles } = await import("../server/static_files.ts");
    const { files } = await loadStaticFiles({
      dir: join(dir, "static"),
      chartJs: join(dir, "chart.js"),
    });
    await using api = await setup({ staticFiles: files });
    const index = await api.request("/");
    assert.equal(index.status, 200);
    assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(index.headers.get("cache-control"), "no-cache");
    assert.equal(await index.text(), "<!doctype html><p>hi</p>");
    const etag = index.headers.get("etag")!;
    const again = await api.request("/", { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    const app = await api.request("/js/app.js");
    assert.equal(app.headers.get("content-type"), "text/javascript; charset=utf-8");
    await app.body?.cancel();
    const chart = await api.request("/vendor/chart.umd.min.js");
    assert.equal(await chart.text(), "/* chart */");
    assert.match(chart.headers.get("cache-control")!, /max-age/);
    for (
      const path of [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/js/../../secret.txt",
        "/js%2f..%2f..%2fsecret.txt",
        "/secret.txt",
        "/static/index.html",
        "//etc/passwd",
        "/deno.json",
        "/../deno.json",
        "/.env",
        "/notes.md",
      ]
    ) {
      const response = await api.request(path);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    await assertError(await api.request("/", { method: "POST" }), 405);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("An unexpected error is logged with its stack and answered as a bare 500", async (setup) => {
  const lines: string[] = [];
  const log = {
    debug() {},
    info() {},
    warn() {},
    error: (message: string, fields?: Record<string, unknown>) =>
      lines.push(`${message} ${JSON.stringify(fields)}`),
  };
  await using api = await setup({ log });
  await api.store.close();
  const response = await api.request("/api/readings");
  if (api.backend === "postgres") {
    // A PostgreSQL store whose connections are gone is unavailable, not broken.
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "5");
    assert.deepEqual(await response.json(), {
      error: "Cannot read readings: the database is unavailable",
    });
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /cannot read the store; answering 503/);
    assert.doesNotMatch(lines[0]!, /stack/);
    return;
  }
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error: "internal error" });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /request failed .*stack/);
});

test("Random bytes and random queries never crash a handler", async (setup) => {
  await using api = await setup();
  const random = seededRandom(7);
  const paths = ["/api/readings", "/api/series", "/api/sensors", "/api/data", "/healthz"];
  const alphabet = "0123456789-:TZ.%&=?abcdefghlimitsensorsinceuntilafterbucket+ \u00e9\u0000";
  for (let i = 0; i < 300; i++) {
    const length = Math.floor(random() * 200);
    const bytes = new Uint8Array(length);
    for (let j = 0; j < length; j++) {
      // Half the time JSON-ish characters, so the parser gets past byte one.
      bytes[j] = random() < 0.5
        ? Math.floor(random() * 256)
        : '{}[]",:0123456789.e-truefalsnl idseqtimestamp'.charCodeAt(Math.floor(random() * 44));
    }
    const response = await api.post(bytes);
    assert.ok([200, 400].includes(response.status), `status ${response.status}`);
    const body = await response.json();
    if (response.status === 400) assert.equal(typeof body.error, "string");
    let query = "";
    for (let j = 0; j < 30; j++) query += alphabet[Math.floor(random() * alphabet.length)];
    const path = paths[Math.floor(random() * paths.length)]!;
    const get = await api.request(`${path}?${encodeURI(query).replaceAll("%25", "%")}`);
    assert.ok(get.status < 500, `GET ${path}?${query}: ${get.status}`);
    await get.body?.cancel();
  }
});

Deno.test({
  name: "postgres: stop the cluster of this file",
  ignore: POSTGRES_MISSING !== undefined,
  fn: stopSharedPostgres,
});
