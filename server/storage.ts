/**
 * The storage interface: what the HTTP handler, the live feed and the server
 * need from a reading store, whichever database holds it.
 *
 * Two implementations answer it identically (tests/server_api_test.ts runs
 * every endpoint against both):
 *
 * - SQLite, one file, the default (sqlite_storage.ts over store.ts);
 * - PostgreSQL, for several server instances on one database
 *   (postgres_storage.ts; see docs/postgres.md).
 *
 * {@linkcode openStorage} picks one from the `--db` value: a
 * `postgres://` or `postgresql://` URL selects PostgreSQL, anything else is
 * an SQLite file path. Reads are asynchronous because PostgreSQL's are;
 * writes go through a {@linkcode Writer} (group commit).
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import type { Logger } from "../lib/log.ts";
import type { Writer, WriterOptions } from "./writer.ts";

/** A reading with the cursor the store gave it (its place in storage order). */
export interface StoredReading extends Reading {
  readonly cursor: number;
}

/** What a write did with one batch. */
export interface WriteResult {
  readonly stored: number;
  readonly duplicates: number;
}

/** Filters of the reading queries; times in epoch ms, `until` exclusive. */
export interface ReadingFilter {
  readonly limit: number;
  readonly sensor?: number | undefined;
  readonly since?: number | undefined;
  readonly until?: number | undefined;
}

/** One page of readings in storage order, from {@linkcode Storage.after}. */
export interface CursorPage {
  readonly readings: StoredReading[];
  /** The cursor to continue from: see docs/http-api.md. */
  readonly cursor: number;
}

/** A sensor as `/api/sensors` lists it. */
export interface SensorInfo {
  readonly id: number;
  readonly readings: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly last: Reading | undefined;
}

/**
 * One aggregated row of a series query: a sensor's bucket starting at `t`,
 * its count of readings, then count, min, max and sum of temperature,
 * pressure and humidity in hundredths over the values present (min and max
 * `null` when the bucket holds none of that quantity).
 */
export type SeriesRow = [
  sensorId: number,
  t: number,
  count: number,
  temperatureCount: number,
  temperatureMin: number | null,
  temperatureMax: number | null,
  temperatureSum: number,
  pressureCount: number,
  pressureMin: number | null,
  pressureMax: number | null,
  pressureSum: number,
  humidityCount: number,
  humidityMin: number | null,
  humidityMax: number | null,
  humiditySum: number,
];

/** A part of a series window: from the rollups of `width` ms, or raw readings for 0. */
export interface SeriesSegment {
  readonly width: number;
  readonly from: number;
  readonly to: number;
}

/** A reading store; see the module doc. */
export interface Storage {
  /** Which database: `"sqlite"` or `"postgres"`. */
  readonly kind: "sqlite" | "postgres";
  /** Where it is, safe to log (a URL without its password). */
  readonly location: string;
  /** Readings matching `filter`, newest timestamp first, with the newest cursor of that snapshot. */
  latestPage(filter: ReadingFilter): Promise<{ readings: Reading[]; cursor: number }>;
  /**
   * Readings stored after `cursor` that match `filter`, in storage order.
   * The returned cursor is the last reading's when the page is full, else
   * the newest stored (every match up to it has been returned).
   */
  after(cursor: number, filter: ReadingFilter): Promise<CursorPage>;
  /** Every sensor with stored readings, by id, with its newest reading. */
  sensors(): Promise<SensorInfo[]>;
  /**
   * Aggregates per sensor and bucket of `bucket` ms over contiguous
   * `segments` (series.ts plans them); a bucket split across segments may
   * come back as several rows, to be added up.
   */
  seriesRows(
    segments: readonly SeriesSegment[],
    options: { bucket: number; sensor?: number | undefined },
  ): Promise<SeriesRow[]>;
  /** The cursor of the newest reading a follower may have seen (0 for none). */
  newestCursor(): Promise<number>;
  /** Throws if the database cannot answer a query. */
  check(): Promise<void>;
  /** Bytes the store takes on disk. */
  sizeBytes(): Promise<number>;
  /**
   * Readies the store for readings stamped at `timestamps`, older than a
   * server would make room for (`deno task migrate`): PostgreSQL creates
   * the partitions of their weeks; SQLite has nothing to do.
   */
  prepareFor(timestamps: readonly number[]): Promise<void>;
  /**
   * The writer the server stores through. `inThread` asks for one that
   * commits on the calling thread (tests, `:memory:`).
   */
  openWriter(options: WriterOptions & { log?: Logger; inThread?: boolean }): Promise<Writer>;
  /**
   * A writer made without waiting (the handler's default in tests): commits
   * in the calling thread.
   */
  createWriter(options: WriterOptions): Writer;
  /**
   * Calls `listener` when readings may have been stored by another process
   * sharing the database (PostgreSQL); never for SQLite, whose only writer
   * is this process. Returns a function that stops listening.
   */
  watch(listener: () => void): Promise<() => Promise<void>>;
  /** Closes the store; the writer must be closed first. */
  close(): Promise<void>;
}

/**
 * The database cannot be reached (PostgreSQL down, its connection lost):
 * not a bug, so the handler answers 503 with `Retry-After` and logs one line
 * instead of a 500 with a stack.
 */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(
      `the database is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = "StoreUnavailableError";
  }
}

/** Options of {@linkcode openStorage}. */
export interface StorageOptions {
  /** The PostgreSQL password, when it is not in the URL (`--db-password-file`, `PGPASSWORD`). */
  readonly password?: string | undefined;
}

/** True when `db` names a PostgreSQL database rather than an SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** `postgres://user@host:port/db`: the URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    return parsed.href;
  } catch {
    return "postgres://(unparsable URL)";
  }
}

/** Opens the store `db` names (see the module doc), creating or migrating its schema. */
export async function openStorage(db: string, options: StorageOptions = {}): Promise<Storage> {
  if (isPostgresUrl(db)) {
    const { openPostgresStorage } = await import("./postgres_storage.ts");
    return await openPostgresStorage(db, options);
  }
  const { openSqliteStorage } = await import("./sqlite_storage.ts");
  return openSqliteStorage(db);
}
