/**
 * `deno task migrate`: copies an SQLite store into PostgreSQL.
 *
 * Reads the SQLite file in storage order (`after=` cursor), 10,000 readings
 * at a time, and stores them through the PostgreSQL store's own writer
 * (a reading already there is a duplicate, not an error), each batch
 * after the store has made room for its times (PostgreSQL: the partitions
 * of their weeks, so the history does not all land in the default
 * partition). After each batch
 * the target records how far it got (server/postgres_import.ts), so a copy
 * stopped by Ctrl-C, a crash or a lost connection resumes where it left
 * off when run again; readings added to the file since are copied by the
 * next run. A progress line every 2 s; at the end, every sensor's count in
 * the target is compared with the file's, and any difference fails the run.
 *
 * Flags: `deno task migrate --help` (the table is {@linkcode FLAGS}).
 *
 * Exit codes: 0 copied and counts match (or stopped by SIGINT/SIGTERM after
 * a batch, resumable); 1 a fatal error or counts that differ; 2 bad flags
 * or a missing permission.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import {
  type CommonConfig,
  commonConfig,
  parseTable,
  type Program,
  runMain,
  UsageError,
} from "./lib/cli.ts";
import { type Flag, usage } from "./lib/flags.ts";
import type { Logger } from "./lib/log.ts";
import { databaseAccess, type PermissionNeed } from "./lib/permissions.ts";
import { dbAccess, parseDb, readPassword } from "./server/db_flag.ts";
import { ImportLedger } from "./server/postgres_import.ts";
import { isPostgresUrl, openStorage, type Storage } from "./server/storage.ts";

/** Configuration of `deno task migrate`. */
export interface MigrateConfig extends CommonConfig {
  readonly from: string;
  readonly to: string;
  readonly toPasswordFile: string | undefined;
}

/** The flags of `deno task migrate`. */
export const FLAGS: readonly Flag[] = [
  { name: "from", value: "FILE", help: "the SQLite file (e.g. data/readings.db); required" },
  {
    name: "to",
    value: "URL",
    help: "the PostgreSQL database, postgres://USER[:PASSWORD]@HOST:PORT/DATABASE (schema " +
      "created if missing); required",
  },
  {
    name: "to-password-file",
    value: "FILE",
    help: "its password when the URL has none (else PGPASSWORD)",
  },
];

const USAGE = usage(
  "migrate",
  `Copies the readings of an SQLite store (the server's --db file) into a
PostgreSQL store, resumably: run it again after an interruption, or to copy
what was added since. Counts per sensor are compared at the end. Stop the
servers writing to either store first, so the counts can match.`,
  FLAGS,
  "Exit codes: 0 done (or stopped, resumable), 1 fatal error or counts differ, 2 bad flags.",
);

/** Readings per batch: one request's worth. */
const BATCH = 10_000;
const PROGRESS_EVERY_MS = 2_000;

/** Parses the flags of `deno task migrate`. */
export function parseConfig(args: string[]): MigrateConfig {
  const values = parseTable(args, FLAGS);
  const [from, to] = [values.optional("from"), values.optional("to")];
  if (from === undefined || to === undefined) {
    throw new UsageError("Cannot migrate: --from FILE and --to postgres://… are required");
  }
  if (isPostgresUrl(from)) {
    throw new UsageError("Cannot migrate: --from must be an SQLite file, not a URL");
  }
  if (!isPostgresUrl(to)) {
    throw new UsageError(`Cannot migrate: --to must be a postgres:// URL`);
  }
  return {
    ...commonConfig(values),
    from,
    to: parseDb(to, undefined, "to"),
    toPasswordFile: values.optional("to-password-file"),
  };
}

/** What the flags need: the SQLite file's directory, the PostgreSQL server, its password file. */
export function permissions(config: MigrateConfig): PermissionNeed[] {
  return [
    ...databaseAccess("from", config.from),
    ...dbAccess(config.to, config.toPasswordFile, "to"),
  ];
}

/** Copies, then compares the counts; see the module doc. */
export async function run(config: MigrateConfig, signal: AbortSignal, log: Logger): Promise<void> {
  // Opening a missing file would create an empty store.
  if (!existsSync(config.from)) {
    throw new Error(`Cannot read --from "${config.from}": no such file`);
  }
  const password = await readPassword(config.toPasswordFile, "to-password-file");
  const source = await openStorage(config.from);
  try {
    const target = await openStorage(config.to, { password });
    try {
      const copied = await copy(source, target, { ...config, password, signal, log });
      if (!signal.aborted) await compare(source, target, copied, log);
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

async function copy(
  source: Storage,
  target: Storage,
  context: MigrateConfig & { password: string | undefined; signal: AbortSignal; log: Logger },
): Promise<number> {
  const { signal, log } = context;
  const key = resolve(context.from);
  const total = (await source.sensors()).reduce((sum, sensor) => sum + sensor.readings, 0);
  const ledger = new ImportLedger(context.to, context.password);
  const writer = await target.openWriter({ inThread: true });
  try {
    let { cursor, copied } = await ledger.get(key);
    if (cursor > 0) log.info("resuming", { from: key, copied, cursor });
    let lastReport = performance.now();
    let reportedCopied = copied;
    let duplicates = 0;
    while (!signal.aborted) {
      const page = await source.after(cursor, { limit: BATCH });
      if (page.readings.length === 0) break;
      await target.prepareFor(page.readings.map((reading) => reading.timestamp));
      const result = await writer.write(page.readings);
      duplicates += result.duplicates;
      cursor = page.readings[page.readings.length - 1]!.cursor;
      copied += page.readings.length;
      await ledger.save(key, { cursor, copied });
      const now = performance.now();
      if (now - lastReport >= PROGRESS_EVERY_MS) {
        log.info("progress", {
          copied,
          of: total,
          percent: Math.floor((100 * copied) / Math.max(total, 1)),
          per_s: Math.round((copied - reportedCopied) / ((now - lastReport) / 1000)),
        });
        lastReport = now;
        reportedCopied = copied;
      }
    }
    log.info(signal.aborted ? "stopped; run again to resume" : "copied", {
      copied,
      of: total,
      already_there: duplicates,
    });
    return copied;
  } finally {
    await writer.close();
    await ledger.close();
  }
}

/** Compares every sensor's count in the target with the source's; throws on a difference. */
async function compare(source: Storage, target: Storage, copied: number, log: Logger) {
  const theirs = new Map((await target.sensors()).map((sensor) => [sensor.id, sensor.readings]));
  const ours = await source.sensors();
  const differ = ours.filter((sensor) => theirs.get(sensor.id) !== sensor.readings);
  if (differ.length > 0) {
    const first = differ[0]!;
    throw new Error(
      `Cannot confirm the copy: ${differ.length} sensor(s) have other counts in the target, ` +
        `e.g. sensor ${first.id}: ${first.readings} in the file, ${
          theirs.get(first.id) ?? 0
        } in the database (is a server writing to either?)`,
    );
  }
  const readings = ours.reduce((sum, sensor) => sum + sensor.readings, 0);
  log.info("counts match", { sensors: ours.length, readings, copied });
}

/** The program, as `runMain` runs it. */
export const migrateProgram: Program<MigrateConfig> = {
  name: "migrate",
  usage: USAGE,
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
};

if (import.meta.main) await runMain(migrateProgram);
