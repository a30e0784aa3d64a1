/**
 * A simulated plant OPC UA server on the third-party `node-opcua-server`
 * stack, for `deno task opcua-server`, the demo, the tests and the
 * benchmark: drifting Boiler variables (and `Sim.i` counters) under
 * namespace 1, a self-signed certificate kept in its PKI folder, client
 * certificates refused unless trusted, optional user name and password.
 *
 * @module
 */

import { join, resolve } from "node:path";
import process from "node:process";
import { seededRandom } from "../lib/random.ts";
import { certificateFingerprint, readCertificate } from "../gateway/opcua_pem.ts";

/** The endpoint path every simulated server serves. */
export const RESOURCE_PATH = "/UA/Plant";

/** Options of {@linkcode startOpcuaServer}. */
export interface OpcuaServerOptions {
  readonly port: number;
  readonly pki: string;
  readonly trust?: readonly string[];
  /** User name and password required; anonymous when absent. */
  readonly user?: { readonly name: string; readonly password: string };
  /** Period of the drift in ms; 0 = values change only through `set`. */
  readonly intervalMs?: number;
  readonly nodes?: number;
  readonly seed?: number;
  /** The host name its endpoints advertise (it listens on 127.0.0.1 whatever this says). */
  readonly advertisedHost?: string;
}

/** A running simulated server. */
export interface OpcuaServer {
  readonly endpoint: string;
  readonly port: number;
  /** Path of its certificate (PEM), to pin. */
  readonly certificatePath: string;
  /** SHA-256 fingerprint of its certificate, `AB:01:…`. */
  readonly fingerprint: string;
  /** Sets a variable by its string id (`"Boiler.Temperature"`), with an optional status code. */
  set(id: string, value: number, status?: "Good" | "BadSensorFailure"): void;
  stop(): Promise<void>;
}

/** The Boiler variables: string id, start value, drift per step, bounds. */
const BOILER = [
  { id: "Boiler.Temperature", start: 72, step: 0.4, min: 20, max: 120 },
  { id: "Boiler.Pressure", start: 1013, step: 2, min: 950, max: 1080 },
  { id: "Boiler.Humidity", start: 45, step: 0.5, min: 5, max: 95 },
] as const;

/** Starts a server on 127.0.0.1 and resolves once it listens. */
export async function startOpcuaServer(options: OpcuaServerOptions): Promise<OpcuaServer> {
  // node-opcua-crypto sets OPENSSL_CONF while it reads a private key and
  // then "restores" an unset one as the string "undefined": an openssl the
  // process starts later (certs.ts in the tests) fails on it. Node's
  // compatibility layer also reports that assignment as a deprecation.
  process.noDeprecation = true;
  const opensslConf = Deno.env.get("OPENSSL_CONF");
  const restoreEnvironment = () => {
    if (opensslConf === undefined) Deno.env.delete("OPENSSL_CONF");
    else Deno.env.set("OPENSSL_CONF", opensslConf);
  };
  const ua = await import("node-opcua-server");
  const { OPCUACertificateManager } = await import("node-opcua-certificate-manager");
  const { DataType, Variant } = await import("node-opcua-variant");
  const { StatusCodes } = await import("node-opcua-status-code");
  const pki = resolve(options.pki);
  const certificateManager = new OPCUACertificateManager({
    rootFolder: pki,
    automaticallyAcceptUnknownCertificate: false,
    // The trust list is fixed at start; live folder watching only adds
    // races (a watcher on a file the stack itself has just moved).
    disableFileWatchers: true,
  });
  // X.509 user identities are not offered, but the stack keeps a store for
  // them anyway: inside the PKI folder, not in its default under $HOME.
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: join(pki, "user"),
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  });
  await certificateManager.initialize();
  for (const path of options.trust ?? []) {
    await certificateManager.trustCertificate(await readCertificate(path));
  }
  const user = options.user;
  const server = new ua.OPCUAServer({
    port: options.port,
    host: "127.0.0.1",
    hostname: options.advertisedHost ?? "127.0.0.1",
    resourcePath: RESOURCE_PATH,
    serverCertificateManager: certificateManager,
    userCertificateManager,
    registerServerMethod: ua.RegisterServerMethod.HIDDEN,
    // The stack's defaults: None, Sign and SignAndEncrypt with the three current policies.
    allowAnonymous: user === undefined,
    ...(user === undefined ? {} : {
      userManager: {
        isValidUser: (name: string, password: string) =>
          name === user.name && password === user.password,
      },
    }),
    buildInfo: { productName: "Vigia simulated plant", manufacturerName: "Vigia" },
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const namespace = addressSpace.getOwnNamespace();
  const boiler = namespace.addObject({
    organizedBy: addressSpace.rootFolder.objects,
    browseName: "Boiler",
  });
  type Status = typeof StatusCodes.Good;
  const variables = new Map<string, { set: (value: number, status: Status) => void }>();
  const addVariable = (id: string, initial: number) => {
    const variable = namespace.addVariable({
      componentOf: boiler,
      nodeId: `s=${id}`,
      browseName: id,
      dataType: "Double",
      minimumSamplingInterval: 10,
    });
    const set = (value: number, status: Status) => {
      variable.setValueFromSource(new Variant({ dataType: DataType.Double, value }), status);
    };
    set(initial, StatusCodes.Good);
    variables.set(id, { set });
  };
  const random = seededRandom(options.seed ?? 1);
  const drift = BOILER.map((spec) => ({ ...spec, value: spec.start as number }));
  for (const spec of drift) addVariable(spec.id, spec.value);
  const sims = Array.from({ length: options.nodes ?? 0 }, (_, i) => `Sim.${i}`);
  for (const id of sims) addVariable(id, 0);

  let tick = 0;
  const timer = (options.intervalMs ?? 1000) > 0
    ? setInterval(() => {
      tick++;
      for (const spec of drift) {
        const next = spec.value + (random() * 2 - 1) * spec.step;
        spec.value = Math.min(spec.max, Math.max(spec.min, next));
        variables.get(spec.id)!.set(Math.round(spec.value * 100) / 100, StatusCodes.Good);
      }
      // Each Sim.i is a counter, so every tick is a change the benchmark can count.
      for (let i = 0; i < sims.length; i++) {
        variables.get(sims[i]!)!.set(tick + i, StatusCodes.Good);
      }
    }, options.intervalMs ?? 1000)
    : undefined;

  await server.start();
  restoreEnvironment();
  const port = server.endpoints[0]!.port;
  const certificatePath = server.certificateFile;
  const certificate = await readCertificate(certificatePath);
  return {
    endpoint: `opc.tcp://127.0.0.1:${port}${RESOURCE_PATH}`,
    port,
    certificatePath,
    fingerprint: await certificateFingerprint(certificate),
    set(id, value, status = "Good") {
      const variable = variables.get(id);
      if (!variable) throw new RangeError(`Cannot set "${id}": no such variable`);
      variable.set(value, StatusCodes[status]);
    },
    async stop() {
      clearInterval(timer);
      await server.shutdown(0);
      await certificateManager.dispose();
      await userCertificateManager.dispose();
      restoreEnvironment();
    },
  };
}
