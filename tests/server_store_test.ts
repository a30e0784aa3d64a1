/**
 * The server's store on real SQLite files: dedupe, cursors, summaries that
 * lag the readings (and a crash between them), retention, schema versions,
 * and the writer thread.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Reading } from "../protocol/mod.ts";
import { migrate, PRAGMAS, SCHEMA_VERSION } from "../server/schema.ts";
import { planSegments } from "../server/series.ts";
import type { SeriesRow } from "../server/storage.ts";
import { openStore, type Store } from "../server/store.ts";
import { WorkerWriter } from "../server/writer_thread.ts";
import { seededRandom } from "./_random.ts";
import { testReading } from "./_reading.ts";

const T0 = Date.parse("2026-11-24T10:00:00.000Z");

async function tempDb(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-store-" });
  return {
    path: join(dir, "nested", "readings.db"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** The whole-window series of a store, as comparable plain rows. */
function series(store: Store, since: number, until: number, bucketMs: number) {
  return mergedRows(store.seriesRows(planSegments(since, until, bucketMs), { bucket: bucketMs }));
}

/** Series rows with the parts of one bucket added up, keyed `sensor@t`. */
function mergedRows(rows: SeriesRow[]) {
  const merged = new Map<string, (number | null)[]>();
  for (const [sensorId, t, ...values] of rows) {
    const key = `${sensorId}@${t}`;
    const found = merged.get(key);
    if (found === undefined) {
      merged.set(key, values);
      continue;
    }
    found[0] = found[0]! + values[0]!;
    for (const at of [1, 5, 9]) {
      const [count, min, max, sum] = values.slice(at, at + 4);
      found[at] = found[at]! + count!;
      if (min !== null) found[at + 1] = Math.min(found[at + 1] ?? Infinity, min!);
      if (max !== null) found[at + 2] = Math.max(found[at + 2] ?? -Infinity, max!);
      found[at + 3] = found[at + 3]! + sum!;
    }
  }
  return Object.fromEntries([...merged].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Writes `readings` into a new file at `path` exactly as the release with
 * schema `version` left it: its tables (the real migration steps up to that
 * version), the readings, and complete summaries at that release's widths.
 */
function previousRelease(path: string, version: number, readings: readonly Reading[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const raw = new DatabaseSync(path);
  try {
    raw.exec(PRAGMAS);
    migrate(raw, path, version);
    const insert = raw.prepare(
      "INSERT INTO readings (sensor_id, seq, timestamp, temperature, pressure, humidity) VALUES (?, ?, ?, ?, ?, ?)",
    );
    for (const r of readings) {
      insert.run(r.sensorId, r.seq, r.timestamp, r.temperature, r.pressure, r.humidity);
    }
    raw.exec(`INSERT INTO sensors SELECT sensor_id, count(*), min(timestamp), max(timestamp)
      FROM readings GROUP BY sensor_id`);
    const widths = version < 3
      ? [10_000, 60_000, 600_000, 3_600_000]
      : [10_000, 60_000, 300_000, 1_800_000, 3_600_000];
    for (const width of widths) {
      raw.exec(
        `INSERT INTO rollups SELECT ${width}, timestamp - (((timestamp % ${width}) + ${width}) % ${width}) AS start,
        sensor_id, count(*), min(temperature), max(temperature), sum(temperature),
        min(pressure), max(pressure), sum(pressure), min(humidity), max(humidity), sum(humidity)
        FROM readings GROUP BY start, sensor_id`,
      );
    }
    if (version >= 2) {
      raw.exec(`UPDATE meta SET value = (SELECT seq FROM sqlite_sequence WHERE name = 'readings')
        WHERE key = 'summarized_cursor'`);
    }
  } finally {
    raw.close();
  }
}

function randomReadings(seed: number, count: number): Reading[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) =>
    testReading(1 + (i % 4), i, {
      timestamp: T0 + Math.floor(random() * 4 * 3_600_000),
      temperature: Math.floor(random() * 8000) - 4000,
    }));
}

Deno.test("openStore() creates the parent directory, the schema and its version", async () => {
  await using db = await tempDb();
  openStore(db.path).close();
  const raw = new DatabaseSync(db.path);
  try {
    const version = raw.prepare("PRAGMA user_version").get() as { user_version: number };
    assert.equal(version.user_version, SCHEMA_VERSION);
    const journal = raw.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
    assert.equal(journal.journal_mode, "wal");
    const tables = raw.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_stat%' ORDER BY name",
    )
      .all().map((row) => row.name);
    assert.deepEqual(tables, ["meta", "readings", "rollups", "sensors", "sqlite_sequence"]);
  } finally {
    raw.close();
  }
});

