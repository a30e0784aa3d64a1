/**
 * Opening a program's SQLite file with an error an operator can act on.
 *
 * SQLite's own messages name neither the file nor the flag that chose it
 * ("unable to open database file", "attempt to write a readonly database"),
 * and a read-only directory fails even for a writable file, because SQLite
 * creates its `-wal` and `-shm` files beside it.
 *
 * @module
 */

/**
 * Calls `open(path)`; if it throws, throws an `Error` naming `--flag` and
 * `path` with SQLite's first line (and, for an unwritable file, why).
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { openDatabase } from "./database.ts";
 *
 * assert.throws(
 *   () => openDatabase("db", "/x.db", () => { throw new Error("unable to open database file"); }),
 *   /^Error: Cannot open --db "\/x\.db": unable to open database file \(SQLite needs/,
 * );
 * ```
 */
export function openDatabase<T>(flag: string, path: string, open: (path: string) => T): T {
  try {
    return open(path);
  } catch (error) {
    const detail = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
    const hint = /unable to open|readonly|read-only/i.test(detail)
      ? " (SQLite needs to write the file and to create -wal and -shm files beside it)"
      : "";
    throw new Error(`Cannot open --${flag} ${JSON.stringify(path)}: ${detail}${hint}`, {
      cause: error,
    });
  }
}
