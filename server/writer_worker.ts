/**
 * The store's writer thread: owns the only writing connection to the
 * database and commits what the main thread sends, in groups.
 *
 * Runs as a `Worker` started by `WorkerWriter` (writer_thread.ts). Durability
 * is the same as `synchronous=FULL` (an fsync of the write-ahead log after
 * every commit, before any request in it is answered), but the fsync runs
 * off this thread: the connection commits with `synchronous=NORMAL` (no
 * fsync in the commit itself), then this thread asks for an fsync of the
 * `-wal` file and goes on inserting the next group while the disk works.
 * A group's requests are answered when the fsync that covers its commit
 * has returned. SQLite still fsyncs around its own checkpoints.
 *
 * Messages in: `open`, `write` (readings as 29-byte records, protocol/record.ts), `delete`
 * (retention), `close`. Messages out: `opened`, `written`, `deleted`,
 * `failed`, `closed`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { decodeReadingRecords, type Reading } from "../protocol/mod.ts";
import { openStore, type Store } from "./store.ts";
import type { WriterRequest, WriterResponse } from "./writer_thread.ts";

const MAX_GROUP_READINGS = 50_000;
/** How often the summaries of committed groups reach `sensors` and `rollups`. */
const SUMMARY_INTERVAL_MS = 250;

let store: Store | undefined;
let wal: Deno.FsFile | undefined;
let queue: { id: number; readings: Reading[] }[] = [];
let timer: ReturnType<typeof setTimeout> | undefined;
let summaryTimer: ReturnType<typeof setTimeout> | undefined;
const syncing = new Set<Promise<void>>();

function post(message: WriterResponse): void {
  self.postMessage(message);
}

/** Commits the next group, then answers it once the WAL fsync covering it returns. */
function flush(): void {
  timer = undefined;
  let size = 0;
  let count = 0;
  while (count < queue.length && (count === 0 || size < MAX_GROUP_READINGS)) {
    size += queue[count]!.readings.length;
    count++;
  }
  const group = queue.slice(0, count);
  queue = queue.slice(count);
  if (queue.length > 0) timer = setTimeout(flush, 0);
  if (group.length === 0) return;
  const ids = group.map((item) => item.id);
  const started = performance.now();
  let results: ReturnType<Store["write"]>;
  try {
    results = store!.write(group.map((item) => item.readings));
  } catch (error) {
    post({ type: "failed", ids, message: errorText(error) });
    return;
  }
  summaryTimer ??= setTimeout(flushSummary, SUMMARY_INTERVAL_MS);
  const synced = wal!.sync().then(
    () => post({ type: "written", ids, results, seconds: (performance.now() - started) / 1000 }),
    (error) => post({ type: "failed", ids, message: `Cannot sync the WAL: ${errorText(error)}` }),
  ).finally(() => syncing.delete(synced));
  syncing.add(synced);
}

function flushSummary(): void {
  summaryTimer = undefined;
  try {
    store!.flushSummary();
  } catch (error) {
    // Kept pending and retried; reads stay exact meanwhile (they add the tail).
    post({ type: "error", message: `Cannot summarise readings: ${errorText(error)}` });
    summaryTimer = setTimeout(flushSummary, SUMMARY_INTERVAL_MS * 4);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

self.onmessage = async (event: MessageEvent<WriterRequest>) => {
  const message = event.data;
  switch (message.type) {
    case "open":
      try {
        store = openStore(message.path, { synchronous: "NORMAL" });
        // Reading a WAL database creates its -wal file, so it exists now.
        wal = await Deno.open(`${message.path}-wal`, { read: true });
        post({ type: "opened" });
      } catch (error) {
        store?.close();
        post({ type: "failed", ids: [], message: errorText(error) });
      }
      break;
    case "write":
      queue.push({ id: message.id, readings: decodeReadingRecords(message.records) });
      timer ??= setTimeout(flush, 0);
      break;
    case "delete":
      try {
        const { deleted, done } = store!.deleteBefore(message.cutoff, message.limit);
        post({ type: "deleted", id: message.id, deleted, done });
      } catch (error) {
        post({ type: "failed", ids: [message.id], message: errorText(error) });
      }
      break;
    case "close":
      clearTimeout(timer);
      while (queue.length > 0) flush();
      clearTimeout(timer);
      timer = undefined;
      clearTimeout(summaryTimer);
      await Promise.all(syncing);
      wal?.close();
      store?.close();
      post({ type: "closed" });
      break;
  }
};
