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
 * - lost and duplicated readings, from the database after the run (the
 *   benchmark fails if either is not 0);
 *
 * and one line per scale a script can parse:
 *
 * ```
 * BENCH pipeline scale=100xmax sensors=100 mode=max received_per_s=178025 stored_per_s=177563 p50_ms=3766.0 ... lost=0 duplicated=0 problems=0 runs=3
 * ```
 *
 * Scales: 10, 100 and 1,000 sensors, each at a plant rate (`rate`: 1
 * reading/s per sensor) and at saturation (`max`), then 10,000 mostly idle
 * connections (`idle`: one reading per sensor every 20 s) held by one
 * gateway (run once; its certificates take about a minute to make).
 *
 * Flags: see {@linkcode USAGE}.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { launchArgs, ROOT } from "../lib/launch.ts";
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
         [--warmup 5] [--idle 10000] [--profile DIR]

  --runs N        runs per scale; the median is printed (default 3)
  --scales LIST   comma-separated SENSORSxMODE (10xrate,100xmax) or bare
                  sensor counts (both modes); default 10,100,1000
  --seconds S     steady window measured per run (default 10)
  --warmup S      seconds before the window starts (default 5)
  --idle N        connections of the idle scale, 0 to skip (default 10000)
  --profile DIR   write V8 CPU profiles of every process under DIR
