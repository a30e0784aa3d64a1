import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  decodeReadingRecord,
  decodeReadingRecords,
  encodeReadingPayload,
  encodeReadingRecord,
  encodeReadingRecords,
  type MeasuredReading,
  type Reading,
  READING_PAYLOAD_SIZE,
  READING_RECORD_SIZE,
} from "../protocol/mod.ts";
import { MAX_BATCH_READINGS, openSpool } from "../gateway/spool.ts";
import { testReading } from "./_reading.ts";

Deno.test("encodeReadingRecord() round-trips the extremes of every field and every absent quantity", () => {
  const cases: Reading[] = [
    testReading(7, 1),
    {
      sensorId: 0xffff_ffff,
      seq: 0xffff_ffff,
      timestamp: -8_640_000_000_000_000,
      temperature: -0x8000_0000,
      pressure: 0x7fff_ffff,
      humidity: 0,
    },
    {
      sensorId: 0,
      seq: 0,
      timestamp: 8_640_000_000_000_000,
      temperature: -1,
      pressure: -1,
      humidity: 1,
    },
    testReading(7, 2, { timestamp: -1 }),
    testReading(7, 3, { temperature: null }),
    testReading(7, 4, { pressure: null, humidity: null }),
    testReading(7, 5, { temperature: null, pressure: null, humidity: -0x8000_0000 }),
    testReading(7, 6, { temperature: 0, pressure: null, humidity: 0 }),
  ];
  for (const expected of cases) {
    const bytes = new Uint8Array(READING_RECORD_SIZE + 3).fill(0xa5);
    encodeReadingRecord(bytes, 3, expected);
    assert.deepEqual(decodeReadingRecord(bytes, 3), expected);
  }
});

