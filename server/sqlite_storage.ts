/**
 * The SQLite store (store.ts) behind the storage interface (storage.ts).
 *
 * The store's reads are synchronous and cheap; here they are only wrapped
 * in promises. Writes go through the writer thread (writer_thread.ts) when
 * the store is a file and the thread can load its modules, else through a
 * {@linkcode GroupWriter} on the main thread.
 *
 * @module
 */

import { openDatabase } from "../lib/database.ts";
import type { Storage } from "./storage.ts";
import { openStore, type Store } from "./store.ts";
import { GroupWriter, type Writer } from "./writer.ts";
import { WorkerWriter, writerThreadAvailable } from "./writer_thread.ts";

/** Opens (creating if needed) the SQLite store at `path` behind the storage interface. */
export function openSqliteStorage(path: string): Storage {
  return sqliteStorage(openDatabase("db", path, openStore));
}

/** Puts an open SQLite `store` behind the storage interface; closing it closes the store. */
export function sqliteStorage(store: Store): Storage {
  return {
    kind: "sqlite",
    location: store.location,
    latestPage: (filter) => Promise.resolve(store.latestPage(filter)),
    after: (cursor, filter) => Promise.resolve(store.after(cursor, filter)),
    sensors: () => Promise.resolve(store.sensors()),
    seriesRows: (segments, options) => Promise.resolve(store.seriesRows(segments, options)),
    newestCursor: () => Promise.resolve(store.newestCursor()),
    check: () => Promise.resolve(store.check()),
    sizeBytes: () => Promise.resolve(store.sizeBytes()),
    prepareFor: () => Promise.resolve(),
    openWriter: async (options) => {
      const threadAvailable = () => options.log === undefined || writerThreadAvailable(options.log);
      if (store.location === ":memory:" || options.inThread || !threadAvailable()) {
        return new GroupWriter(store, options);
      }
      // The main connection (opened first: it created or migrated the
      // schema) only reads; every write goes through the writer thread.
      return await WorkerWriter.open(store.location, options);
    },
    createWriter: (options): Writer => new GroupWriter(store, options),
    watch: () => Promise.resolve(() => Promise.resolve()),
    close: () => Promise.resolve(store.close()),
  };
}
