// deno-lint-ignore-file no-console -- printing figures is what a benchmark is for
/**
 * Pipeline benchmark: sensors → mutual TLS → gateway spool → HTTP → server
 * SQLite, every part its own process on this machine (started as the tasks
 * start them), with a temporary PKI and databases. For each scale it prints
 * the median of `--runs` runs:
 *
 * - readings/s offered and received by the gateway, and **stored** end to
 *   end (the server's `vigia_readings_stored_total` over a steady window
 *   after a warm-up);
 * - sensor timestamp → durably stored latency, p50 / p99 / max (the
 *   server's freshness histogram over the window);
 * - peak RSS and CPU seconds (in the window) of the sensors, the gateway
 *   and the server, from `/proc`;
 * - the backlog over the window: the gateway's spool depth and the server's
 *   write queue, in readings, largest and mean of one sample a second;
 * - lost and duplicated readings, from the database after the run (the
 *   benchmark fails if either is not 0);
 * - for an outage, the backlog it left and the seconds it took to drain;
 *
 * and one line per scale a script can parse:
 *
 * ```
 * BENCH pipeline scale=100xmax sensors=100 mode=max received_per_s=… stored_per_s=… p50_ms=… ... lost=0 duplicated=0 problems=0 runs=3
 * ```
 *
 * Scales: 10, 100 and 1,000 sensors, each at a plant rate (`rate`: 1
 * reading/s per sensor) and at saturation (`max`); 100 sensors at a fixed
 * total rate (`100x20000`: 20,000 readings/s together), to compare latency
 * at equal load; 1,000 sensors at 1 reading/s through a server outage
 * (`outage`: the server stopped for `--outage` seconds, then the drain
 * timed); then 10,000 mostly idle connections (`idle`: one reading per
 * sensor every 20 s) held by one gateway (run once; its certificates take
 * about a minute to make). With `--db`, `failover` runs two servers on the
 * PostgreSQL database behind one gateway and kills one with SIGKILL
 * halfway through the window. At the end the figures are checked against
 * the goals of {@linkcode GOALS}.
 *
 * Flags: see {@linkcode USAGE}.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { launchArgs, ROOT } from "../lib/launch.ts";
import { describeRun, label, type Scale, summarize, TABLE_HEAD } from "./pipeline_report.ts";
import {
  DEFAULT_MAX_CONNECTIONS,
  IDLE_INTERVAL_S,
  type Mode,
  runPipeline,
  type RunResult,
  SENSORS_PER_PROCESS,
} from "./pipeline_run.ts";
import { cpuModel, openFileLimits } from "./process_stats.ts";
import { exitIfHelpAsked } from "./usage.ts";

const USAGE = `
Usage: deno task bench pipeline -- [--runs 3] [--scales LIST] [--seconds 10]
         [--warmup 5] [--outage 30] [--idle 10000] [--backlog-ms MS] [--window N]
         [--server-delay-ms MS] [--profile DIR] [--db postgres://…]

  --runs N        runs per scale; the median is printed (default 3)
  --scales LIST   comma-separated SENSORSxMODE, MODE one of rate (1/s per
                  sensor), max (flat out), outage (1/s per sensor, the server
                  down for --outage seconds), failover (flat out into two
                  servers on the --db PostgreSQL database, one killed -9
                  mid-window) or a number (readings/s of all sensors
                  together: 100x20000); a bare sensor count runs rate and
                  max; default 10,100,1000,100x20000,1000xoutage
  --seconds S     steady window measured per run (default 10)
  --warmup S      seconds before the window starts (default 5)
  --outage S      seconds the server is down in an outage scale (default 30)
  --idle N        connections of the idle scale, 0 to skip (default 10000)
  --backlog-ms MS the gateway's --backlog-ms (default: the gateway's)
  --window N      the sensors' --window, readings in flight per sensor
                  (default: the sensor's)
  --server-delay-ms MS
                  the gateway reaches the server through a proxy that holds
                  every chunk MS ms each way (a far server; default 0)
  --profile DIR   write V8 CPU profiles of every process under DIR
  --db URL        store into this scratch PostgreSQL database (emptied before each run)
`;
exitIfHelpAsked(USAGE);

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    scales: { type: "string", default: "10,100,1000,100x20000,1000xoutage" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "5" },
    outage: { type: "string", default: "30" },
    "backlog-ms": { type: "string" },
    window: { type: "string" },
    "server-delay-ms": { type: "string", default: "0" },
    idle: { type: "string", default: "10000" },
    profile: { type: "string" },
    db: { type: "string" },
  },
  strict: false, // `deno task bench -- ...` passes every benchmark's flags
});

const RUNS = positive("runs", flags.runs);
const SECONDS = positive("seconds", flags.seconds);
const WARMUP = positive("warmup", flags.warmup, 0);
const OUTAGE = positive("outage", flags.outage);
const BACKLOG_MS = flags["backlog-ms"] === undefined
  ? undefined
  : positive("backlog-ms", flags["backlog-ms"], 0);
const WINDOW = flags.window === undefined ? undefined : positive("window", flags.window);
const SERVER_DELAY_MS = positive("server-delay-ms", flags["server-delay-ms"], 0);
const IDLE = positive("idle", flags.idle, 0);
const PROFILE = typeof flags.profile === "string" ? flags.profile : undefined;
const DB = typeof flags.db === "string" ? flags.db : undefined;
const MODES = ["rate", "max"] as const satisfies readonly Mode[];
/** CPU seconds of other processes in a window past which a run is flagged. */
const FOREIGN_CPU_WARNING_S = 1;

