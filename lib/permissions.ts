/**
 * Start-up checks of the Deno permissions a program's flags need.
 *
 * Each task runs with the least privilege its defaults need (the permission
 * sets in `deno.json`). A flag that points elsewhere (`--db /var/lib/x.db`)
 * must not fail half-way with a bare `NotCapable`: the program checks first
 * and stops with the exact flags to add.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { UsageError } from "./cli.ts";

/** One permission a flag needs. */
export type PermissionNeed =
  | { readonly kind: "read" | "write"; readonly path: string; readonly flag: string }
  | { readonly kind: "net"; readonly host: string; readonly flag: string };

/** Access to read a file. */
export function readAccess(flag: string, path: string): PermissionNeed {
  return { kind: "read", path, flag };
}

/** Access to write a file. */
export function writeAccess(flag: string, path: string): PermissionNeed {
  return { kind: "write", path, flag };
}

/**
 * Read and write access to an SQLite database: its directory, because SQLite
 * creates `-wal`, `-shm` and journal files beside it.
 */
export function databaseAccess(flag: string, path: string): PermissionNeed[] {
  const directory = dirname(resolve(path));
  return [
    { kind: "read", path: directory, flag },
    { kind: "write", path: directory, flag },
  ];
}

/** Network access to `host:port` (to listen on it or to connect to it). */
export function netAccess(flag: string, hostname: string, port: number): PermissionNeed {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return { kind: "net", host: port === 0 ? host : `${host}:${port}`, flag };
}

/**
 * Throws a {@linkcode UsageError} naming every missing permission and the
 * command line that grants it, or returns when all are granted.
 */
export function assertPermissions(program: string, needs: readonly PermissionNeed[]): void {
  const missing = needs.filter((need) => !isGranted(need));
  if (missing.length === 0) return;
  const flags = [...new Set(missing.map(permissionFlag))];
  const why = [...new Set(missing.map((need) => `--${need.flag}`))].join(", ");
  // A command-line --allow-read/--allow-write replaces the set's list rather
  // than adding to it: say so, or the next start fails on the set's own paths.
  throw new UsageError(
    `Cannot start ${program}: ${why} needs ${flags.join(" ")}. ` +
      `Add the path to "permissions.${program}" in deno.json, or run ` +
      `\`deno run -P=${program} ${flags.join(" ")} ${program}.ts ...\` with the set's own ` +
      `paths added to each flag (on the command line a flag replaces the set's list).`,
  );
}

function isGranted(need: PermissionNeed): boolean {
  const descriptor: Deno.PermissionDescriptor = need.kind === "net"
    ? { name: "net", host: need.host }
    : { name: need.kind, path: need.path };
  return Deno.permissions.querySync(descriptor).state === "granted";
}

function permissionFlag(need: PermissionNeed): string {
  return need.kind === "net" ? `--allow-net=${need.host}` : `--allow-${need.kind}=${need.path}`;
}
