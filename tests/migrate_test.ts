/**
 * `deno task migrate` as a real process under its permission set: an SQLite
 * store copied into a fresh PostgreSQL database with matching counts and
 * its history in week partitions of its own, a second run that copies only what was added since (resume), a run without
 * its ledger finding everything there, and a target that disagrees with the
 * file failing the run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { partitionName, weekStart } from "../server/postgres_partitions.ts";
import { openStorage } from "../server/storage.ts";
import { openStore } from "../server/store.ts";
import { POSTGRES_MISSING, sharedPostgres, stopSharedPostgres } from "./_postgres.ts";
import { startProgram } from "./_process.ts";
import { TEST_EPOCH, testReading } from "./_reading.ts";

const ignore = POSTGRES_MISSING !== undefined;

async function migrate(from: string, to: string, dir: string) {
  const program = await startProgram("migrate.ts", ["--from", from, "--to", to], {
    allow: [`--allow-read=${dir}`, `--allow-write=${dir}`],
    waitFor: null,
  });
  const status = await program.status;
  return { code: status.code, output: program.output() };
}

Deno.test({
  name: "postgres: migrate copies an SQLite store, resumes with what was added, checks counts",
  ignore,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    const dir = await Deno.makeTempDir({ prefix: "vigia-migrate-" });
    try {
      const file = join(dir, "readings.db");
      const write = (from: number, count: number) => {
        using store = openStore(file);
        store.write([
          Array.from({ length: count }, (_, i) => testReading(1 + (i % 7), from + i)),
        ]);
      };
      write(0, 25_000);
      const first = await migrate(file, url, dir);
      assert.equal(first.code, 0, first.output);
      assert.match(first.output, /copied .*copied=25000 of=25000 already_there=0/);
      assert.match(first.output, /counts match .*sensors=7 readings=25000/);
      // More readings in the file: the next run copies only those.
      write(25_000, 3_000);
      const second = await migrate(file, url, dir);
      assert.equal(second.code, 0, second.output);
      assert.match(second.output, /resuming .*copied=25000/);
      assert.match(second.output, /copied .*copied=28000 of=28000 already_there=0/);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql`SELECT count(*)::int AS n FROM readings`;
        assert.equal(row!.n, 28_000);
        // A year-old history gets the partition of its week, not the default one.
        const placement = await sql`SELECT tableoid::regclass::text AS part, count(*)::int AS n
          FROM readings GROUP BY 1`;
        assert.deepEqual(
          placement.map((r) => [r.part, r.n]),
          [[partitionName(weekStart(TEST_EPOCH)), 28_000]],
        );
        // Its ledger lost, a copy starts over and finds everything there.
        await sql`DELETE FROM vigia_imports`;
        const third = await migrate(file, url, dir);
        assert.equal(third.code, 0, third.output);
        assert.match(third.output, /already_there=28000\b/);
        // A reading stored in the database meanwhile (a server running): the counts differ.
        const target = await openStorage(url);
        const writer = target.createWriter({});
        await writer.write([testReading(3, 99_999)]);
        await writer.close();
        await target.close();
        const fourth = await migrate(file, url, dir);
        assert.equal(fourth.code, 1, fourth.output);
        assert.match(fourth.output, /Cannot confirm the copy: 1 sensor\(s\).*sensor 3/);
      } finally {
        await sql.end();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({ name: "postgres: stop the cluster of this file", ignore, fn: stopSharedPostgres });
