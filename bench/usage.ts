/**
 * `--help` for the benchmarks. They parse flags leniently (`deno task bench
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