Deno.test("openSpool() converts a spool of the previous format (28-byte payloads) without losing a reading", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-spool-" });
  try {
    const path = join(dir, "spool.db");
    // The previous release's file: no user_version, READING payloads back to back.
    const old: MeasuredReading[] = [
      testReading(7, 1),
      testReading(7, 2),
      testReading(7, 3),
      testReading(7, 4),
    ];
    const payload = (readings: MeasuredReading[]) => {
      const bytes = new Uint8Array(readings.length * READING_PAYLOAD_SIZE);
      readings.forEach((r, i) => encodeReadingPayload(bytes, i * READING_PAYLOAD_SIZE, r));
      return bytes;
    };
    const db = new DatabaseSync(path);
    db.exec(`
      CREATE TABLE batches (id INTEGER PRIMARY KEY, readings INTEGER NOT NULL, payload BLOB NOT NULL) STRICT;
      CREATE TABLE rejected (id INTEGER PRIMARY KEY, at TEXT NOT NULL, error TEXT NOT NULL, payload BLOB NOT NULL) STRICT;
    `);
    db.prepare("INSERT INTO batches (readings, payload) VALUES (?, ?)").run(
      3,
      payload(old.slice(0, 3)),
    );
    db.prepare("INSERT INTO batches (readings, payload) VALUES (?, ?)").run(
      1,
      payload(old.slice(3)),
    );
    db.prepare("INSERT INTO rejected (at, error, payload) VALUES ('t', 'e', ?)").run(
      payload([testReading(7, 9)]),
    );
    db.close();

    const spool = openSpool(path, { maxReadings: 100 });
    assert.equal(spool.depth, 4);
    const batches = spool.take("oldest", 100);
    assert.deepEqual(batches.flatMap((b) => decodeReadingRecords(b.payload)), old);
    const absent = testReading(7, 5, { pressure: null });
    spool.commit(encodeReadingRecords([absent]), 1);
    spool.close();

    const again = openSpool(path, { maxReadings: 100 });
    assert.deepEqual(
      again.take("oldest", 100).flatMap((b) => decodeReadingRecords(b.payload)),
      [...old, absent],
    );
    again.close();
    const check = new DatabaseSync(path, { readOnly: true });
    const rejected = check.prepare("SELECT payload FROM rejected").get() as { payload: Uint8Array };
    assert.deepEqual(decodeReadingRecords(rejected.payload), [testReading(7, 9)]);
    check.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSpool() refuses a spool written by a newer release", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-spool-" });
  try {
    const path = join(dir, "spool.db");
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    assert.throws(
      () => openSpool(path, { maxReadings: 100 }),
      RangeError,
      "format version 99 is newer than this release's 1",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Spool.commit() survives closing and reopening the file, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-spool-" });
  try {
    const path = join(dir, "nested", "spool.db");
    const first = [testReading(7, 1), testReading(7, 2), testReading(7, 3)];
    const second = [testReading(7, 4)];
    const spool = openSpool(path, { maxReadings: 100 });
    spool.commit(encodeReadingRecords(first), 3);
    spool.commit(encodeReadingRecords(second), 1);
    assert.equal(spool.depth, 4);
    spool.close();

    const reopened = openSpool(path, { maxReadings: 100 });
    try {
      assert.equal(reopened.depth, 4);
      assert.equal(reopened.batches, 2);
      const batches = reopened.take("oldest", 10_000);
      assert.deepEqual(batches.flatMap((b) => decodeReadingRecords(b.payload)), [
        ...first,
        ...second,
      ]);
      const db = new DatabaseSync(path);
      assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      db.close();
    } finally {
      reopened.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Spool.commit() splits a large batch into rows a request can carry", () => {
  const spool = openSpool(":memory:", { maxReadings: 100_000 });
  try {
    const count = MAX_BATCH_READINGS * 2 + 5;
    const readings = Array.from({ length: count }, (_, i) => testReading(7, i + 1));
    spool.commit(encodeReadingRecords(readings), count);
    assert.equal(spool.batches, 3);
    const taken = spool.take("oldest", MAX_BATCH_READINGS);
    assert.equal(taken.length, 1);
    assert.equal(taken[0]!.readings, MAX_BATCH_READINGS);
    assert.deepEqual(decodeReadingRecords(taken[0]!.payload)[0], readings[0]);
  } finally {
    spool.close();
  }
});

Deno.test("Spool.take() reads whole rows from either end within the reading limit", () => {
  const spool = openSpool(":memory:", { maxReadings: 1000 });
  try {
    for (let row = 0; row < 5; row++) {
      spool.commit(
        encodeReadingRecords([testReading(7, row * 2 + 1), testReading(7, row * 2 + 2)]),
        2,
      );
    }
    const oldest = spool.take("oldest", 5);
    assert.deepEqual(oldest.map((b) => decodeReadingRecords(b.payload)[0]!.seq), [1, 3]);
    const newest = spool.take("newest", 4);
    assert.deepEqual(newest.map((b) => decodeReadingRecords(b.payload)[0]!.seq), [9, 7]);
    // At least one row even when it alone exceeds the limit.
    assert.equal(spool.take("oldest", 1).length, 1);
  } finally {
    spool.close();
  }
});

Deno.test("Spool.remove() deletes only the given rows and updates the depth", () => {
  const spool = openSpool(":memory:", { maxReadings: 1000 });
  try {
    spool.commit(encodeReadingRecords([testReading(7, 1)]), 1);
    spool.commit(encodeReadingRecords([testReading(7, 2), testReading(7, 3)]), 2);
    const [first] = spool.take("oldest", 1);
    spool.remove([first!]);
    spool.remove([first!]); // twice: nothing more goes
    assert.equal(spool.depth, 2);
    assert.deepEqual(decodeReadingRecords(spool.take("oldest", 10)[0]!.payload).map((r) => r.seq), [
      2,
      3,
    ]);
  } finally {
    spool.close();
  }
});

Deno.test("Spool.hasRoom() refuses readings past --spool-max", () => {
  const spool = openSpool(":memory:", { maxReadings: 3 });
  try {
    spool.commit(encodeReadingRecords([testReading(7, 1), testReading(7, 2)]), 2);
    assert.equal(spool.hasRoom(1), true);
    assert.equal(spool.hasRoom(2), false);
  } finally {
    spool.close();
  }
});

Deno.test("Spool.reject() moves one reading aside and keeps the rest of its row", () => {
  const spool = openSpool(":memory:", { maxReadings: 1000 });
  try {
    spool.commit(
      encodeReadingRecords([testReading(7, 1), testReading(7, 2), testReading(7, 3)]),
      3,
    );
    const [row] = spool.take("oldest", 10);
    const rest = spool.reject(row!, 1, "timestamp: bad");
    assert.deepEqual(decodeReadingRecords(rest!.payload).map((r) => r.seq), [1, 3]);
    assert.equal(spool.depth, 2);
    assert.deepEqual(decodeReadingRecords(spool.take("oldest", 10)[0]!.payload).map((r) => r.seq), [
      1,
      3,
    ]);
  } finally {
    spool.close();
  }
});

Deno.test("Spool.commit() rejects a payload whose size does not match its count", () => {
  const spool = openSpool(":memory:", { maxReadings: 1000 });
  try {
    assert.throws(() => spool.commit(new Uint8Array(27), 1), RangeError);
    assert.equal(spool.depth, 0);
  } finally {
    spool.close();
  }
});
