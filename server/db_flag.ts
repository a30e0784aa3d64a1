/**
 * The server's `--db` and `--db-password-file` flags: an SQLite path or a
 * `postgres://` URL, checked at parse time; the permissions each needs; the
 * password read from its file. The password is never put in a message:
 * errors and logs show the URL without it.
 *
 * @module
 */

import { UsageError } from "../lib/cli.ts";
import {
  databaseAccess,
  envAccess,
  netAccess,
  type PermissionNeed,
  readAccess,
} from "../lib/permissions.ts";
import { isPostgresUrl, redactUrl } from "./storage.ts";

/** Checks a `--db` value: a path, or a complete `postgres://` URL; returns it. */
export function parseDb(db: string, passwordFile: string | undefined, flag = "db"): string {
  if (!isPostgresUrl(db)) {
    if (passwordFile !== undefined) {
      throw new UsageError("Cannot use --db-password-file: --db is not a postgres:// URL");
    }
    return db;
  }
  let url: URL | undefined;
  try {
    url = new URL(db);
  } catch { /* reported below */ }
  if (!url?.username || !url.hostname || url.pathname.length < 2) {
    throw new UsageError(
      `Cannot parse --${flag} "${url ? redactUrl(db) : "postgres://…"}": ` +
        "expected postgres://USER[:PASSWORD]@HOST:PORT/DATABASE",
    );
  }
  return db;
}

/**
 * The permissions `--db` needs: the SQLite file's directory, or the
 * PostgreSQL server's address, the password file, and the `PG*`
 * environment variables the driver reads (`PGPASSWORD` among them).
 */
export function dbAccess(
  db: string,
  passwordFile: string | undefined,
  flag = "db",
): PermissionNeed[] {
  if (!isPostgresUrl(db)) return databaseAccess(flag, db);
  const url = new URL(db);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const needs = [netAccess(flag, host, Number(url.port || 5432)), envAccess(flag, "PG*")];
  if (passwordFile !== undefined) needs.push(readAccess(`${flag}-password-file`, passwordFile));
  return needs;
}

/** The password in `--db-password-file` (one line; a trailing newline is not part of it). */
export async function readPassword(
  path: string | undefined,
  flag = "db-password-file",
): Promise<string | undefined> {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read --${flag} "${path}": ${(error as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, "");
  if (password.length === 0) {
    throw new Error(`Cannot use --${flag} "${path}": it is empty`);
  }
  return password;
}
