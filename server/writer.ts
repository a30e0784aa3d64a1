/**
 * Group commit: requests that arrive together are stored in one transaction.
 *
 * With `synchronous=FULL` every commit waits for an fsync (a few ms on this
 * class of disk). One transaction per request would cap ingestion at a few
 * hundred requests per second whatever the CPU; here each request queues
 * its validated readings and the first one schedules a flush on the next
 * turn of the event loop, by which time the bodies of other requests in
 * flight have been parsed and queued too. Each request is still answered
 * only after the commit that holds it, and all or nothing of it is stored.
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import type { Store, WriteResult } from "./store.ts";

/** What the writer reports after each commit. */
export interface CommitInfo {
  readonly requests: number;
  readonly stored: number;
  readonly duplicates: number;
  readonly seconds: number;
}

/** Options of {@linkcode GroupWriter}. */
export interface GroupWriterOptions {
  /** Called after each successful commit (metrics, live push). */
  readonly onCommit?: (info: CommitInfo) => void;
  /** Readings per transaction before the rest waits for the next one (default 50,000). */
  readonly maxGroupReadings?: number;
}

interface Pending {
  readonly readings: readonly Reading[];
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Queues writes and commits them in groups; see the module doc. */
export class GroupWriter {
  #store: Store;
  #queue: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onCommit: ((info: CommitInfo) => void) | undefined;
  #maxGroup: number;

  constructor(store: Store, options: GroupWriterOptions = {}) {
    this.#store = store;
    this.#onCommit = options.onCommit;
    this.#maxGroup = options.maxGroupReadings ?? 50_000;
  }

  /** Stores `readings` (already validated) and resolves once they are committed. */
  write(readings: readonly Reading[]): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ readings, resolve, reject });
      this.#timer ??= setTimeout(() => this.#flush(), 0);
    });
  }

  /** Commits whatever is queued now (shutdown). */
  flush(): void {
    while (this.#queue.length > 0) this.#flush();
  }

  #flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    let size = 0;
    let count = 0;
    while (count < this.#queue.length && (count === 0 || size < this.#maxGroup)) {
      size += this.#queue[count]!.readings.length;
      count++;
    }
    const group = this.#queue.splice(0, count);
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
    let stored = 0;
    let duplicates = 0;
    group.forEach((pending, i) => {
      const result = results[i]!;
      stored += result.stored;
      duplicates += result.duplicates;
      pending.resolve(result);
    });
    this.#onCommit?.({
      requests: group.length,
      stored,
      duplicates,
      seconds: (performance.now() - started) / 1000,
    });
  }
}
