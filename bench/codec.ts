// deno-lint-ignore-file no-console -- printing figures is what a benchmark is for
/**
 * Runs the codec benchmarks (`deno bench bench/codec_bench.ts`) three times
 * and prints the median throughput in frames per second, plus one summary
 * line a script can parse:
 *
 * ```
 * BENCH codec encode_frames_per_s=… decode_verify_frames_per_s=… runs=3
 * ```
 *
 * @module
 */

import { FRAMES_PER_MIB } from "./codec_bench.ts";
import { exitIfHelpAsked } from "./usage.ts";

exitIfHelpAsked("Usage: deno task bench codec   (no flags: three runs, the median printed)");

const RUNS = 3;

interface BenchJson {
  readonly benches: readonly {
    readonly name: string;
    readonly results: readonly { readonly ok?: { readonly avg: number } }[];
  }[];
}

async function runOnce(): Promise<Map<string, number>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "--json", new URL("./codec_bench.ts", import.meta.url).pathname],
    stdin: "null",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`deno bench failed with code ${output.code}`);
  const report = JSON.parse(new TextDecoder().decode(output.stdout)) as BenchJson;
  const framesPerSecond = new Map<string, number>();
  for (const bench of report.benches) {
    const averageNs = bench.results[0]?.ok?.avg;
    if (averageNs === undefined) throw new Error(`benchmark "${bench.name}" failed`);
    framesPerSecond.set(
      bench.name.startsWith("encode") ? "encode" : "decode_verify",
      FRAMES_PER_MIB / (averageNs / 1e9),
    );
  }
  return framesPerSecond;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const runs: Map<string, number>[] = [];
for (let run = 0; run < RUNS; run++) runs.push(await runOnce());
const encode = median(runs.map((run) => run.get("encode")!));
const decode = median(runs.map((run) => run.get("decode_verify")!));
const millions = (value: number) => (value / 1e6).toFixed(2);
console.log(`codec, 1 MiB of READING frames (${FRAMES_PER_MIB} frames), median of ${RUNS} runs:`);
console.log(`  encode                ${millions(encode)} M frames/s`);
console.log(`  decode + CRC check    ${millions(decode)} M frames/s (goal: >= 3 M on one core)`);
console.log(
  `BENCH codec encode_frames_per_s=${Math.round(encode)} decode_verify_frames_per_s=${
    Math.round(decode)
  } runs=${RUNS}`,
);
