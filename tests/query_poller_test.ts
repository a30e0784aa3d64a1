/**
 * The query client's poller in-process (small pages, so paging is cheap to
 * exercise) against a real server.ts process with a temporary database.
 */

import assert from "node:assert/strict";
import type { RunningProgram } from "./_process.ts";
import { testPki } from "./_pki.ts";
import { startServer, waitUntil } from "./_link.ts";
import { ApiClient } from "../query/api.ts";
import { follow, readAfter } from "../query/poller.ts";
import type { AlarmEvent } from "../query/alarms.ts";
import { createLogger } from "../lib/log.ts";
import { apiReading, postReadings } from "./_api.ts";

const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);

/** Sensor `id`'s reading `seq`, a second after the previous one, as the API takes it. */
function reading(id: number, seq: number, temperature = 21.5, at = T0 + seq * 1000) {
  return apiReading({ id, seq, timestamp: new Date(at).toISOString(), temperature });
}

async function post(server: RunningProgram, readings: ReturnType<typeof reading>[]) {
  const { tokenValue } = await testPki(2);
  const response = await postReadings(`http://127.0.0.1:${server.port}`, tokenValue, readings);
  assert.equal(response.status, 200, await response.text());
}

/** server.ts on a database in `dir`, with the test PKI's ingest token. */
async function startServerIn(
  dir: string,
  options: { port?: number; db?: string } = {},
): Promise<RunningProgram> {
  return await startServer(await testPki(2), dir, options);
}

/** Runs `follow()` in-process with small pages, collecting events and log lines. */
function startFollowing(server: RunningProgram, pageSize: number) {
  const controller = new AbortController();
  const events: AlarmEvent[] = [];
  const logLines: string[] = [];
  const client = new ApiClient(new URL(`http://127.0.0.1:${server.port}`));
  const done = follow(client, controller.signal, {
    intervalMs: 50,
    staleMs: 0,
    pageSize,
    emit: (event) => events.push(event),
    log: createLogger("query", { debug: true, write: (line) => logLines.push(line) }),
  });
  return {
    events,
    logLines,
    [Symbol.asyncDispose]: async () => {
      controller.abort();
      await done;
    },
  };
}

Deno.test("readAfter() pages through a backlog in storage order, each reading once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-query-" });
  try {
    await using server = await startServerIn(dir);
    const client = new ApiClient(new URL(`http://127.0.0.1:${server.port}`));
    const signal = AbortSignal.timeout(20_000);
    const start = await client.head(signal);
    const seqs = Array.from({ length: 2_500 }, (_, i) => i + 1);
    await post(server, seqs.slice(0, 1_200).map((seq) => reading(1, seq)));
    // Stored after the others but measured a day before them: storage order still rules.
    await post(server, seqs.slice(1_200).map((seq) => reading(2, seq, 20, T0 - 86_400_000 + seq)));
    const pages: number[][] = [];
    const cursor = await readAfter(client, start, {
      pageSize: 1_000,
      signal,
      onPage: (readings) => pages.push(readings.map((r) => r.sensorId * 100_000 + r.seq)),
    });
    assert.deepEqual(pages.map((page) => page.length), [1_000, 1_000, 500]);
    assert.deepEqual(pages.flat(), [
      ...seqs.slice(0, 1_200).map((seq) => 100_000 + seq),
      ...seqs.slice(1_200).map((seq) => 200_000 + seq),
    ]);
    assert.equal(cursor, await client.head(signal));
    let again = 0;
    assert.equal(
      await readAfter(client, cursor, {
        pageSize: 1_000,
        signal,
        onPage: (r) => again += r.length,
      }),
      cursor,
    );
    assert.equal(again, 0, "nothing new after the cursor");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("follow() judges a backlog of several pages once, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-query-" });
  try {
    await using server = await startServerIn(dir);
    await using following = startFollowing(server, 10);
    await waitUntil(
      () => following.logLines.some((l) => l.includes("following")),
      10_000,
      "following",
    );
    // 35 readings in one go, 3.5 pages: an excursion from seq 5 to seq 30.
    const readings = Array.from(
      { length: 35 },
      (_, i) => reading(7, i + 1, i >= 4 && i < 30 ? 90 : 20),
    );
    await post(server, readings);
    await waitUntil(() => following.events.length >= 2, 10_000, "two events");
    await waitUntil(
      () => following.logLines.filter((l) => /polled readings=0/.test(l)).length >= 3,
      10_000,
      "idle polls",
    );
    assert.deepEqual(
      following.events.map((e) => `${e.type} ${e.sensor} ${"seq" in e ? e.seq : ""}`),
      [
        "alert 7 5",
        "recovered 7 31",
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("follow() resumes from the new head when the server's store was replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-query-" });
  try {
    const first = await startServerIn(dir, { db: "first.db" });
    const port = first.port;
    await using following = startFollowing(first, 10);
    try {
      await waitUntil(
        () => following.logLines.some((l) => l.includes("following")),
        10_000,
        "following",
      );
      await post(first, Array.from({ length: 5 }, (_, i) => reading(1, i + 1)));
      await waitUntil(
        () => following.logLines.some((l) => /polled readings=5/.test(l)),
        10_000,
        "a poll",
      );
    } finally {
      await first.stop();
    }
    await using second = await startServerIn(dir, { port, db: "second.db" });
    await post(second, [reading(1, 6), reading(1, 7)]);
    await waitUntil(
      () => following.logLines.some((l) => /reachable again/.test(l)),
      10_000,
      "reconnection",
    );
    const polls = following.logLines.length;
    await waitUntil(
      () => following.logLines.slice(polls).some((l) => /polled readings=0/.test(l)),
      10_000,
      "an idle poll of the new store",
    );
    // Stored at cursor 3 of the new database, below the old cursor 5.
    await post(second, [reading(1, 8, 100)]);
    await waitUntil(() => following.events.length > 0, 10_000, "the alert");
    assert.deepEqual(following.events.map((e) => `${e.type} ${"seq" in e ? e.seq : ""}`), [
      "alert 8",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
