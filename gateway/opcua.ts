/**
 * The OPC UA source (`--opcua FILE`): one client per server of the file
 * (gateway/opcua_source.ts), their readings into the sink, their metrics.
 *
 * {@linkcode loadOpcuaSource} reads and checks the file and the permissions
 * it needs, and only then loads node-opcua (about 125 packages), so a
 * gateway started without `--opcua` never loads it.
 *
 * @module
 */

import { UsageError } from "../lib/cli.ts";
import type { Logger } from "../lib/log.ts";
import { assertPermissions, netAccess, readAccess } from "../lib/permissions.ts";
import { namedFiles, type OpcuaConfig, readOpcuaConfig } from "./opcua_config.ts";
import { OpcuaMetrics } from "./opcua_metrics.ts";
import type { OpcuaIdentity } from "./opcua_security.ts";
import { type DeviceSource, FaultReporter } from "./sources.ts";

/**
 * What node-opcua reads of the process besides files and sockets (its
 * environment variables, the host name and home directory), as the flags
 * that grant it: the gateway gets them only with `--opcua`.
 */
export const OPCUA_STACK_FLAGS: readonly string[] = ["--allow-env", "--allow-sys=hostname,homedir"];

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
      throw new UsageError(
        `Cannot use --opcua: node-opcua needs ${OPCUA_STACK_FLAGS.join(" ")} ` +
          "(run deno run -P=gateway " + OPCUA_STACK_FLAGS.join(" ") +
          " gateway.ts --opcua FILE ...)",
      );
    }
  }
  const [{ readOpcuaIdentity }, stack] = await Promise.all([
    import("./opcua_security.ts"),
    import("./opcua_source.ts"),
  ]);
  const identity = await readOpcuaIdentity(certs);
  log.info(`opcua: subscribing to ${config.servers.length} servers`, {
    file: path,
    sensors: config.servers.reduce((sum, server) => sum + server.sensors.length, 0),
  });
  return createOpcuaSource(config, stack, { identity, log });
}

/** What every server's source shares. */
interface OpcuaSourceOptions {
  readonly identity: OpcuaIdentity;
  readonly log: Logger;
}

/** The source subscribing to every server of `config`. */
function createOpcuaSource(
  config: OpcuaConfig,
  stack: typeof import("./opcua_source.ts"),
  options: OpcuaSourceOptions,
): DeviceSource {
  const metrics = new OpcuaMetrics();
  const sensorIds = new Set(config.servers.flatMap((server) => server.sensors.map((s) => s.id)));
  const controller = new AbortController();
  let running: Promise<unknown> = Promise.resolve();
  return {
    kind: "opcua",
    sensorIds,
    start(sink) {
      running = Promise.all(config.servers.map((server) => {
        const faults = new FaultReporter(options.log, { server: server.name });
        const source = new stack.OpcuaServerSource(server, {
          ...options,
          metrics,
          faults,
          onReading: (reading) => {
            if (sink.push(reading) === "full") {
              faults.fail("full", "readings dropped: the spool is full");
              return;
            }
            faults.clear("full");
            metrics.readings.add({ server: server.name });
          },
        });
        return source.run(controller.signal);
      }));
    },
    async stop() {
      controller.abort();
      await running;
    },
    metrics: metrics.registry,
  };
}
