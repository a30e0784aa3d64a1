// deno-lint-ignore-file no-console -- printing figures is what a chaos run is for
/**
 * Chaos runs: sensors stream through a real gateway to a real server while
 * gateway and server are killed with SIGKILL, restarted, and the server is
 * taken away long enough to fill the gateway's spool (see tests/_chaos.ts).
 * Runs back to back until `--minutes` are used up, each with its own seed,
 * and prints one line per run and a total:
 *
 * ```
 * CHAOS run=1 seed=1001 seconds=45 gateway_SIGKILL=4 ... sent=36000 stored=36000 lost=0 duplicated=0 ...
 * CHAOS total runs=4 faults=61 sent=144000 stored=144000 lost=0 duplicated=0
 * ```
 *
 * Exits 1 if any run lost, duplicated or altered a reading, left a database
 * failing `integrity_check`, or did not finish.
 *
 * Flags: see {@linkcode USAGE}.
 *
 * Long outages (`--outage-min 60 --outage-max 120`) want a slower
 * `--interval` (0.05), so the sensors' own buffers (10,000 readings each)
 * outlast them.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ChaosResult, FAULT_KINDS, formatChaos, runChaos } from "../tests/_chaos.ts";
import { exitIfHelpAsked } from "./usage.ts";

const USAGE = `
Usage: deno run -A bench/chaos.ts [--minutes 3] [--run-seconds 45]
         [--seed N] [--sensors 4] [--interval 0.005] [--spool-max 2000]
         [--outage-min 2] [--outage-max 6] [--verbose]
`;
exitIfHelpAsked(USAGE);

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "3" },
    "run-seconds": { type: "string", default: "45" },
    seed: { type: "string", default: String(Date.now() % 100_000) },
    sensors: { type: "string", default: "4" },
    interval: { type: "string", default: "0.005" },
    "spool-max": { type: "string", default: "2000" },
    "outage-min": { type: "string", default: "2" },
    "outage-max": { type: "string", default: "6" },
    verbose: { type: "boolean", default: false },
  },
});

const budgetMs = Number(flags.minutes) * 60_000;
const runSeconds = Number(flags["run-seconds"]);
const firstSeed = Number(flags.seed);
const started = Date.now();
const results: ChaosResult[] = [];
console.log(
  `chaos: ${flags.minutes} min of ${runSeconds} s runs, ${flags.sensors} sensors every ` +
    `${flags.interval} s, --spool-max ${flags["spool-max"]}, outages of ` +
    `${flags["outage-min"]}-${flags["outage-max"]} s, first seed ${firstSeed}`,
);
// A run takes its fault phase plus the drain; start one only if it fits.
while (results.length === 0 || Date.now() - started + (runSeconds + 20) * 1000 <= budgetMs) {
  const seed = firstSeed + results.length;
  const result = await runChaos({
    seconds: runSeconds,
    seed,
    sensors: Number(flags.sensors),
    interval: Number(flags.interval),
    spoolMax: Number(flags["spool-max"]),
    outageSeconds: [Number(flags["outage-min"]), Number(flags["outage-max"])],
    ...(flags.verbose ? { onFault: (line: string) => console.log(`  ${line}`) } : {}),
  });
  results.push(result);
  console.log(`CHAOS run=${results.length} ${formatChaos(result)}`);
}

const sum = (pick: (result: ChaosResult) => number) =>
  results.reduce((total, result) => total + pick(result), 0);
const faults = sum((r) => FAULT_KINDS.reduce((n, kind) => n + r.faults[kind], 0));
const failed = results.filter((r) =>
  r.lost + r.duplicated + r.wrong + r.unexpected > 0 || !r.finished ||
  r.integrity.some((check) => check !== "ok")
);
console.log(
  `CHAOS total runs=${results.length} minutes=${((Date.now() - started) / 60_000).toFixed(1)} ` +
    `faults=${faults} ${
      FAULT_KINDS.map((kind) => `${kind.replace(" ", "_")}=${sum((r) => r.faults[kind])}`).join(" ")
    } sent=${sum((r) => r.sent)} resent=${sum((r) => r.resent)} refused=${sum((r) => r.refused)} ` +
    `expected=${sum((r) => r.expected)} stored=${sum((r) => r.stored)} lost=${
      sum((r) => r.lost)
    } ` +
    `duplicated=${sum((r) => r.duplicated)} wrong=${sum((r) => r.wrong)} ` +
    `integrity_checks=${sum((r) => r.integrity.length)} failed_runs=${failed.length}`,
);
for (const result of failed) console.log(`  seed ${result.seed}: ${result.examples.join("; ")}`);
Deno.exit(failed.length > 0 ? 1 : 0);
