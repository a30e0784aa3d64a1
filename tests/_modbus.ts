/**
 * Support for the Modbus tests: the simulated PLC as a process, a
 * `--modbus` file written for it, the `vigia_modbus_*` metrics read from a
 * gateway's `/metrics`, and a Modbus TCP server run by Debian's pymodbus
 * (a stack nobody here wrote).
 *
 * @module
 */

import { join } from "node:path";
import { layoutConfig, type PlcEndpoint, type PlcLayout } from "../modbus/layout.ts";
import { delay, freePort } from "./_faults.ts";
import { type RunningProgram, startProgram } from "./_process.ts";

/** Starts plc.ts on port 0 (unless `--port` is in `args`) with `args`. */
export function startPlc(args: readonly string[] = []): Promise<RunningProgram> {
  return startProgram("plc.ts", args.includes("--port") ? args : ["--port", "0", ...args]);
}

/** Writes `file` (a `--modbus` file as a JSON value) to `dir`/modbus.json and returns its path. */
export async function writeModbusFile(dir: string, file: unknown): Promise<string> {
  const path = join(dir, "modbus.json");
  await Deno.writeTextFile(path, JSON.stringify(file, null, 2));
  return path;
}

/** The `--modbus` file reading every sensor of a PLC with `layout` at `endpoint`. */
export function plcFile(
  layout: Partial<PlcLayout>,
  endpoint: Partial<PlcEndpoint> & { port: number },
): { devices: unknown[] } {
  return layoutConfig(
    { sensors: 3, firstId: 1001, type: "int16", order: "ABCD", base: 0, ...layout },
    { host: "127.0.0.1", devices: 1, firstUnit: 1, interval: 0.1, timeout: 1, ...endpoint },
  );
}

/** One `vigia_modbus_<name>` series (counters without `_total`) for `labels` from `/metrics`. */
export async function modbusMetric(
  metricsPort: number,
  name: string,
  labels: Readonly<Record<string, string>>,
): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, {
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  const labelText = Object.entries(labels).map(([key, value]) => `${key}="${value}"`).join(",");
  for (const line of text.split("\n")) {
    for (const full of [`vigia_modbus_${name}`, `vigia_modbus_${name}_total`]) {
      if (line.startsWith(`${full}{${labelText}} `)) return Number(line.split(" ")[1]);
    }
  }
  throw new Error(`no metric vigia_modbus_${name}{${labelText}} in:\n${text}`);
}

/** A point as the pymodbus server encodes it. */
export interface PymodbusPoint {
  readonly table: "holding" | "input";
  readonly address: number;
  readonly type: "int16" | "uint16" | "int32" | "uint32" | "float32";
  readonly order?: "ABCD" | "CDAB" | "BADC" | "DCBA";
  /** A number, or a string Python's float() reads (`"nan"`). */
  readonly value: number | string;
}

/** A pymodbus server running; dispose to stop it. */
export interface Pymodbus extends AsyncDisposable {
  readonly port: number;
}

/**
 * Starts tests/_pymodbus_server.py (Debian's `python3-pymodbus`) on a free
 * port serving `points` in tables of `size` registers for `unit`, and waits
 * until it accepts connections.
 */
export async function startPymodbus(
  spec: { size: number; unit?: number; points: readonly PymodbusPoint[] },
): Promise<Pymodbus> {
  const port = freePort();
  const child = new Deno.Command("/usr/bin/python3", {
    args: [
      new URL("./_pymodbus_server.py", import.meta.url).pathname,
      String(port),
      JSON.stringify(spec),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    return await output;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (Date.now() > deadline) {
        const { stderr } = await stop();
        throw new Error(`pymodbus server did not start: ${new TextDecoder().decode(stderr)}`);
      }
      await delay(100);
    }
  }
  return { port, [Symbol.asyncDispose]: async () => void await stop() };
}