`;
exitIfHelpAsked(USAGE);

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    scales: { type: "string", default: "10,100,1000" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "5" },
    idle: { type: "string", default: "10000" },
    profile: { type: "string" },
  },
  strict: false, // `deno task bench -- ...` passes every benchmark's flags
});

const RUNS = positive("runs", flags.runs);
const SECONDS = positive("seconds", flags.seconds);
const WARMUP = positive("warmup", flags.warmup, 0);
const IDLE = positive("idle", flags.idle, 0);
const PROFILE = typeof flags.profile === "string" ? flags.profile : undefined;
const MODES = ["rate", "max"] as const satisfies readonly Mode[];
/** CPU seconds of other processes in a window past which a run is flagged. */
const FOREIGN_CPU_WARNING_S = 1;

interface Scale {
  readonly sensors: number;
  readonly mode: Mode;
}

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
    const match = /^(\d+)(?:x(rate|max|idle))?$/.exec(part.trim());
    if (!match) {
      console.error(`pipeline: --scales expects e.g. 10,100xmax, got ${JSON.stringify(part)}`);
      Deno.exit(2);
    }
    const sensors = positive("scales", match[1]);
    const modes = match[2] === undefined ? MODES : [match[2] as Mode];
    for (const mode of modes) scales.push({ sensors, mode });
  }
  return scales;
}

function label(scale: Scale): string {
  return `${scale.sensors}x${scale.mode}`;
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

const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
const mb = (bytes: number) => Math.round(bytes / 1024 ** 2);
const msText = (ms: number | undefined) =>
  ms === undefined ? "-" : ms < 10 ? ms.toFixed(1) : Math.round(ms).toString();

function describeRun(r: RunResult): string {
  const base =
    `stored ${thousands(r.storedPerSecond)}/s (received ${
      thousands(r.receivedPerSecond)
    }/s), latency p50 ${msText(r.latencyMs.p50)} p99 ${msText(r.latencyMs.p99)} max ${
      msText(r.latencyMs.max)
    } ms, RSS sensors/gateway/server ${mb(r.cost.sensor.peakRssBytes)}/${
      mb(r.cost.gateway.peakRssBytes)
    }/${mb(r.cost.server.peakRssBytes)} MB, CPU ${r.cost.sensor.cpuSeconds.toFixed(1)}/${
      r.cost.gateway.cpuSeconds.toFixed(1)
    }/${r.cost.server.cpuSeconds.toFixed(1)} s, acked ${thousands(r.totals.acknowledged)} ` +
    `stored ${thousands(r.tally.distinct)} lost ${r.tally.lost} duplicated ${r.tally.duplicated}` +
    (r.totals.refused > 0 ? `, ${r.totals.refused} ERROR 4 (spool full) refusals` : "") +
    (r.serverDuplicates > 0 ? `, ${thousands(r.serverDuplicates)} resent to the server` : "");
  return r.mode === "idle"
    ? `${base}, held ${r.connectionsHeld} connections (all up after ${
      r.connectSeconds?.toFixed(1)
    } s)`
    : base;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function medianOf(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : median(known);
}

const TABLE_HEAD = [
  "| sensors | offered | stored/s | p50 ms | p99 ms | max ms | RSS MB sensors / gateway / server | CPU s sensors / gateway / server | lost | dup |",
  "| ---: | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |",
].join("\n");

function summarize(
  scale: Scale,
  results: readonly RunResult[],
): { row: string; bench: string; failed: boolean } {
  const m = (pick: (r: RunResult) => number) => median(results.map(pick));
  const stored = m((r) => r.storedPerSecond);
  const received = m((r) => r.receivedPerSecond);
  const p50 = medianOf(results.map((r) => r.latencyMs.p50));
  const p99 = medianOf(results.map((r) => r.latencyMs.p99));
  const max = medianOf(results.map((r) => r.latencyMs.max));
  const rss = (p: "sensor" | "gateway" | "server") => m((r) => r.cost[p].peakRssBytes);
  const cpu = (p: "sensor" | "gateway" | "server") => m((r) => r.cost[p].cpuSeconds);
  const lost = results.reduce((n, r) => n + r.tally.lost + r.tally.unexpected, 0);
  const duplicated = results.reduce((n, r) => n + r.tally.duplicated, 0);
  const problems = results.reduce((n, r) => n + r.problems.length, 0);
  const held = Math.min(...results.map((r) => r.connectionsHeld));
  const offered = scale.mode === "rate"
    ? `${thousands(scale.sensors)}/s`
    : scale.mode === "max"
    ? `max (${thousands(received)}/s)`
    : `idle, 1 per ${IDLE_INTERVAL_S} s`;
  const sensorsCell = scale.mode === "idle"
    ? `${thousands(scale.sensors)} (held ${thousands(held)})`
    : thousands(scale.sensors);
  const row = `| ${sensorsCell} | ${offered} | ${thousands(stored)} | ${msText(p50)} | ${
    msText(p99)
  } | ${msText(max)} | ${mb(rss("sensor"))} / ${mb(rss("gateway"))} / ${mb(rss("server"))} | ${
    cpu("sensor").toFixed(1)
  } / ${cpu("gateway").toFixed(1)} / ${cpu("server").toFixed(1)} | ${lost} | ${duplicated} |`;
  const fields = {
    scale: label(scale),
    sensors: scale.sensors,
    mode: scale.mode,
    received_per_s: Math.round(received),
    stored_per_s: Math.round(stored),
    stored_per_s_min: Math.round(Math.min(...results.map((r) => r.storedPerSecond))),
    stored_per_s_max: Math.round(Math.max(...results.map((r) => r.storedPerSecond))),
    p50_ms: p50 === undefined ? "na" : p50.toFixed(1),
    p99_ms: p99 === undefined ? "na" : p99.toFixed(1),
    max_ms: max === undefined ? "na" : max.toFixed(1),
    sensor_rss_mb: mb(rss("sensor")),
    gateway_rss_mb: mb(rss("gateway")),
    server_rss_mb: mb(rss("server")),
    sensor_cpu_s: cpu("sensor").toFixed(2),
    gateway_cpu_s: cpu("gateway").toFixed(2),
    server_cpu_s: cpu("server").toFixed(2),
    window_s: m((r) => r.windowSeconds).toFixed(1),
    foreign_cpu_s: m((r) => r.foreignCpuSeconds).toFixed(1),
    stolen_cpu_s: m((r) => r.stolenCpuSeconds).toFixed(1),
    connections_held: held,
    lost,
    duplicated,
    problems,
    runs: results.length,
  };
  const bench = `BENCH pipeline ${
    Object.entries(fields).map(([key, value]) => `${key}=${value}`).join(" ")
  }`;
  return { row, bench, failed: lost > 0 || duplicated > 0 || problems > 0 };
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
        `--warmup ${WARMUP} --idle ${IDLE}${PROFILE ? ` --profile ${PROFILE}` : ""}; ` +
        `open files ${limits?.soft ?? "?"}; gateway --max-connections ${
          Math.max(DEFAULT_MAX_CONNECTIONS, largest + 1_000)
        } (default ${DEFAULT_MAX_CONNECTIONS}); sensor processes of at most ${SENSORS_PER_PROCESS}`,
    );
    const certs = join(dir, "certs");
    const madeIn = await makeCerts(certs, largest);
    console.log(`  made a PKI with ${largest} sensor certificates in ${madeIn.toFixed(0)} s`);

    const rows: string[] = [];
    for (const scale of scales) {
      const runs = scale.mode === "idle" ? 1 : RUNS;
      const results: RunResult[] = [];
      for (let run = 1; run <= runs; run++) {
        const runDir = join(dir, `${scale.sensors}x${scale.mode}-${run}`);
        await Deno.mkdir(runDir);
        const result = await runPipeline({
          sensors: scale.sensors,
          mode: scale.mode,
          warmupSeconds: WARMUP,
          seconds: scale.mode === "idle" ? Math.max(SECONDS, IDLE_INTERVAL_S + 5) : SECONDS,
          certs,
          dir: runDir,
          profileDir: PROFILE === undefined ? undefined : join(PROFILE, `${label(scale)}-${run}`),
          progress: (line) => console.log(`    ${line}`),
        });
        results.push(result);
        console.log(`  ${label(scale)} run ${run}/${runs}: ${describeRun(result)}`);
        for (const problem of result.problems) console.log(`    problem: ${problem}`);
        if (result.foreignCpuSeconds > FOREIGN_CPU_WARNING_S) {
          console.log(
            `    warning: other processes used ${
              result.foreignCpuSeconds.toFixed(1)
            } CPU-s during the window; ` + "figures of a busy machine are low",
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
    console.log(`machine: ${machineLine(cpu, memory.total)}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return failed ? 1 : 0;
}

Deno.exit(await main());
