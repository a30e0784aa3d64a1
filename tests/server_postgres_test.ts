/**
 * What only PostgreSQL has: several server instances on one database. The
 * `after=` cursor never skips a reading whose transaction commits after a
 * later one (forced here with a transaction held open), a reading posted
 * to two instances is stored once, `/api/live` of one instance pushes what
 * another stored, and the schema is versioned. The endpoints themselves are
 * tested on both backends by server_api_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { emptyPostgres, loadPostgres } from "../bench/postgres.ts";
import { loadWeeks, readingAt, READINGS_SQL } from "../bench/server_readings.ts";
import { sendUntilTaken } from "../gateway/ingest_answer.ts";
import { createHandler } from "../server/handler.ts";
import {
  DAY_MS,
  ensurePartitions,
  partitionName,
  WEEK_MS,
  weekStart,
} from "../server/postgres_partitions.ts";
import type { Sql } from "../server/postgres_schema.ts";
import { announce, summarize, SUMMARY_LOCK } from "../server/postgres_summary.ts";
import { openStorage, type Storage } from "../server/storage.ts";
import { apiReading, postReadings } from "./_api.ts";
import { testReading } from "./_reading.ts";
import { POSTGRES_MISSING, sharedPostgres, stopSharedPostgres } from "./_postgres.ts";
import { startProgram } from "./_process.ts";

const TOKEN = "postgres-test-token";
const T0 = Date.parse("2026-11-24T10:00:00.000Z");
const ignore = POSTGRES_MISSING !== undefined;

/** Summarises until nothing is left to summarise. */
async function summarizeAll(sql: postgres.Sql): Promise<void> {
  while (await summarize(sql as unknown as Sql) > 0) { /* the next chunk */ }
}

/** A server instance in-process: its own pool on the shared database, its own handler. */
async function instance(url: string) {
  const store = await openStorage(url);
  const writer = store.createWriter({});
  const handler = createHandler(store, { token: TOKEN, writer });
  const request = (path: string, init?: RequestInit) =>
    handler(new Request(`http://127.0.0.1${path}`, init));
  return {
    store,
    writer,
    request,
    post: async (readings: unknown[]) => {
      const send = () =>
        request("/api/data", {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify(readings),
        });
      // A full write queue (a loaded machine) answers 503 + Retry-After: wait as a gateway does.
      const response = await sendUntilTaken(send);
      assert.equal(response.status, 200, await response.clone().text());
      return await response.json() as { stored: number; duplicates: number };
    },
    /** One page of `after=cursor`: the readings' seqs and the next cursor. */
    follow: async (cursor: number) => {
      const response = await request(`/api/readings?after=${cursor}&limit=10000`);
      const readings = await response.json() as { id: number; seq: number }[];
      return { readings, cursor: Number(response.headers.get("x-vigia-cursor")) };
    },
    async [Symbol.asyncDispose]() {
      await writer.close();
      await store.close();
    },
  };
}

function readings(id: number, from: number, count: number) {
  return Array.from(
    { length: count },
    (_, i) => apiReading({ id, seq: from + i, timestamp: T0 + (from + i) * 1000 }),
  );
}

// Both ways a group is stored (postgres_insert.ts): COPY, and INSERT … ON
// CONFLICT after a group met a reading already stored.
for (const path of ["copy", "on conflict"] as const) {
  Deno.test({
    name:
      `postgres: after= never skips a reading whose transaction commits after a later one (${path})`,
    ignore,
    fn: () => neverSkips(path),
  });
}

