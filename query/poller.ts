/**
 * The query client's polling loop: follows the server's storage cursor
 * (`GET /api/readings?after=C`, `docs/http-api.md`) so every stored reading
 * is judged exactly once — readings that arrive late with old timestamps
 * included, which a time cursor would miss — and feeds them to the
 * {@linkcode AlarmTracker}.
 *
 * - Start: the head cursor (`GET /api/readings?limit=1`), so the client
 *   follows from "now"; then each known sensor (`GET /api/sensors`) starts
 *   its stale clock and has its newest reading judged, so an alarm already
 *   active at start is reported at once rather than at the next reading.
 * - Each poll pages through everything stored since the last one, judging
 *   each page in (timestamp, seq) order, and moves the cursor after every
 *   page, so a failure half-way neither loses nor repeats a reading.
 * - Unreachable server (or a bad answer): one warning, retries with
 *   backoff, one line when it is back; the cursor is kept. Any other error
 *   (stdout closed, a bug) is not retried but thrown. Stale clocks restart on reconnection,
 *   since the client saw nothing while it could not reach the server.
 * - A poll that found nothing also compares the server's head with the
 *   cursor: a head behind the cursor means the store was replaced (a new
 *   database), and following resumes from its head instead of waiting for
 *   a cursor that will never come back.
 *
 * @module
 */

import { type Reading } from "../protocol/mod.ts";
import { backoffDelay, sleep } from "../static/shared/backoff.js";
import type { Logger } from "../lib/log.ts";
import { DEFAULT_THRESHOLDS, type Thresholds } from "../lib/thresholds.ts";
import { type AlarmEvent, AlarmTracker } from "./alarms.ts";
import { ApiClient, ApiError, isServerError, UnreachableError } from "./api.ts";

/** Readings per request when paging through a backlog. */
export const PAGE_SIZE = 1000;

/** Options of {@linkcode follow}. */
export interface FollowOptions {
  /** Time between polls, in ms. */
  readonly intervalMs: number;
  /** Silence before a sensor is stale, in ms; 0 disables. */
  readonly staleMs: number;
  /** Thresholds from a file; otherwise the server's, or the built-in ones. */
  readonly thresholds?: Thresholds | undefined;
  /** Receives every event, in order. */
  readonly emit: (event: AlarmEvent) => void;
  readonly log: Logger;
  /** Readings per request (default {@linkcode PAGE_SIZE}). */
  readonly pageSize?: number;
  /** The clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
  /** Randomness of the retry backoff (default `Math.random`). */
  readonly random?: () => number;
}

/**
 * Follows the server until `signal` aborts: see the module doc. Never
 * throws for a server problem; resolves once aborted.
 */
export async function follow(
  client: ApiClient,
  signal: AbortSignal,
  options: FollowOptions,
): Promise<void> {
  const { log, emit, intervalMs } = options;
  const now = options.now ?? Date.now;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const outage = new Outage(client.base, log, now);
  const retry = async () => {
    const baseMs = Math.max(100, Math.min(1_000, intervalMs));
    const delay = backoffDelay(outage.failures - 1, {
      baseMs,
      maxMs: 30_000,
      ...(options.random ? { random: options.random } : {}),
    });
    await sleep(delay, signal);
  };

  let start: { cursor: string; tracker: AlarmTracker } | undefined;
  while (!start) {
    try {
      start = await begin(client, signal, options, now);
    } catch (error) {
      if (signal.aborted) return;
      if (!isServerError(error)) throw error;
      outage.failed(error);
      await retry();
      if (signal.aborted) return;
    }
  }
  outage.succeeded();
  const { tracker } = start;
  let cursor = start.cursor;

  while (!signal.aborted) {
    const started = now();
    try {
      let count = 0;
      await readAfter(client, cursor, {
        pageSize,
        signal,
        // The cursor moves with each judged page: a later page failing must
        // neither lose nor repeat this one.
        onPage: (readings, pageCursor) => {
          count += readings.length;
          for (const event of judgePage(tracker, readings, now())) emit(event);
          cursor = pageCursor;
        },
      });
      if (count === 0) cursor = await checkHead(client, cursor, signal, log);
      if (outage.succeeded()) tracker.restartStaleClocks(now());
      for (const event of tracker.checkStale(now())) emit(event);
      log.debug("polled", { readings: count, cursor });
      await sleep(Math.max(0, intervalMs - (now() - started)), signal);
    } catch (error) {
      // A server problem is retried; anything else (stdout gone, a bug) is not.
      if (signal.aborted) return;
      if (!isServerError(error)) throw error;
      outage.failed(error);
      await retry();
    }
  }
}