function positive(name: string, value: unknown, min = 1): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) {
    console.error(`pipeline: --${name} expects an integer >= ${min}, got ${JSON.stringify(value)}`);
    Deno.exit(2);
  }
  return number;
}

function parseScales(text: unknown): Scale[] {
  const scales: Scale[] = [];
  for (const part of String(text).split(",").filter(Boolean)) {
    const match = /^(\d+)(?:x(rate|max|idle|outage|failover|\d+))?$/.exec(part.trim());
    if (!match) {
      console.error(
        `pipeline: --scales expects e.g. 10,100xmax,100x20000, got ${JSON.stringify(part)}`,
      );
      Deno.exit(2);
    }
    const sensors = positive("scales", match[1]);
    if (match[2] !== undefined && /^\d+$/.test(match[2])) {
      scales.push({ sensors, mode: "fixed", ratePerSecond: positive("scales", match[2]) });
      continue;
    }
    const modes: readonly Mode[] = match[2] === undefined ? MODES : [match[2] as Mode];
    if (modes.includes("failover") && DB === undefined) {
      console.error(`pipeline: ${part} needs --db postgres://… (two servers share one database)`);
      Deno.exit(2);
    }
    for (const mode of modes) {
      scales.push(mode === "outage" ? { sensors, mode, outageSeconds: OUTAGE } : { sensors, mode });
    }
  }
  return scales;
}

async function makeCerts(out: string, sensors: number): Promise<number> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: await launchArgs("certs", ["--out", out, "--sensors", String(sensors)]),
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    env: { NO_COLOR: "1" },
  }).output();
  if (!output.success) {
    throw new Error(`certs.ts failed:\n${new TextDecoder().decode(output.stderr)}`);
  }
  return (performance.now() - started) / 1000;
}

function machineLine(cpu: string | undefined, totalBytes: number): string {
  return `${navigator.hardwareConcurrency} cores${cpu ? ` ${cpu}` : ""}, ${
    Math.round(totalBytes / 1024 ** 3)
  } GiB RAM, Linux ${Deno.osRelease()}, Deno ${Deno.version.deno}`;
}