async function neverSkips(path: "copy" | "on conflict") {
  const url = await (await sharedPostgres()).createDatabase();
  await using a = await instance(url);
  await using b = await instance(url);
  const other = postgres(url, { max: 2, onnotice: () => {} });
  const held = Promise.withResolvers<void>();
  let holder: Promise<unknown> = Promise.resolve();
  try {
    if (path === "on conflict") {
      // A reading already stored fails A's COPY: its next groups go through ON CONFLICT.
      await a.post(readings(9, 0, 1));
      assert.deepEqual(await a.post(readings(9, 0, 2)), { stored: 1, duplicates: 1 });
    }
    let cursor = (await a.follow(0)).cursor;
    const seen: string[] = [];
    const poll = async () => {
      const page = await a.follow(cursor);
      cursor = page.cursor;
      seen.push(...page.readings.map((r) => `${r.id}/${r.seq}`));
    };
    // A third writer holds sensor 1 seq 0 uncommitted: instance A's
    // transaction, which also stores it, takes its cursors and then waits.
    // COPY would fail on it if it committed (and A would go again in a new
    // transaction): it rolls back. ON CONFLICT skips it: it commits.
    holder = other.begin(async (tx) => {
      await tx`INSERT INTO readings (cursor, sensor_id, seq, ts, temperature, pressure, humidity)
        VALUES ((pg_current_xact_id()::text::int8 << 17) + 1, 1, 0, ${T0}, 0, 0, 0)`;
      await held.promise;
      if (path === "copy") throw new Error("rolled back on purpose");
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    let aDone = false;
    const aWrite = a.post(readings(1, 0, 5)).then((result) => {
      aDone = true;
      return result;
    });
    // Wait until A's statement is blocked on the held row.
    let blocked = false;
    for (let i = 0; i < 200 && !blocked; i++) {
      const [row] = await other`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND query ~ ${
        path === "copy" ? "^\\s*COPY readings" : "INSERT INTO readings"
      }`;
      blocked = row!.n > 0;
      if (!blocked) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(blocked, `A's ${path} waits for the held row`);
    // B starts after A and commits first.
    assert.deepEqual(await b.post(readings(2, 0, 5)), { stored: 5, duplicates: 0 });
    assert.equal(aDone, false, "A is still in flight after B committed");
    await poll();
    assert.deepEqual(seen, [], "nothing is returned past a transaction in flight");
    held.resolve();
    await holder.catch(() => {});
    assert.deepEqual(
      await aWrite,
      path === "copy" ? { stored: 5, duplicates: 0 } : { stored: 4, duplicates: 1 },
    );
    await poll();
    // A's rows sort below B's: a reader that had moved past B would have lost them.
    const [order] = await other`
      SELECT (SELECT max(cursor) FROM readings WHERE sensor_id = 1) <
        (SELECT min(cursor) FROM readings WHERE sensor_id = 2) AS a_before_b`;
    assert.equal(order!.a_before_b, true);
    const expected = [
      ...[0, 1, 2, 3, 4].map((s) => `1/${s}`),
      ...[0, 1, 2, 3, 4].map((s) => `2/${s}`),
    ];
    assert.deepEqual(seen, expected, "every reading exactly once, in storage order");
    await poll();
    assert.equal(seen.length, 10);
  } finally {
    // On a failed assertion too: A's write and the instances' close wait for it.
    held.resolve();
    await holder.catch(() => {});
    await other.end();
  }
}

Deno.test({
  name: "postgres: a transaction that stores no readings (announced) holds no follower back",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    await using a = await instance(url);
    const other = postgres(url, { max: 2, onnotice: () => {} });
    try {
      for (const announced of [true, false]) {
        const before = (await a.follow(0)).cursor;
        const opened = Promise.withResolvers<void>();
        const done = Promise.withResolvers<void>();
        // Summaries, retention and partitions announce themselves; any other writer does not.
        const open = other.begin(async (tx) => {
          if (announced) await announce(tx as unknown as Sql);
          else await tx`SELECT pg_current_xact_id()`;
          opened.resolve();
          await done.promise;
        });
        await opened.promise;
        try {
          await a.post(readings(announced ? 5 : 6, 0, 3));
          const page = await a.follow(before);
          assert.equal(page.readings.length, announced ? 3 : 0, `announced: ${announced}`);
        } finally {
          done.resolve();
          await open;
        }
        assert.equal((await a.follow(before)).readings.length, 3);
      }
    } finally {
      await other.end();
    }
  },
});

Deno.test({
  name: "postgres: readings posted to two instances at once are each stored once",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    await using a = await instance(url);
    await using b = await instance(url);
    let stored = 0;
    let duplicates = 0;
    // Overlapping batches from several sensors, in different orders: the
    // instances' transactions conflict on the same keys and must neither
    // deadlock nor store anything twice.
    for (let round = 0; round < 10; round++) {
      const batch = [1, 2, 3, 4].flatMap((id) => readings(id, round * 50, 50));
      const results = await Promise.all([
        a.post(batch),
        b.post([...batch].reverse()),
        a.post(batch.slice(100)),
        b.post(batch.slice(0, 150)),
      ]);
      for (const result of results) {
        stored += result.stored;
        duplicates += result.duplicates;
      }
    }
    assert.equal(stored, 2000);
    assert.equal(duplicates, 10 * (200 + 200 + 100 + 150) - 2000);
    const sensors = await (await b.request("/api/sensors")).json();
    assert.deepEqual(sensors.map((s: { readings: number }) => s.readings), [500, 500, 500, 500]);
    let cursor = 0;
    const walked = new Set<string>();
    for (;;) {
      const page = await a.follow(cursor);
      for (const r of page.readings) walked.add(`${r.id}/${r.seq}`);
      if (page.readings.length === 0) break;
      cursor = page.cursor;
    }
    assert.equal(walked.size, 2000);
  },
});

Deno.test({
  name:
    "postgres: readings land in week partitions, days where a week cannot have one, or the default one; retention drops whole weeks",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    await using a = await instance(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const thisWeek = weekStart(Date.now());
      const week = (n: number) => thisWeek + n * WEEK_MS;
      const ensure = (now: number) => ensurePartitions(sql as unknown as Sql, now);
      // Partitions as a server running ten weeks ago made them (weeks -10 and -9).
      await ensure(week(-10));
      // A day partition of week -5, as the first releases made one for every day.
      const legacyDay = week(-5) + 3 * DAY_MS;
      await sql.unsafe(`CREATE TABLE ${partitionName(legacyDay, DAY_MS)} PARTITION OF readings
        FOR VALUES FROM (${legacyDay}) TO (${legacyDay + DAY_MS})`);
      await ensure(week(-5));
      const at = (id: number, count: number, start: number) =>
        Array.from(
          { length: count },
          (_, i) => apiReading({ id, seq: i, timestamp: start + 3_600_000 + i * 1000 }),
        );
      await a.post([...at(1, 3, week(-10)), ...at(2, 2, week(-9)), ...at(3, 4, week(-30))]);
      await a.post([...at(4, 5, week(0) - 3_600_000), ...at(5, 2, week(-5) + DAY_MS)]);
      await a.post(at(6, 1, week(-4) + 6 * DAY_MS));
      const placement = async () =>
        Object.fromEntries(
          (await sql`SELECT tableoid::regclass::text AS part, count(*)::int AS n
            FROM readings GROUP BY 1`).map((row) => [row.part, row.n]),
        );
      const before = {
        [partitionName(week(-10))]: 3,
        [partitionName(week(-9))]: 2,
        readings_default: 4,
        [partitionName(week(0))]: 5,
        // Week -5 had a day partition: each of its days got one; week -4 is one partition.
        [partitionName(week(-5) + DAY_MS, DAY_MS)]: 2,
        [partitionName(week(-4))]: 1,
      };
      assert.deepEqual(await placement(), before);
      // A week whose rows are partly in the default partition gets days; that day keeps them.
      await ensure(week(-30));
      assert.deepEqual(await placement(), before);
      const days =
        await sql`SELECT count(*)::int AS n FROM pg_class WHERE relkind = 'r' AND relname ~ '^readings_p'`;
      assert.equal(days[0]!.n, 7 + 6, "week -5's seven days and six of week -30's");
      // Summarised before retention, so retention must take its share out of the summaries.
      await summarizeAll(sql);
      // Keep until week -9's Thursday: weeks -30 and -10 end before the cutoff's week, -9 does not.
      const result = await a.writer.deleteBefore(week(-9) + 3 * DAY_MS, 1_000);
      assert.deepEqual(result, { deleted: 3 + 4, done: true });
      const { [partitionName(week(-10))]: _, readings_default: __, ...kept } = before;
      assert.deepEqual(await placement(), kept);
      for (const gone of [partitionName(week(-10)), partitionName(week(-30) + DAY_MS, DAY_MS)]) {
        const [row] = await sql`SELECT to_regclass(${gone}) AS t`;
        assert.equal(row!.t, null, `${gone} is dropped, not emptied`);
      }
      assert.equal((await a.follow(0)).readings.length, 2 + 5 + 2 + 1);
      const sensors = await (await a.request("/api/sensors")).json();
      assert.deepEqual(sensors.map((s: { id: number; readings: number }) => [s.id, s.readings]), [
        [2, 2],
        [4, 5],
        [5, 2],
        [6, 1],
      ]);
      // The rollups of the weeks dropped are gone; those of the weeks kept are not.
      const series = await (await a.request(
        `/api/series?since=${week(-11)}&until=${week(-8)}&bucket=86400`,
      )).json();
      assert.deepEqual(
        series.series.map((s: { id: number; points: { count: number }[] }) => [
          s.id,
          s.points.map((p) => p.count),
        ]),
        [[2, [2]]],
      );
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name:
    "postgres: /api/sensors and /api/series answer the same from summaries as from raw readings",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    await using a = await instance(url);
    const sql = postgres(url, { max: 2, onnotice: () => {} });
    let held: postgres.ReservedSql | undefined;
    try {
      // Three hours of 5 sensors every 7 s, some quantities absent.
      const start = T0 - 3 * 3_600_000 + 1_234;
      const batch = Array.from({ length: 5 * 1_550 }, (_, i) =>
        apiReading({
          id: 1 + (i % 5),
          seq: Math.floor(i / 5),
          timestamp: start + Math.floor(i / 5) * 7_000,
          temperature: i % 11 === 0 ? null : 20 + (i % 17) / 4,
          pressure: 1000 + (i % 23),
          humidity: i % 13 === 0 ? null : 40 + (i % 7),
        }));
      const queries = [
        "/api/sensors",
        `/api/series?since=${start - 5_000}&until=${T0 + 60_000}&bucket=300`,
        `/api/series?since=${start + 3_333}&until=${T0 - 77_777}&bucket=60&sensor=3`,
        `/api/series?since=${T0 - 3_600_000 + 17}&until=${T0 - 1_000}&bucket=7`,
      ];
      const answers = async () =>
        await Promise.all(queries.map(async (q) => await (await a.request(q)).text()));
      // While the test holds the summaries' lock, the instance cannot summarise.
      const lock = held = await sql.reserve();
      const hold = () => lock`SELECT pg_advisory_lock(${SUMMARY_LOCK})`;
      const release = () => lock`SELECT pg_advisory_unlock(${SUMMARY_LOCK})`;
      await hold();
      await a.post(batch.slice(0, 5_000));
      const raw = await answers(); // nothing summarised: computed from the readings
      await release();
      await summarizeAll(sql);
      assert.deepEqual(await answers(), raw, "from the rollups as from the readings");
      await hold();
      await a.post(batch.slice(5_000));
      const mixed = await answers(); // rollups plus the tail
      await release();
      await summarizeAll(sql);
      assert.deepEqual(await answers(), mixed, "rollups and tail as rollups alone");
      assert.notDeepEqual(mixed, raw);
      const [{ n }] = await sql`SELECT count(*)::int AS n FROM vigia_rollups` as unknown as [
        { n: number },
      ];
      assert.ok(n > 0, "the rollups are in use");
      const sensors = JSON.parse(mixed[0]!);
      assert.deepEqual(sensors.map((s: { readings: number }) => s.readings), [
        1_550,
        1_550,
        1_550,
        1_550,
        1_550,
      ]);
    } finally {
      // A reserved connection not given back would keep end() waiting for ever.
      held?.release();
      await sql.end();
    }
  },
});

Deno.test({
  name: "postgres: two instances writing at once, the summaries count every reading once",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    await using a = await instance(url);
    await using b = await instance(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      // 10 sensors x 2,000 readings in batches of 100, posted by 8 clients
      // to both instances at once while both summarise; every fifth batch
      // is posted to the other instance as well (all duplicates).
      const batches = Array.from(
        { length: 200 },
        (_, i) => readings(1 + (i % 10), 100 * Math.floor(i / 10), 100),
      );
      let next = 0;
      let stored = 0;
      await Promise.all(Array.from({ length: 8 }, async (_, client) => {
        const [first, second] = client % 2 === 0 ? [a, b] : [b, a];
        for (let i = next++; i < batches.length; i = next++) {
          const answer = await first.post(batches[i]!);
          stored += answer.stored;
          if (i % 5 === 0) assert.equal((await second.post(batches[i]!)).stored, 0);
        }
      }));
      assert.equal(stored, 20_000);
      // Until the summaries have caught up, so the answers come from them alone.
      for (let i = 0;; i++) {
        const [row] = await sql`SELECT (SELECT value FROM vigia_meta
          WHERE key = 'summarized_cursor') >= (SELECT max(cursor) FROM readings) AS done`;
        if (row!.done) break;
        assert.ok(i < 300, "summarised within 30 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      for (const through of [a, b]) {
        const sensors = await (await through.request("/api/sensors")).json();
        assert.deepEqual(
          sensors.map((s: { id: number; readings: number }) => [s.id, s.readings]),
          Array.from({ length: 10 }, (_, i) => [i + 1, 2_000]),
        );
        const window = `since=${T0 - 3_600_000}&until=${T0 + 3_600_000}`;
        for (const bucket of [10, 60, 300]) {
          const { series } = await (await through.request(`/api/series?${window}&bucket=${bucket}`))
            .json();
          assert.deepEqual(
            series.map((s: { id: number; points: { count: number }[] }) => [
              s.id,
              s.points.reduce((n, p) => n + p.count, 0),
            ]),
            Array.from({ length: 10 }, (_, i) => [i + 1, 2_000]),
            `/api/series bucket=${bucket}`,
          );
        }
      }
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "postgres: small requests arriving while a group commits wait and go in one group",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    const store = await openStorage(url);
    const groups: number[] = [];
    const writer = store.createWriter({ onCommit: (info) => groups.push(info.requests) });
    try {
      // The first starts a group at once; the next three come while it is in flight.
      const results = await Promise.all(
        [1, 2, 3, 4].map((id) => writer.write([testReading(id, 0)])),
      );
      assert.deepEqual(results.map((r) => r.stored), [1, 1, 1, 1]);
      assert.deepEqual(groups, [1, 3], "not a second group for each small request");
    } finally {
      await writer.close();
      await store.close();
    }
  },
});

Deno.test({
  name: "postgres: a benchmark's emptied database counts only what is stored after",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    await using a = await instance(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const count = async () =>
        (await (await a.request("/api/sensors")).json()).map((s: { readings: number }) =>
          s.readings
        );
      assert.deepEqual(await a.post(readings(1, 0, 100)), { stored: 100, duplicates: 0 });
      await summarizeAll(sql);
      await emptyPostgres(url);
      assert.deepEqual(await count(), []);
      assert.deepEqual(await a.post(readings(1, 0, 50)), { stored: 50, duplicates: 0 });
      await summarizeAll(sql);
      assert.deepEqual(await count(), [50]);
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "postgres: the benchmark's bulk build holds what the store's writer and summaries would",
  ignore,
  fn: async () => {
    const cluster = await sharedPostgres();
    const bulk = await cluster.createDatabase();
    const written = await cluster.createDatabase();
    const rows = 5_000;
    await loadPostgres(bulk, loadWeeks(rows), READINGS_SQL);
    const store = await openStorage(written);
    const writer = await store.openWriter({ inThread: true });
    await writer.write(Array.from({ length: rows }, (_, k) => readingAt(k)));
    await writer.close();
    await store.close();
    const a = postgres(bulk, { max: 1, onnotice: () => {} });
    const b = postgres(written, { max: 1, onnotice: () => {} });
    try {
      await summarizeAll(b);
      const readingsOf = (sql: postgres.Sql) =>
        sql`SELECT sensor_id::int AS "sensorId", seq::int, ts::float8 AS "timestamp",
            temperature, pressure, humidity FROM readings ORDER BY seq, sensor_id`;
      const expected = Array.from({ length: rows }, (_, k) => readingAt(k));
      assert.deepEqual([...await readingsOf(a)], expected);
      assert.deepEqual([...await readingsOf(b)], expected);
      const summaries = (sql: postgres.Sql) =>
        sql`SELECT * FROM vigia_rollups ORDER BY width, bucket, sensor_id`;
      const rollups = await summaries(a);
      assert.equal(rollups.length, 5 * 100 + 100 + 100 + 100 + 100); // 50 s: 5 buckets of 10 s
      assert.deepEqual([...rollups], [...await summaries(b)]);
      assert.deepEqual(
        [...await a`SELECT * FROM vigia_sensors ORDER BY sensor_id`],
        [...await b`SELECT * FROM vigia_sensors ORDER BY sensor_id`],
      );
      // Its cursors 1..rows are all below the horizon: a follower from 0 reads them all.
      const reader = await openStorage(bulk);
      const page = await reader.after(0, { limit: 1000, sensor: 7 });
      await reader.close();
      assert.deepEqual(
        page.readings.map((r) => r.cursor),
        expected.flatMap((r, k) => r.sensorId === 7 ? [k + 1] : []),
      );
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  },
});

Deno.test("loadWeeks cuts the benchmark's readings at Monday midnight UTC", () => {
  const day = 86_400 * 100; // readings of a day
  // The readings start on Friday 2026-11-20: the first week holds three days.
  assert.deepEqual(
    loadWeeks(10 * day + 5).map((w) => [new Date(w.start).toISOString(), w.from, w.to]),
    [
      ["2026-11-16T00:00:00.000Z", 0, 3 * day],
      ["2026-11-23T00:00:00.000Z", 3 * day, 10 * day],
      ["2026-11-30T00:00:00.000Z", 10 * day, 10 * day + 5],
    ],
  );
});

Deno.test({
  name: "postgres: the schema is created once, versioned, and a newer one is refused",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    // Several instances starting at once migrate it once.
    const stores = await Promise.all([openStorage(url), openStorage(url), openStorage(url)]);
    await Promise.all(stores.map((store: Storage) => store.close()));
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      assert.deepEqual([...await sql`SELECT version FROM vigia_schema`], [{ version: 1 }]);
      await sql`UPDATE vigia_schema SET version = 99`;
      await assert.rejects(openStorage(url), /schema version 99 is newer than this release's 1/);
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "postgres: one sensor's after= pages, in cursor order, with since and limit",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    const store = await openStorage(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const t0 = Date.now();
      await sql`
        INSERT INTO readings (cursor, sensor_id, seq, ts, temperature, pressure, humidity)
        SELECT k, 1 + k % 3, k, ${t0}::int8 + k, 2000, 101325, NULL
        FROM generate_series(1, 30) AS k`;
      const page = await store.after(10, { limit: 100, sensor: 2 });
      assert.deepEqual(page.readings.map((r) => r.cursor), [13, 16, 19, 22, 25, 28]);
      assert.equal(page.cursor, 30);
      const since = await store.after(10, { limit: 2, sensor: 2, since: t0 + 20 });
      assert.deepEqual(since.readings.map((r) => r.cursor), [22, 25]);
      assert.equal(since.cursor, 25);
    } finally {
      await sql.end();
      await store.close();
    }
  },
});

Deno.test({
  name: "postgres: two server processes share one database, live across both, no password logged",
  ignore,
  fn: async () => {
    const cluster = await sharedPostgres();
    const url = await cluster.createDatabase();
    const dir = await Deno.makeTempDir({ prefix: "vigia-server-pg-" });
    try {
      const tokenFile = join(dir, "ingest.token");
      const passwordFile = join(dir, "db.password");
      await Deno.writeTextFile(tokenFile, TOKEN + "\n");
      await Deno.writeTextFile(passwordFile, "file-secret-9876\n");
      const allow = [`--allow-read=${dir}`];
      const withPassword = url.replace("vigia@", "vigia:url-secret-1234@");
      const common = ["--port", "0", "--token-file", tokenFile];
      await using first = await startProgram("server.ts", [...common, "--db", withPassword], {
        allow,
      });
      await using second = await startProgram(
        "server.ts",
        [...common, "--db", url, "--db-password-file", passwordFile],
        { allow, env: { PGPASSWORD: "env-secret-5555" } },
      );
      const socket = new WebSocket(`ws://127.0.0.1:${first.port}/api/live`);
      const received: number[] = [];
      const all = Promise.withResolvers<void>();
      socket.onmessage = (event) => {
        received.push(...JSON.parse(event.data).readings.map((r: { seq: number }) => r.seq));
        if (received.length >= 20) all.resolve();
      };
      const closed = new Promise((resolve) => (socket.onclose = resolve));
      try {
        await new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onerror = reject;
        });
        const secondBase = `http://127.0.0.1:${second.port}`;
        const response = await postReadings(secondBase, TOKEN, readings(3, 0, 20));
        assert.deepEqual(await response.json(), { stored: 20, duplicates: 0 });
        const timer = setTimeout(() => all.reject(new Error("no live push in 10 s")), 10_000);
        await all.promise.finally(() => clearTimeout(timer));
        assert.deepEqual(received, Array.from({ length: 20 }, (_, i) => i));
        const viaFirst = await (await fetch(`http://127.0.0.1:${first.port}/api/readings`)).json();
        assert.equal(viaFirst.length, 20);
      } finally {
        socket.close();
        await closed;
      }
      assert.equal((await first.stop("SIGTERM")).code, 0);
      assert.equal((await second.stop("SIGTERM")).code, 0);
      const output = first.output() + second.output();
      assert.match(output, /store open .*postgres:\/\/vigia@127\.0\.0\.1/);
      for (const secret of ["url-secret-1234", "file-secret-9876", "env-secret-5555"]) {
        assert.ok(!output.includes(secret), `${secret} appears in the output:\n${output}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({ name: "postgres: stop the cluster of this file", ignore, fn: stopSharedPostgres });