/** Options of {@linkcode readAfter}. */
export interface ReadAfterOptions {
  readonly pageSize: number;
  readonly signal: AbortSignal;
  /** Receives each page, in storage order, before the next is fetched. */
  readonly onPage: (readings: Reading[], cursor: string) => void;
}

/**
 * Pages through every reading stored after `cursor` until a page comes back
 * short; returns the cursor after the last one. A page is handed over before
 * the next is asked for, so a caller that keeps the cursor from `onPage`
 * loses nothing when a later request fails.
 */
export async function readAfter(
  client: ApiClient,
  cursor: string,
  options: ReadAfterOptions,
): Promise<string> {
  for (;;) {
    const page = await client.readingsAfter(cursor, options.pageSize, options.signal);
    options.onPage(page.readings, page.cursor);
    cursor = page.cursor;
    if (page.readings.length < options.pageSize) return cursor;
  }
}

/**
 * Judges one page in (timestamp, seq) order, so each sensor's readings are
 * taken in the order they were measured even when a batch was stored out of
 * order. Readings across pages are judged in storage order: a reading that
 * arrives late is judged when it arrives, under its own timestamp.
 */
export function judgePage(tracker: AlarmTracker, readings: Reading[], nowMs: number): AlarmEvent[] {
  const ordered = readings.toSorted((a, b) => a.timestamp - b.timestamp || a.seq - b.seq);
  return ordered.flatMap((reading) => tracker.observe(reading, nowMs));
}

async function begin(
  client: ApiClient,
  signal: AbortSignal,
  options: FollowOptions,
  now: () => number,
): Promise<{ cursor: string; tracker: AlarmTracker }> {
  const { log } = options;
  // Head first: a reading stored between the two requests is then judged
  // twice at most, which changes no state, rather than not at all.
  const cursor = await client.head(signal);
  let thresholds = options.thresholds;
  let source = "file";
  if (!thresholds) {
    thresholds = await client.thresholds(signal);
    source = "server";
    if (!thresholds) {
      log.warn("the server does not report thresholds (404); using the built-in ones");
      [thresholds, source] = [DEFAULT_THRESHOLDS, "built-in"];
    }
  }
  const sensors = await client.sensors(signal).catch((error) => {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    log.warn("the server does not list sensors (404); staleness starts with their next reading");
    return [];
  });
  const tracker = new AlarmTracker(thresholds, { staleMs: options.staleMs });
  const events: AlarmEvent[] = [];
  for (const sensor of sensors) {
    tracker.track(sensor.id, now());
    if (sensor.last) events.push(...tracker.observe(sensor.last, now()));
  }
  log.info(`following ${client.base} from cursor ${cursor}`, {
    thresholds: source,
    sensors: sensors.length,
  });
  for (const event of events) options.emit(event);
  return { cursor, tracker };
}

async function checkHead(
  client: ApiClient,
  cursor: string,
  signal: AbortSignal,
  log: Logger,
): Promise<string> {
  const head = await client.head(signal);
  if (BigInt(head) >= BigInt(cursor)) return cursor;
  log.warn(
    `the server's newest reading is behind the cursor (a new database?); following from it`,
    {
      cursor,
      head,
    },
  );
  return head;
}

/** Says once that the server is unreachable, and once that it is back. */
class Outage {
  readonly #base: string;
  readonly #log: Logger;
  readonly #now: () => number;
  #since: number | undefined;
  failures = 0;

  constructor(base: string, log: Logger, now: () => number) {
    [this.#base, this.#log, this.#now] = [base, log, now];
  }

  failed(error: ApiError | UnreachableError): void {
    this.failures++;
    const detail = error instanceof UnreachableError ? error.detail : error.message;
    if (this.#since !== undefined) {
      this.#log.debug(`retry failed: ${detail}`, { failures: this.failures });
      return;
    }
    this.#since = this.#now();
    this.#log.warn(`server unreachable: ${detail}; retrying`, { server: this.#base });
  }

  /** Records a success; true when it ended an outage. */
  succeeded(): boolean {
    this.failures = 0;
    if (this.#since === undefined) return false;
    const seconds = ((this.#now() - this.#since) / 1000).toFixed(1);
    this.#since = undefined;
    this.#log.info(`server reachable again after ${seconds} s`, { server: this.#base });
    return true;
  }
}
