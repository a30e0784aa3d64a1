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
import { layoutConfig } from "../modbus/layout.ts";
import { withSourceRig } from "./source_rig.ts";
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

await withSourceRig("vigia-bench-modbus-", async (rig) => {
  const { server, serverPort } = await rig.startServer();
  const plc = await rig.start("plc.ts", [
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
  const plcPort = await rig.portOf(plc);
  const file = join(rig.dir, "modbus.json");
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
  const { gateway, metricsPort } = await rig.startGateway(serverPort, "spool.db", [
    "--modbus",
    file,
  ]);

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
});
