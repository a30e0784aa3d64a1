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
 * Two writers share the {@linkcode Writer} interface:
 *
 * - {@linkcode GroupWriter} commits on the main thread, on the next turn of
 *   the event loop. For `":memory:"` stores and tests.
 * - {@linkcode WorkerWriter} commits on a worker thread (writer_worker.ts)
 *   with its own connection: while a commit waits for the disk, the main
 *   thread keeps answering and parsing, and what it queues meanwhile forms
 *   the next, larger group. The server uses this one.
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import type { Store, WriteResult } from "./store.ts";

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
  /** Retention: see {@linkcode Store.deleteBefore}. */
  deleteBefore(cutoff: number, limit: number): Promise<{ deleted: number; done: boolean }>;
  /** Commits what is queued, then stops taking writes. */
  close(): Promise<void>;
}

/** Options of both writers. */
export interface WriterOptions {
  /** Called after each successful commit (metrics, live push). */
  readonly onCommit?: (info: CommitInfo) => void;
  /** Called with an error that no request sees (a failed summary flush). */
  readonly onError?: (error: unknown) => void;
}

const MAX_GROUP_READINGS = 50_000;

interface Pending {
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
function takeGroup<T>(queue: T[], size: (item: T) => number): T[] {
  let total = 0;
  let count = 0;
  while (count < queue.length && (count === 0 || total < MAX_GROUP_READINGS)) {
    total += size(queue[count]!);
    count++;
  }
  return queue.splice(0, count);
}

function commitInfo(results: readonly WriteResult[], seconds: number): CommitInfo {
  let stored = 0;
  let duplicates = 0;
  for (const result of results) {
    stored += result.stored;
    duplicates += result.duplicates;
  }
  return { requests: results.length, stored, duplicates, seconds };
}

/** A message to the writer thread. */
export type WriterRequest =
  | {
    readonly type: "open";
    readonly path: string;
  }
  | { readonly type: "write"; readonly id: number; readonly packed: Float64Array }
  | {
    readonly type: "delete";
    readonly id: number;
    readonly cutoff: number;
    readonly limit: number;
  }
  | { readonly type: "close" };

/** A message from the writer thread. */
export type WriterResponse =
  | { readonly type: "opened" }
  | {
    readonly type: "written";
    readonly ids: readonly number[];
    readonly results: readonly WriteResult[];
    readonly seconds: number;
  }
  | {
    readonly type: "deleted";
    readonly id: number;
    readonly deleted: number;
    readonly done: boolean;
  }
  | { readonly type: "failed"; readonly ids: readonly number[]; readonly message: string }
  | { readonly type: "error"; readonly message: string }
  | { readonly type: "closed" };

/** Six numbers per reading, in a buffer the worker receives without a copy. */
function pack(readings: readonly Reading[]): Float64Array<ArrayBuffer> {
  const packed = new Float64Array(readings.length * 6);
  let at = 0;
  for (const reading of readings) {
    packed[at++] = reading.sensorId;
    packed[at++] = reading.seq;
    packed[at++] = reading.timestamp;
    packed[at++] = reading.temperature;
    packed[at++] = reading.pressure;
    packed[at++] = reading.humidity;
  }
  return packed;
}

/** Commits on a worker thread with its own connection; see the module doc. */
export class WorkerWriter implements Writer {
  #worker: Worker;
  #pending = new Map<
    number,
    { resolve: (value: never) => void; reject: (error: unknown) => void }
  >();
  #nextId = 1;
  #closed: Promise<void> | undefined;
  #failure: Error | undefined;
  #onCommit: ((info: CommitInfo) => void) | undefined;
  #onError: ((error: unknown) => void) | undefined;

  private constructor(worker: Worker, options: WriterOptions) {
    this.#worker = worker;
    this.#onCommit = options.onCommit;
    this.#onError = options.onError;
  }

  /**
   * Starts the writer thread on the store at `path` (the schema must exist:
   * open it with `openStore` on the main thread first).
   */
  static async open(
    path: string,
    options: WriterOptions = {},
  ): Promise<WorkerWriter> {
    const worker = new Worker(new URL("./writer_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const writer = new WorkerWriter(worker, options);
    const opened = Promise.withResolvers<void>();
    worker.onmessage = (event: MessageEvent<WriterResponse>) => {
      const message = event.data;
      if (message.type === "opened") opened.resolve();
      else if (message.type === "failed" && message.ids.length === 0) {
        opened.reject(new Error(`Cannot open store writer: ${message.message.split("\n")[0]}`));
      } else writer.#receive(message);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`Store writer thread failed: ${event.message}`);
      opened.reject(error);
      writer.#fail(error);
      writer.#onError?.(error);
    };
    const request: WriterRequest = { type: "open", path };
    worker.postMessage(request);
    try {
      await opened.promise;
    } catch (error) {
      worker.terminate();
      throw error;
    }
    return writer;
  }

  write(readings: readonly Reading[]): Promise<WriteResult> {
    const packed = pack(readings);
    return this.#send((id) => ({ type: "write", id, packed }), [packed.buffer]);
  }

  deleteBefore(cutoff: number, limit: number): Promise<{ deleted: number; done: boolean }> {
    return this.#send((id) => ({ type: "delete", id, cutoff, limit }));
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#failure) {
        this.#worker.terminate();
        return;
      }
      const closed = Promise.withResolvers<void>();
      const previous = this.#worker.onmessage;
      this.#worker.onmessage = (event: MessageEvent<WriterResponse>) => {
        if (event.data.type === "closed") closed.resolve();
        else previous?.call(this.#worker, event);
      };
      this.#worker.postMessage({ type: "close" } satisfies WriterRequest);
      await closed.promise;
      this.#worker.terminate();
    })();
    return this.#closed;
  }

  #send<T>(make: (id: number) => WriterRequest, transfer: Transferable[] = []): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new Error("Cannot write: the store writer is closed"));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: never) => void, reject });
      this.#worker.postMessage(make(id), transfer);
    });
  }

  #receive(message: WriterResponse): void {
    switch (message.type) {
      case "written":
        message.ids.forEach((id, i) => this.#settle(id, message.results[i]));
        this.#onCommit?.(commitInfo(message.results, message.seconds));
        break;
      case "deleted":
        this.#settle(message.id, { deleted: message.deleted, done: message.done });
        break;
      case "error":
        this.#onError?.(new Error(message.message));
        break;
      case "failed":
        for (const id of message.ids) {
          const pending = this.#pending.get(id);
          this.#pending.delete(id);
          pending?.reject(new Error(`Cannot store readings: ${message.message}`));
        }
        break;
    }
  }

  #settle(id: number, value: unknown): void {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    pending?.resolve(value as never);
  }

  #fail(error: Error): void {
    this.#failure = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
