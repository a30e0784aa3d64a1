// deno-lint-ignore-file no-console -- printing figures is what a benchmark is for
/**
 * Modbus benchmark: simulated PLCs → Modbus TCP → gateway spool → HTTP →
 * server SQLite, each its own process (started as the tasks start them).
 * By default 100 devices of 10 sensors polled at 10 Hz: 10,000 readings/s
 * offered. Over a steady window after a warm-up it prints:
 *
 * - polls/s the gateway made, and skipped (overrun) polls;
 * - readings/s made from registers and **stored** end to end (the server's
 *   `vigia_readings_stored_total`);
 * - poll → stored latency p50 / p99 (a Modbus reading's timestamp is when
 *   its poll's last response arrived, so the server's freshness histogram
 *   measures exactly that);
 * - the gateway's CPU in cores and per poll (everything it does: polling,
 *   committing, forwarding), and the PLC's and the server's CPU;
 *
 * and one line a script can parse:
 *
 * ```
 * BENCH modbus devices=100 sensors=10 hz=10 polls_per_s=… stored_per_s=… p99_ms=… gateway_cores=… gateway_us_per_poll=…
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Child, LISTENING_LINE, startChild } from "../lib/child.ts";
import { layoutConfig } from "../modbus/layout.ts";
import { measureWindow } from "./source_window.ts";
import { exitIfHelpAsked, positiveFlag } from "./usage.ts";

const USAGE = `
Usage: deno task bench modbus -- [--devices 100] [--sensors 10] [--hz 10]
         [--seconds 10] [--warmup 5]

  --devices N     simulated Modbus devices (one PLC process, one unit each) (default 100)
  --sensors N     sensors per device, 3 registers each (default 10)
  --hz N          polls per second per device (default 10)
  --seconds S     steady window measured (default 10)
  --warmup S      seconds before the window starts (default 5)
`;
exitIfHelpAsked(USAGE);

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    devices: { type: "string", default: "100" },
    sensors: { type: "string", default: "10" },
    hz: { type: "string", default: "10" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "5" },
  },
  strict: false, // `deno task bench -- ...` passes every benchmark's flags
});

const positive = (name: string, value: unknown, max = Infinity) =>
  positiveFlag("modbus", name, value, max);

const DEVICES = positive("devices", flags.devices, 255);
const SENSORS = positive("sensors", flags.sensors, 41); // 123 registers: one read per poll
const HZ = positive("hz", flags.hz, 100);
const SECONDS = positive("seconds", flags.seconds);
const WARMUP = positive("warmup", flags.warmup);

const dir = await Deno.makeTempDir({ prefix: "vigia-bench-modbus-" });
const children: Child[] = [];
const start = async (script: string, args: string[], allow: string[] = []) => {
  const child = await startChild(script, args, { allow, keepLines: 200 });
  children.push(child);
  return child;
};
const portOf = async (child: Child) =>
  Number(LISTENING_LINE.exec(await child.waitForLine(LISTENING_LINE, 60_000))![2]);

try {
  const certs = join(dir, "certs");
  const made = await (await startChild("certs.ts", ["--out", certs, "--sensors", "1"])).status;
  if (!made.success) throw new Error(`certs.ts exited with ${made.code}`);

  const server = await start("server.ts", [
    "--port",
    "0",
    "--db",
    join(dir, "readings.db"),
    "--token-file",
    join(certs, "ingest.token"),
  ], [`--allow-read=${dir}`, `--allow-write=${dir}`]);
  const serverPort = await portOf(server);
  const plc = await start("plc.ts", [
    "--port",
    "0",
    "--devices",
    String(DEVICES),
    "--sensors",
    String(SENSORS),
    "--rate",
    String(HZ),
    "--first-id",
    "1",
  ]);
  const plcPort = await portOf(plc);
  const file = join(dir, "modbus.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify(layoutConfig(
      { sensors: SENSORS, firstId: 1, type: "int16", order: "ABCD", base: 0 },
      {
        host: "127.0.0.1",
        port: plcPort,
        devices: DEVICES,
        firstUnit: 1,
        interval: 1 / HZ,
        timeout: 1,
      },
    )),
  );
  const gateway = await start("gateway.ts", [
    "--port",
    "0",
    "--certs",
    certs,
    "--spool",
    join(dir, "spool.db"),
    "--server",
    `http://127.0.0.1:${serverPort}`,
    "--stats-interval",
    "0",
    "--metrics-port",
    "0",
    "--modbus",
    file,
  ], [`--allow-read=${dir}`, `--allow-write=${dir}`]);
  await portOf(gateway);
  const metricsPort = Number(
    /:(\d+)\/metrics/.exec(await gateway.waitForLine(/metrics on http:/, 60_000))![1],
  );

  console.log(
    `modbus: ${DEVICES} devices × ${SENSORS} sensors at ${HZ} Hz; warm-up ${WARMUP} s, window ${SECONDS} s`,
  );
  const window = await measureWindow({
    serverMetrics: `http://127.0.0.1:${serverPort}/metrics`,
    gatewayMetrics: `http://127.0.0.1:${metricsPort}/metrics`,
    pids: [gateway.pid, plc.pid, server.pid],
    warmupSeconds: WARMUP,
    seconds: SECONDS,
  });
  const polls = window.gatewayRate("vigia_modbus_polls_total{");
  const madeRate = window.gatewayRate("vigia_modbus_readings_total{");
  const errors = window.gatewayRate("vigia_modbus_errors_total{");
  const stored = window.storedRate;
  const ms = (q: number) => window.latencyMs(q);
  const cores = (i: number) => window.cores(i);
  const usPerPoll = polls > 0 ? (cores(0) / polls) * 1e6 : NaN;
  console.log(
    `  polls/s ${polls.toFixed(0)} (offered ${DEVICES * HZ}), failed or skipped/s ${
      errors.toFixed(1)
    }`,
  );
  console.log(
    `  readings/s made ${madeRate.toFixed(0)}, stored ${stored.toFixed(0)} (offered ${
      DEVICES * SENSORS * HZ
    })`,
  );
  console.log(`  poll → stored p50 ${ms(0.5)} ms, p99 ${ms(0.99)} ms`);
  console.log(
    `  CPU cores: gateway ${cores(0).toFixed(2)} (${usPerPoll.toFixed(0)} µs per poll), plc ${
      cores(1).toFixed(2)
    }, server ${cores(2).toFixed(2)}`,
  );
  console.log(
    `BENCH modbus devices=${DEVICES} sensors=${SENSORS} hz=${HZ} polls_per_s=${polls.toFixed(0)} ` +
      `errors_per_s=${errors.toFixed(1)} made_per_s=${madeRate.toFixed(0)} stored_per_s=${
        stored.toFixed(0)
      } ` +
      `p50_ms=${ms(0.5)} p99_ms=${ms(0.99)} gateway_cores=${cores(0).toFixed(3)} ` +
      `gateway_us_per_poll=${usPerPoll.toFixed(0)} plc_cores=${cores(1).toFixed(3)} server_cores=${
        cores(2).toFixed(3)
      }`,
  );
} catch (error) {
  for (const child of children) {
    console.error(`${child.script} last lines:\n  ${child.lines().slice(-8).join("\n  ")}`);
  }
  throw error;
} finally {
  for (const child of children.reverse()) await child.stop("SIGTERM", 15_000);
  await Deno.remove(dir, { recursive: true });
}