/** Runs every scale; returns the exit code. */
async function main(): Promise<number> {
  let scales = parseScales(flags.scales);
  if (IDLE > 0) scales.push({ sensors: IDLE, mode: "idle" });

  // Each connection is a file descriptor at both ends. Deno raises its soft
  // limit to the hard one at start, so the hard limit is what counts.
  const limits = await openFileLimits();
  const fits = (sensors: number) => limits === undefined || sensors + 1_024 <= limits.soft;
  let failed = false;
  for (const scale of scales.filter((s) => !fits(s.sensors))) {
    console.error(
      `pipeline: skipping ${label(scale)}: ${scale.sensors} connections need ${
        scale.sensors + 1_024
      } open files, the limit is ${limits?.soft} (raise it with \`ulimit -n\`, as root if ` +
        "the hard limit is lower, or pass a smaller --idle)",
    );
    failed = true;
  }
  scales = scales.filter((s) => fits(s.sensors));
  if (scales.length === 0) return 1;
  const largest = Math.max(...scales.map((s) => s.sensors));

  const dir = await Deno.makeTempDir({ prefix: "vigia-bench-pipeline-" });
  try {
    const cpu = await cpuModel();
    const memory = Deno.systemMemoryInfo();
    console.log(
      `pipeline benchmark: ${navigator.hardwareConcurrency} cores${cpu ? ` (${cpu})` : ""}, ` +
        `${Math.round(memory.total / 1024 ** 3)} GiB, Deno ${Deno.version.deno}, ${Deno.build.os}`,
    );
    console.log(
      `  settings: --runs ${RUNS} --scales ${flags.scales} --seconds ${SECONDS} ` +
        `--warmup ${WARMUP} --outage ${OUTAGE} --idle ${IDLE}${
          BACKLOG_MS === undefined ? "" : ` --backlog-ms ${BACKLOG_MS}`
        }${WINDOW === undefined ? "" : ` --window ${WINDOW}`}${
          SERVER_DELAY_MS === 0 ? "" : ` --server-delay-ms ${SERVER_DELAY_MS}`
        }${PROFILE ? ` --profile ${PROFILE}` : ""}; ` +
        `open files ${limits?.soft ?? "?"}; gateway --max-connections ${
          Math.max(DEFAULT_MAX_CONNECTIONS, largest + 1_000)
        } (default ${DEFAULT_MAX_CONNECTIONS}); sensor processes of at most ${SENSORS_PER_PROCESS}`,
    );
    const certs = join(dir, "certs");
    const madeIn = await makeCerts(certs, largest);
    console.log(`  made a PKI with ${largest} sensor certificates in ${madeIn.toFixed(0)} s`);

    const rows: string[] = [];
    const goals: string[] = [];
    for (const scale of scales) {
      const runs = scale.mode === "idle" ? 1 : RUNS;
      const results: RunResult[] = [];
      for (let run = 1; run <= runs; run++) {
        const runDir = join(dir, `${scale.sensors}x${scale.mode}-${run}`);
        await Deno.mkdir(runDir);
        const result = await runPipeline({
          sensors: scale.sensors,
          mode: scale.mode,
          ratePerSecond: scale.ratePerSecond,
          outageSeconds: OUTAGE,
          backlogMs: BACKLOG_MS,
          window: WINDOW,
          serverDelayMs: SERVER_DELAY_MS,
          warmupSeconds: WARMUP,
          seconds: scale.mode === "idle" ? Math.max(SECONDS, IDLE_INTERVAL_S + 5) : SECONDS,
          certs,
          dir: runDir,
          db: DB,
          profileDir: PROFILE === undefined ? undefined : join(PROFILE, `${label(scale)}-${run}`),
          progress: (line) => console.log(`    ${line}`),
        });
        results.push(result);
        console.log(`  ${label(scale)} run ${run}/${runs}: ${describeRun(result)}`);
        for (const problem of result.problems) console.log(`    problem: ${problem}`);
        if (result.foreignCpuSeconds > FOREIGN_CPU_WARNING_S) {
          const used = `other processes used ${
            result.foreignCpuSeconds.toFixed(1)
          } CPU-s during the window`;
          // A PostgreSQL on this machine is the store's own work, not another job's.
          console.log(
            DB === undefined
              ? `    warning: ${used}; figures of a busy machine are low`
              : `    ${used} (PostgreSQL's included when it runs here)`,
          );
        }
        if (result.stolenCpuSeconds > FOREIGN_CPU_WARNING_S) {
          console.log(
            `    warning: the hypervisor took ${
              result.stolenCpuSeconds.toFixed(1)
            } CPU-s for other machines during the window; figures are low`,
          );
        }
        await Deno.remove(runDir, { recursive: true });
      }
      const summary = summarize(scale, results);
      if (summary.failed) failed = true;
      rows.push(summary.row);
      goals.push(...summary.goals);
      console.log(summary.bench);
    }
    console.log("");
    console.log(
      `median of ${RUNS} runs (idle: 1 run), ${SECONDS} s steady window after ${WARMUP} s:`,
    );
    console.log("");
    console.log(TABLE_HEAD);
    for (const row of rows) console.log(row);
    console.log("");
    if (goals.length > 0) console.log(["goals:", ...goals, ""].join("\n"));
    console.log(`machine: ${machineLine(cpu, memory.total)}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return failed ? 1 : 0;
}

Deno.exit(await main());