Deno.test("openStore() migrates a version 1 file and refuses one from a newer release", async () => {
  await using db = await tempDb();
  const all = randomReadings(3, 2000);
  previousRelease(db.path, 1, all);
  {
    using store = openStore(db.path);
    assert.equal(store.sensors()[0]!.readings, 500, "version 1 summaries are kept, not redone");
    for (const bucket of [300_000, 1_800_000]) {
      const since = T0 - 3_600_000;
      const until = T0 + 5 * 3_600_000;
      const fromRollups = series(store, since, until, bucket);
      const fromRaw = mergedRows(store.seriesRows([{ width: 0, from: since, to: until }], {
        bucket,
      }));
      assert.deepEqual(fromRollups, fromRaw, `bucket ${bucket}`);
    }
    store.write([[testReading(1, 99_999, { timestamp: T0 })]]);
    assert.equal(store.sensors()[0]!.readings, 501);
  }
  const check = new DatabaseSync(db.path);
  const widths = check.prepare("SELECT DISTINCT width FROM rollups ORDER BY width").all();
  check.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  check.close();
  assert.deepEqual(widths.map((row) => row.width), [10_000, 60_000, 300_000, 1_800_000, 3_600_000]);
  assert.throws(() => openStore(db.path), /schema version \d+ is newer than this release's/);
});

Deno.test("openStore() migrates a version 3 file to nullable quantities, keeping cursors and summaries", async () => {
  await using db = await tempDb();
  const all = randomReadings(4, 2000);
  previousRelease(db.path, 3, all);
  // Readings 2001..2500 were stored and deleted since (retention, with
  // their summaries): their cursors must still never be reused.
  const raw = new DatabaseSync(db.path);
  raw.exec("UPDATE sqlite_sequence SET seq = 2500 WHERE name = 'readings'");
  raw.exec("UPDATE meta SET value = 2500 WHERE key = 'summarized_cursor'");
  const oldRows = raw.prepare(
    "SELECT cursor, sensor_id, seq, timestamp, temperature, pressure, humidity FROM readings ORDER BY cursor",
  ).all();
  raw.close();
  const since = T0 - 3_600_000;
  const until = T0 + 5 * 3_600_000;
  {
    using store = openStore(db.path);
    assert.equal(store.newestCursor(), 2500);
    assert.deepEqual(store.sensors().map((s) => s.readings), [500, 500, 500, 500]);
    const check = new DatabaseSync(db.path, { readOnly: true });
    assert.deepEqual(
      check.prepare(
        "SELECT cursor, sensor_id, seq, timestamp, temperature, pressure, humidity FROM readings ORDER BY cursor",
      ).all(),
      oldRows,
    );
    check.close();
    const absent = testReading(4, 99_999, { timestamp: T0 + 1000, pressure: null, humidity: null });
    store.write([[absent]]);
    assert.deepEqual(store.after(1999, { limit: 10 }).readings.map((r) => r.cursor), [2000, 2501]);
    assert.deepEqual(
      store.latest({ limit: 1, sensor: 4, since: T0 + 1000, until: T0 + 1001 }).map((r) => ({
        ...r,
      })),
      [
        absent,
      ],
    );
    store.flushSummary();
    for (const bucket of [10_000, 300_000, 3_600_000]) {
      const fromRaw = mergedRows(store.seriesRows([{ width: 0, from: since, to: until }], {
        bucket,
      }));
      assert.deepEqual(series(store, since, until, bucket), fromRaw, `bucket ${bucket}`);
    }
  }
  const check = new DatabaseSync(db.path, { readOnly: true });
  const version = check.prepare("PRAGMA user_version").get() as { user_version: number };
  check.close();
  assert.equal(version.user_version, SCHEMA_VERSION);
});

Deno.test("Store keeps absent quantities as null and aggregates only the values present", async () => {
  await using db = await tempDb();
  using store = openStore(db.path);
  const readings: Reading[] = [
    testReading(1, 1, { timestamp: T0, temperature: 1000, pressure: null }),
    testReading(1, 2, { timestamp: T0 + 1, temperature: 3000, pressure: null, humidity: null }),
    testReading(1, 3, { timestamp: T0 + 2, temperature: null }),
    testReading(1, 4, { timestamp: T0 + 20_000, pressure: null, humidity: null }),
  ];
  store.write([readings]);
  assert.deepEqual(store.latest({ limit: 10 }).toReversed().map((r) => ({ ...r })), readings);
  const bucket = 10_000;
  const check = (label: string) => {
    const rows = series(store, T0, T0 + 30_000, bucket);
    const rawRows = mergedRows(store.seriesRows([{ width: 0, from: T0, to: T0 + 30_000 }], {
      bucket,
    }));
    assert.deepEqual(rows, rawRows, label);
    assert.deepEqual(rows, {
      [`1@${T0}`]: [3, 2, 1000, 3000, 4000, 1, 101303, 101303, 101303, 2, 4001, 4003, 8004],
      [`1@${T0 + 20_000}`]: [1, 1, 2004, 2004, 2004, 0, null, null, 0, 0, null, null, 0],
    }, label);
  };
  check("before the summaries are flushed");
  store.flushSummary();
  check("from the rollups");
  // A later reading with a value fills a bucket's min and max that had none.
  store.write([[testReading(1, 5, { timestamp: T0 + 20_001, temperature: 2000 })]]);
  store.flushSummary();
  assert.deepEqual(series(store, T0 + 20_000, T0 + 30_000, bucket)[`1@${T0 + 20_000}`], [
    2,
    2,
    2000,
    2004,
    4004,
    1,
    101305,
    101305,
    101305,
    1,
    4005,
    4005,
    4005,
  ]);
  assert.throws(
    () =>
      store.write([[
        testReading(1, 6, { timestamp: T0, temperature: null, pressure: null, humidity: null }),
      ]]),
    /CHECK constraint failed/,
  );
});

Deno.test("Store.write() dedupes on (sensor, seq, timestamp) and gives increasing cursors", async () => {
  await using db = await tempDb();
  using store = openStore(db.path);
  const batch = [
    testReading(2, 1, { timestamp: T0 }),
    testReading(1, 1, { timestamp: T0 }),
    testReading(1, 1, { timestamp: T0 }),
    testReading(1, 2, { timestamp: T0 }),
  ];
  assert.deepEqual(store.write([batch, [testReading(1, 1, { timestamp: T0 })]]), [
    { stored: 3, duplicates: 1 },
    { stored: 0, duplicates: 1 },
  ]);
  const page = store.after(0, { limit: 10 });
  assert.equal(page.readings.length, 3);
  const cursors = page.readings.map((r) => r.cursor);
  assert.deepEqual(cursors, [...cursors].sort((a, b) => a - b));
  store.write([[testReading(9, 1, { timestamp: T0 - 1e9 })]]);
  const next = store.after(page.cursor, { limit: 10 });
  assert.deepEqual(next.readings.map((r) => r.sensorId), [9]);
  assert.ok(next.cursor > page.cursor);
});

Deno.test("Store.write() stores nothing of a group whose commit fails", async () => {
  await using db = await tempDb();
  using store = openStore(db.path);
  store.write([[testReading(1, 1, { timestamp: T0 })]]);
  const bad = testReading(1, 2, { timestamp: T0, temperature: "hot" as unknown as number });
  assert.throws(() => store.write([[testReading(1, 3, { timestamp: T0 })], [bad]]));
  assert.equal(store.latest({ limit: 10 }).length, 1);
  assert.equal(store.sensors()[0]!.readings, 1);
  store.write([[testReading(1, 3, { timestamp: T0 })]]);
  assert.equal(store.sensors()[0]!.readings, 2);
});

Deno.test("Store reads are exact before and after the summaries are flushed", async () => {
  await using db = await tempDb();
  const all = randomReadings(1, 3000);
  using store = openStore(db.path);
  store.write([all.slice(0, 1000)]);
  store.flushSummary();
  store.write([all.slice(1000, 2000), all.slice(0, 10)]); // plus some duplicates
  store.write([all.slice(2000)]);
  // Not flushed: two thirds are only in the tail.
  const since = T0 - 3_600_000;
  const until = T0 + 5 * 3_600_000;
  const before = { sensors: store.sensors(), series: series(store, since, until, 600_000) };
  store.flushSummary();
  const after = { sensors: store.sensors(), series: series(store, since, until, 600_000) };
  assert.deepEqual(before, after);
  // And both agree with raw readings (width 0 everywhere).
  const raw = store.seriesRows([{ width: 0, from: since, to: until }], { bucket: 600_000 });
  assert.equal(raw.reduce((n, row) => n + row[2], 0), 3000);
  assert.deepEqual(after.sensors.map((s) => s.readings), [750, 750, 750, 750]);
  const minTimestamp = Math.min(...all.filter((r) => r.sensorId === 1).map((r) => r.timestamp));
  assert.equal(after.sensors[0]!.firstSeen, minTimestamp);
});

Deno.test("openStore() summarises readings a crash left unsummarised, once", async () => {
  await using db = await tempDb();
  const all = randomReadings(2, 2000);
  const crashed = openStore(db.path);
  crashed.write([all.slice(0, 1000)]);
  crashed.flushSummary();
  crashed.write([all.slice(1000)]);
  // The process dies here: the second batch is committed, its summary is not.
  const recovered = openStore(db.path);
  try {
    assert.deepEqual(recovered.sensors().map((s) => s.readings), [500, 500, 500, 500]);
    const raw = new DatabaseSync(db.path);
    const summed = raw.prepare("SELECT sum(readings) AS n FROM sensors").get() as { n: number };
    raw.close();
    assert.equal(summed.n, 2000, "the sensors table itself is complete");
    // The dead connection's pending summary must not be added a second time.
    crashed.flushSummary();
    assert.deepEqual(recovered.sensors().map((s) => s.readings), [500, 500, 500, 500]);
  } finally {
    crashed.close();
    recovered.close();
  }
});

Deno.test("Store.deleteBefore() removes old readings in chunks with their summaries", async () => {
  await using db = await tempDb();
  using store = openStore(db.path);
  const hour = 3_600_000;
  const batch: Reading[] = [];
  for (let h = 0; h < 10; h++) {
    for (let i = 0; i < 100; i++) {
      batch.push(testReading(1 + (i % 2), h * 100 + i, { timestamp: T0 + h * hour + i }));
    }
  }
  batch.push(testReading(3, 1, { timestamp: T0 })); // a sensor with only old readings
  store.write([batch]);
  const cutoff = T0 + 4 * hour + 1234; // rounded down to the hour
  let deleted = 0;
  let calls = 0;
  while (true) {
    const result = store.deleteBefore(cutoff, 150);
    deleted += result.deleted;
    calls++;
    if (result.done) break;
  }
  assert.equal(deleted, 401);
  assert.ok(calls >= 3, `${calls} chunks`);
  const sensors = store.sensors();
  assert.deepEqual(sensors.map((s) => [s.id, s.readings, s.firstSeen]), [
    [1, 300, T0 + 4 * hour],
    [2, 300, T0 + 4 * hour + 1],
  ]);
  assert.deepEqual(
    series(store, T0 - hour, T0 + 11 * hour, hour),
    series(store, T0 + 4 * hour, T0 + 11 * hour, hour),
  );
  const rows = store.seriesRows([{ width: 3_600_000, from: T0 - hour, to: T0 + 11 * hour }], {
    bucket: hour,
  });
  assert.equal(rows.reduce((n, row) => n + row[2], 0), 600, "no rollup of deleted readings");
});

Deno.test("WorkerWriter commits on its own thread and is answered after the commit", async () => {
  await using db = await tempDb();
  using store = openStore(db.path);
  const commits: number[] = [];
  const writer = await WorkerWriter.open(db.path, {
    onCommit: (info) => commits.push(info.stored),
  });
  try {
    const batches = Array.from(
      { length: 20 },
      (_, b) =>
        Array.from({ length: 100 }, (_, i) => testReading(b, i, { timestamp: T0 + i * 1000 })),
    );
    const results = await Promise.all([...batches, batches[0]!].map((b) => writer.write(b)));
    assert.equal(results.reduce((n, r) => n + r.stored, 0), 2000);
    assert.equal(results.reduce((n, r) => n + r.duplicates, 0), 100);
    // Committed before answered: the main thread's connection sees them.
    assert.equal(store.after(0, { limit: 10_000 }).readings.length, 2000);
    assert.equal(commits.reduce((a, b) => a + b, 0), 2000);
    assert.ok(commits.length < 21, `grouped into ${commits.length} commits`);
    assert.equal(store.sensors().length, 20);
    assert.deepEqual(await writer.deleteBefore(T0 + 3_600_000 * 2, 5000), {
      deleted: 2000,
      done: true,
    });
  } finally {
    await writer.close();
  }
  await assert.rejects(writer.write([testReading(1, 1, { timestamp: T0 })]), /closed/);
});
