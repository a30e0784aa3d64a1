/**
 * Group commit: requests that arrive together are stored in one transaction.
 *
 * With `synchronous=FULL` every commit waits for an fsync (a few ms on this
 * class of disk, more when it is busy). One transaction per request would
 * cap ingestion at a few hundred requests per second whatever the CPU; here
 * each request queues its validated readings and the queue is committed as
 * one group. Each request is still answered only after the commit that
 * holds it, and all or nothing of it is stored.
 *
 * Three writers share the {@linkcode Writer} interface:
 *
 * - {@linkcode GroupWriter} commits to SQLite on the main thread, on the
 *   next turn of the event loop. For `":memory:"` stores and tests.
 * - `WorkerWriter` (writer_thread.ts) commits to SQLite on a worker thread
 *   (writer_worker.ts) with its own connection: while a commit waits for the disk, the main
 *   thread keeps answering and parsing, and what it queues meanwhile forms
 *   the next, larger group. The server uses this one for an SQLite file.
 * - `PostgresWriter` (postgres_writer.ts) stores each group in PostgreSQL
 *   with one statement.
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import type { Store } from "./store.ts";
import type { WriteResult } from "./storage.ts";

/** What a writer reports after each commit. */
export interface CommitInfo {
  readonly requests: number;
  readonly stored: number;
  readonly duplicates: number;
  readonly seconds: number;
}

/** Stores validated readings; the only path by which the server writes. */
export interface Writer {
  /** Stores `readings` and resolves once they are committed. */
  write(readings: readonly Reading[]): Promise<WriteResult>;
  /**
   * Retention: deletes a chunk of the readings older than `cutoff` (epoch
   * ms, rounded down to each store's unit: the hour for SQLite, see
   * {@linkcode Store.deleteBefore}; the day for PostgreSQL, see
   * postgres_writer.ts); call again until `done`.
   */
  deleteBefore(cutoff: number, limit: number): Promise<{ deleted: number; done: boolean }>;
  /** Commits what is queued, then stops taking writes. */
  close(): Promise<void>;
  /** Why the writer can no longer write (its thread died), if it cannot. */
  readonly failure?: Error | undefined;
}

/** Options of every writer. */
export interface WriterOptions {
  /** Called after each successful commit (metrics, live push). */
  readonly onCommit?: (info: CommitInfo) => void;
  /** Called with an error that no request sees (a failed summary flush). */
  readonly onError?: (error: unknown) => void;
}

const MAX_GROUP_READINGS = 50_000;

/** A request waiting for its commit. */
export interface Pending {
  readonly readings: readonly Reading[];
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Commits on the main thread, one group per turn of the event loop. */
export class GroupWriter implements Writer {
  #store: Store;
  #queue: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onCommit: ((info: CommitInfo) => void) | undefined;
  #onError: ((error: unknown) => void) | undefined;

  constructor(store: Store, options: WriterOptions = {}) {
    this.#store = store;
    this.#onCommit = options.onCommit;
    this.#onError = options.onError;
  }

  write(readings: readonly Reading[]): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ readings, resolve, reject });
      this.#timer ??= setTimeout(() => this.#flush(), 0);
    });
  }

  deleteBefore(cutoff: number, limit: number): Promise<{ deleted: number; done: boolean }> {
    return Promise.resolve(this.#store.deleteBefore(cutoff, limit));
  }

  close(): Promise<void> {
    while (this.#queue.length > 0) this.#flush();
    return Promise.resolve();
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const group = takeGroup(this.#queue, (pending) => pending.readings.length);
    if (this.#queue.length > 0) this.#timer = setTimeout(() => this.#flush(), 0);
    if (group.length === 0) return;
    const started = performance.now();
    let results: WriteResult[];
    try {
      results = this.#store.write(group.map((pending) => pending.readings));
    } catch (error) {
      for (const pending of group) pending.reject(error);
      return;
    }
    group.forEach((pending, i) => pending.resolve(results[i]!));
    this.#onCommit?.(commitInfo(results, (performance.now() - started) / 1000));
    try {
      // No timer here: summaries follow every group, so nothing is left pending.
      this.#store.flushSummary();
    } catch (error) {
      this.#onError?.(error);
    }
  }
}

/** Removes and returns the first requests of `queue`, up to about 50,000 readings. */
export function takeGroup<T>(queue: T[], size: (item: T) => number): T[] {
  let total = 0;
  let count = 0;
  while (count < queue.length && (count === 0 || total < MAX_GROUP_READINGS)) {
    total += size(queue[count]!);
    count++;
  }
  return queue.splice(0, count);
}

/** Totals of one commit's results. */
export function commitInfo(results: readonly WriteResult[], seconds: number): CommitInfo {
  let stored = 0;
  let duplicates = 0;
  for (const result of results) {
    stored += result.stored;
    duplicates += result.duplicates;
  }
  return { requests: results.length, stored, duplicates, seconds };
}
