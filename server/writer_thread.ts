/**
 * The main thread's side of the writer thread: `WorkerWriter` sends validated
 * readings to writer_worker.ts, packed in a transferred buffer, and settles
 * each request when the thread reports its group committed and fsynced.
 * See writer.ts for why writes are grouped and run off the main thread.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { Logger } from "../lib/log.ts";
import { encodeReadingRecords, type Reading } from "../protocol/mod.ts";
import type { WriteResult } from "./storage.ts";
import { type CommitInfo, commitInfo, type Writer, type WriterOptions } from "./writer.ts";

/** A message to the writer thread. */
export type WriterRequest =
  | {
    readonly type: "open";
    readonly path: string;
  }
  | { readonly type: "write"; readonly id: number; readonly records: Uint8Array }
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

/**
 * Whether the writer thread can load its modules (a worker needs read access
 * to server/, protocol/ and static/shared/, whose reading parser protocol/
 * imports). Without it the server still works, committing
 * on the main thread, only with less throughput under heavy load; the
 * warning says which permission to add.
 */
export function writerThreadAvailable(log: Logger): boolean {
  const modules = ["./", "../protocol/", "../static/shared/"].map((dir) =>
    fileURLToPath(new URL(dir, import.meta.url))
  );
  const readable = (path: string) =>
    Deno.permissions.querySync({ name: "read", path }).state === "granted";
  if (modules.every(readable)) return true;
  log.warn(
    `writer thread unavailable without --allow-read=${
      modules.join(",")
    }: committing on the main thread`,
  );
  return false;
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
    // Reading records (protocol/record.ts) in a buffer the worker receives without a copy.
    const records = encodeReadingRecords(readings);
    return this.#send((id) => ({ type: "write", id, records }), [records.buffer]);
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

  /** Set once the thread has died: every later write is refused with it. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  #fail(error: Error): void {
    this.#failure = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
