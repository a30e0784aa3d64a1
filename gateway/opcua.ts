/**
 * `--opcua FILE`: reads and checks the file, checks the permissions it
 * needs, and only then loads the OPC UA source, so a gateway started
 * without `--opcua` never loads node-opcua (about 125 packages).
 *
 * @module
 */

import { UsageError } from "../lib/cli.ts";
import type { Logger } from "../lib/log.ts";
import { assertPermissions, netAccess, readAccess } from "../lib/permissions.ts";
import { namedFiles, readOpcuaConfig } from "./opcua_config.ts";
import type { DeviceSource } from "./sources.ts";

/** What node-opcua reads of the process besides files and sockets. */
const STACK_PERMISSIONS: readonly Deno.PermissionDescriptor[] = [
  { name: "env" },
  { name: "sys", kind: "hostname" },
  { name: "sys", kind: "homedir" },
];

/** The OPC UA source of the file at `path`, with the gateway's identity from `certs`. */
export async function loadOpcuaSource(
  path: string,
  certs: string,
  log: Logger,
): Promise<DeviceSource> {
  assertPermissions("gateway", [readAccess("opcua", path)]);
  const config = await readOpcuaConfig(path, (parsed) => {
    assertPermissions("gateway", [
      ...namedFiles(parsed).map((file) => readAccess("opcua", file)),
      ...parsed.servers.map((server) => netAccess("opcua", server.host, server.port)),
    ]);
  });
  for (const descriptor of STACK_PERMISSIONS) {
    if (Deno.permissions.querySync(descriptor).state !== "granted") {
      const what = descriptor.name === "sys" ? `--allow-sys=${descriptor.kind}` : "--allow-env";
      throw new UsageError(`Cannot use --opcua: node-opcua needs ${what}`);
    }
  }
  const [{ readOpcuaIdentity }, { createOpcuaSource }] = await Promise.all([
    import("./opcua_security.ts"),
    import("./opcua_source.ts"),
  ]);
  const identity = await readOpcuaIdentity(certs);
  log.info(`opcua: subscribing to ${config.servers.length} servers`, {
    file: path,
    sensors: config.servers.reduce((sum, server) => sum + server.sensors.length, 0),
  });
  return createOpcuaSource(config, { identity, log });
}
