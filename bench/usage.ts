/**
 * `--help` and integer flags for the benchmarks. They parse flags leniently (`deno task bench
 * -- ...` hands every selected benchmark the same flags), so without this a
 * `--help` would be ignored and start a run of many minutes.
 *
 * @module
 */

/** Prints `usage` and exits 0 when the command line asks for help. */
export function exitIfHelpAsked(usage: string, args: readonly string[] = Deno.args): void {
  if (!args.includes("--help") && !args.includes("-h")) return;
  Deno.stdout.writeSync(new TextEncoder().encode(usage.trim() + "\n"));
  Deno.exit(0);
}

/**
 * An integer flag from 1 to `max`; anything else prints why, prefixed by
 * the benchmark's name, and exits 2.
 */
export function positiveFlag(bench: string, name: string, value: unknown, max = Infinity): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > max) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `${bench}: --${name} expects an integer 1-${max}, got ${JSON.stringify(value)}\n`,
      ),
    );
    Deno.exit(2);
  }
  return number;
}
