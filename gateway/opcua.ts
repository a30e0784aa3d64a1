/**
 * The OPC UA source (`--opcua FILE`): one client per server of the file
 * (gateway/opcua_source.ts), their readings into the sink, their metrics.
 *
 * {@linkcode opcuaAccess} names what the file needs (the launcher grants
 * exactly that); {@linkcode loadOpcuaSource} reads and checks the file and
 * only then loads node-opcua (about 125 packages), so a gateway started
 * without `--opcua` never loads it, nor gets the permissions it needs.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import {
  envAccess,
  netAccess,
  type PermissionNeed,
  readAccess,
  sysAccess,
} from "../lib/permissions.ts";
import { namedFiles, type OpcuaConfig, parseOpcuaConfig, readOpcuaConfig } from "./opcua_config.ts";
import { OpcuaMetrics } from "./opcua_metrics.ts";
import type { OpcuaIdentity } from "./opcua_security.ts";
import { type DeviceSource, FaultReporter } from "./sources.ts";

/**
 * The `--opcua` file, the certificates and passwords it names, its servers'
 * endpoints, and what node-opcua reads of the process when it loads (its
 * environment variables, the host name and the home directory). An
 * unreadable or invalid file grants only itself: the gateway then reports
 * it at start.
 */
export function opcuaAccess(file: string): PermissionNeed[] {
  try {
    const config = parseOpcuaConfig(file, Deno.readTextFileSync(file));
    return [
      readAccess("opcua", file),
      ...namedFiles(config).map((path) => readAccess("opcua", path)),
      ...config.servers.map((server) => netAccess("opcua", server.host, server.port)),
      envAccess("opcua"),
      sysAccess("opcua", "hostname"),
      sysAccess("opcua", "homedir"),
    ];
  } catch {
    return [readAccess("opcua", file)];
  }
}

/** The OPC UA source of the file at `path`, with the gateway's identity from `certs`. */
export async function loadOpcuaSource(
  path: string,
  certs: string,
  log: Logger,
): Promise<DeviceSource> {
  // Its files and servers were granted (and checked) from the same file: opcuaAccess().
  const config = await readOpcuaConfig(path);
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
