// deno-lint-ignore-file no-console -- printing figures is what a benchmark is for
/**
 * OPC UA benchmark: the simulated OPC UA server (node-opcua-server) →
 * subscription → gateway spool → HTTP → server SQLite, each its own process.
 * By default 1,000 monitored nodes on one server, each changing at 10 Hz
 * (10,000 changes/s), each node the temperature of its own sensor, with a
 * publishing (and so sampling) interval of half the change period, so that
 * every change is sampled. Over a steady window after a warm-up it prints:
 *
 * - changes/s the simulated server really made (its `Sim.0` counter, as
 *   stored), publish notifications/s and readings/s the gateway made, and
 *   readings/s **stored** end to end (`vigia_readings_stored_total`);
 * - source timestamp → stored latency p50 / p99 (an OPC UA reading's
 *   timestamp is the server's source timestamp of its change, so the
 *   server's freshness histogram measures exactly that);
 * - the gateway's CPU in cores and RSS, and the same for a second gateway
 *   started without `--opcua` (what a gateway costs that does not load
 *   node-opcua); the OPC UA server's and the Vigía server's CPU;
 *
 * and one line a script can parse:
 *
 * ```
 * BENCH opcua nodes=1000 hz=10 notifications_per_s=… made_per_s=… stored_per_s=… p99_ms=… gateway_cores=… gateway_rss_mb=… plain_rss_mb=…
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { withSourceRig } from "./source_rig.ts";
import { measureWindow } from "./source_window.ts";
import { exitIfHelpAsked, positiveFlag } from "./usage.ts";

const USAGE = `
Usage: deno task bench opcua -- [--nodes 1000] [--hz 10] [--publishing S] [--seconds 10]
         [--warmup 5]

  --nodes N       monitored nodes on the one server, one sensor each (default 1000)
  --hz N          changes per second of every node (default 10)
  --publishing S  the file's publishingInterval, also the sampling interval (default 1/(2 hz))
  --seconds S     steady window measured (default 10)
  --warmup S      seconds before the window starts (default 5)
`;
exitIfHelpAsked(USAGE);

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "1000" },
    hz: { type: "string", default: "10" },
    publishing: { type: "string" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "5" },
  },
  strict: false, // `deno task bench -- ...` passes every benchmark's flags
});

const positive = (name: string, value: unknown, max = Infinity) =>
  positiveFlag("opcua", name, value, max);

const NODES = positive("nodes", flags.nodes, 100_000);
const HZ = positive("hz", flags.hz, 100);
const PUBLISHING = flags.publishing === undefined ? 1 / (2 * HZ) : Number(flags.publishing);
if (!(PUBLISHING >= 0.01 && PUBLISHING <= 3600)) {
  console.error(
    `opcua: --publishing expects seconds 0.01-3600, got ${JSON.stringify(flags.publishing)}`,
  );
  Deno.exit(2);
}
const SECONDS = positive("seconds", flags.seconds);
const WARMUP = positive("warmup", flags.warmup);

await withSourceRig("vigia-bench-opcua-", async (rig) => {
  const { server, serverPort } = await rig.startServer();
  const file = join(rig.dir, "opcua.json");
  const opcua = await rig.start("opcua_server.ts", [
    ...["--port", "0", "--pki", join(rig.dir, "opcua-pki"), "--nodes", String(NODES)],
    ...["--interval", String(1 / HZ), "--trust", join(rig.certs, "opcua", "gateway.crt")],
    ...["--config-out", join(rig.dir, "sim.json")],
  ], rig.allowDir);
  await rig.portOf(opcua);
  // The simulator's own file maps its Boiler; the benchmark maps its Sim.i nodes.
  const sim = JSON.parse(await Deno.readTextFile(join(rig.dir, "sim.json")));
  const simServer = sim.servers[0];
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      servers: [{
        ...simServer,
        publishingInterval: PUBLISHING,
        sensors: Array.from({ length: NODES }, (_, i) => ({
          id: i + 1,
          temperature: { node: `ns=1;s=Sim.${i}` },
        })),
      }],
    }),
  );
  const { gateway, metricsPort } = await rig.startGateway(serverPort, "spool.db", [
    "--opcua",
    file,
  ]);
  // An idle gateway without --opcua, for what node-opcua adds to RSS.
  const { gateway: plain } = await rig.startGateway(serverPort, "plain.db", []);

  // Sim.0 counts the simulator's ticks, and sensor 1 stores it: the ticks it
  // really made in the window, whatever pace the loaded machine allowed.
  const tick = async () => {
    const sensors = await (await fetch(`http://127.0.0.1:${serverPort}/api/sensors`)).json() as {
      id: number;
      last: { temperature: number | null };
    }[];
    return sensors.find((sensor) => sensor.id === 1)?.last.temperature ?? NaN;
  };
  console.log(
    `opcua: ${NODES} nodes changing at ${HZ} Hz on one server, publishing every ${PUBLISHING} s; ` +
      `warm-up ${WARMUP} s, window ${SECONDS} s`,
  );
  const window = await measureWindow({
    serverMetrics: `http://127.0.0.1:${serverPort}/metrics`,
    gatewayMetrics: `http://127.0.0.1:${metricsPort}/metrics`,
    pids: [gateway.pid, opcua.pid, server.pid, plain.pid],
    warmupSeconds: WARMUP,
    seconds: SECONDS,
    probe: tick,
  });
  const notifications = window.gatewayRate("vigia_opcua_notifications_total{");
  const madeRate = window.gatewayRate("vigia_opcua_readings_total{");
  const errors = window.gatewayRate("vigia_opcua_errors_total{");
  const stored = window.storedRate;
  const changes = ((window.last.probe - window.first.probe) * NODES) / window.seconds;
  const ms = (q: number) => window.latencyMs(q);
  const cores = (i: number) => window.cores(i);
  const rssMb = (i: number) => window.rssMb(i);
  console.log(`  notifications/s ${notifications.toFixed(1)}, errors/s ${errors.toFixed(1)}`);
  console.log(
    `  changes/s made by the server ${changes.toFixed(0)} (${NODES * HZ} asked for); ` +
      `readings/s made ${madeRate.toFixed(0)}, stored ${stored.toFixed(0)}`,
  );
  console.log(`  source timestamp → stored p50 ${ms(0.5)} ms, p99 ${ms(0.99)} ms`);
  console.log(
    `  gateway: ${cores(0).toFixed(2)} cores, RSS ${rssMb(0)} MB; without --opcua (idle): ${
      cores(3).toFixed(2)
    } cores, RSS ${rssMb(3)} MB`,
  );
  console.log(`  CPU cores: opcua server ${cores(1).toFixed(2)}, server ${cores(2).toFixed(2)}`);
  console.log(
    `BENCH opcua nodes=${NODES} hz=${HZ} publishing_s=${PUBLISHING} ` +
      `notifications_per_s=${notifications.toFixed(1)} errors_per_s=${errors.toFixed(1)} ` +
      `changes_per_s=${changes.toFixed(0)} made_per_s=${madeRate.toFixed(0)} ` +
      `stored_per_s=${stored.toFixed(0)} p50_ms=${ms(0.5)} p99_ms=${ms(0.99)} ` +
      `gateway_cores=${cores(0).toFixed(3)} gateway_rss_mb=${rssMb(0)} ` +
      `plain_rss_mb=${rssMb(3)} opcua_server_cores=${cores(1).toFixed(3)} ` +
      `server_cores=${cores(2).toFixed(3)}`,
  );
});
