/**
 * The Deno permissions a program's flags need, and the start-up check.
 *
 * Each program says which files and hosts its configuration needs
 * (`Program.permissions`); the launcher (lib/launch.ts) starts it with
 * exactly those, and `runMain` checks them before running, so a program
 * started by hand with too little stops with the exact flags to add instead
 * of failing half-way with a bare `NotCapable`.
 *
 * @module
 */

import { dirname } from "node:path";
import { UsageError } from "./cli.ts";

/** A kind of system information, as `--allow-sys=` names it. */
export type SysKind = NonNullable<Deno.SysPermissionDescriptor["kind"]>;

/** One permission a flag needs. */
export type PermissionNeed =
  | {
    readonly kind: "read" | "write";
    readonly path: string;
    readonly flag: string;
    /** Granted by the launcher, not required: without it the program warns and does less. */
    readonly optional?: boolean;
  }
  | { readonly kind: "net"; readonly host: string; readonly flag: string }
  | { readonly kind: "run"; readonly command: string; readonly flag: string }
  /**
   * Environment variables: those of `variable` (a name or a prefix and `*`,
   * as `--allow-env=` takes them), or every one when absent (for a
   * third-party stack that reads its own).
   */
  | { readonly kind: "env"; readonly flag: string; readonly variable?: string }
  /** One kind of system information (`hostname`, `homedir`, …). */
  | {
    readonly kind: "sys";
    readonly name: SysKind;
    readonly flag: string;
  };

/** Access to read a file or a directory. */
export function readAccess(flag: string, path: string): PermissionNeed {
  return { kind: "read", path, flag };
}

/** Access to write a file. */
export function writeAccess(flag: string, path: string): PermissionNeed {
  return { kind: "write", path, flag };
}

/**
 * Read access to the program's own files (the dashboard, a worker's
 * modules): wanted, not required, since the program works on without them.
 */
export function ownFilesAccess(path: string): PermissionNeed {
  return { kind: "read", path, flag: "", optional: true };
}

/** Read and write access to a directory (or file). */
export function readWriteAccess(flag: string, path: string): PermissionNeed[] {
  return [{ kind: "read", path, flag }, { kind: "write", path, flag }];
}

/**
 * Read and write access to an SQLite database: its directory, because SQLite
 * creates `-wal`, `-shm` and journal files beside it.
 */
export function databaseAccess(flag: string, path: string): PermissionNeed[] {
  return readWriteAccess(flag, dirname(path));
}

/** Network access to `host:port` (to listen on it or to connect to it). */
export function netAccess(flag: string, hostname: string, port: number): PermissionNeed {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return { kind: "net", host: port === 0 ? host : `${host}:${port}`, flag };
}

/** Network access to the host and port of an `http(s)://` URL. */
export function urlAccess(flag: string, url: URL): PermissionNeed {
  return netAccess(flag, url.hostname.replace(/^\[|\]$/g, ""), urlPort(url));
}

/** The port of an `http(s)://` URL, its scheme's default when not written. */
export function urlPort(url: URL): number {
  return url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
}

/** Permission to run `command`. */
export function runAccess(flag: string, command: string): PermissionNeed {
  return { kind: "run", command, flag };
}

/**
 * Read access to the environment variables `variable` names (`PG*`), or to
 * every one (node-opcua reads its own, many).
 */
export function envAccess(flag: string, variable?: string): PermissionNeed {
  return variable === undefined ? { kind: "env", flag } : { kind: "env", flag, variable };
}

/** Access to one kind of system information. */
export function sysAccess(
  flag: string,
  name: SysKind,
): PermissionNeed {
  return { kind: "sys", name, flag };
}

/**
 * Throws a {@linkcode UsageError} naming every missing permission and the
 * flags that grant it, or returns when all are granted.
 */
export function assertPermissions(program: string, needs: readonly PermissionNeed[]): void {
  const missing = needs.filter((need) =>
    !("optional" in need && need.optional) && !isGranted(need)
  );
  if (missing.length === 0) return;
  const flags = [...new Set(missing.map(permissionFlag))];
  const why = [...new Set(missing.map((need) => `--${need.flag}`))].join(", ");
  throw new UsageError(
    `Cannot start ${program}: ${why} needs ${flags.join(" ")}. ` +
      `Start it with \`deno task ${program} ...\`, which grants what the flags name, ` +
      `or add these to \`deno run\`.`,
  );
}

function isGranted(need: PermissionNeed): boolean {
  const descriptor: Deno.PermissionDescriptor = need.kind === "net"
    ? { name: "net", host: need.host }
    : need.kind === "run"
    ? { name: "run", command: need.command }
    : need.kind === "env"
    ? (need.variable === undefined
      ? { name: "env" }
      : { name: "env", variable: need.variable.replace(/\*$/, "") })
    : need.kind === "sys"
    ? { name: "sys", kind: need.name }
    : { name: need.kind, path: need.path };
  return Deno.permissions.querySync(descriptor).state === "granted";
}

function permissionFlag(need: PermissionNeed): string {
  return need.kind === "env" && need.variable === undefined
    ? "--allow-env"
    : `--allow-${need.kind}=${permissionValue(need)}`;
}

/** What a need's `--allow-<kind>=` list holds for it (nothing for all of `env`). */
export function permissionValue(need: PermissionNeed): string {
  switch (need.kind) {
    case "net":
      return need.host;
    case "run":
      return need.command;
    case "env":
      return need.variable ?? "";
    case "sys":
      return need.name;
    default:
      return need.path;
  }
}
