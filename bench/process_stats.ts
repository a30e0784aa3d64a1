/**
 * What a process costs, read from Linux's `/proc` without touching the
 * process: CPU seconds (user + system), resident memory now and at its peak
 * (`VmHWM`); and this machine's CPU model and open-file limits.
 *
 * Deno allows reading `/proc` only with `--allow-all`, so one `sh` reads
 * every file a sample needs (the bench's permission set may run programs).
 *
 * @module
 */

/** One reading of a process's costs. */
export interface ProcessStats {
  /** User plus system CPU time since it started, in seconds. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** The highest resident set size it ever had (`VmHWM`). */
  readonly peakRssBytes: number;
}

/** Clock ticks per second of `/proc/<pid>/stat`: 100 on every Linux build that matters. */
const CLOCK_TICKS = 100;
const SEPARATOR = "@@vigia@@";

async function shell(script: string, args: readonly string[] = []): Promise<string> {
  const output = await new Deno.Command("sh", {
    args: ["-c", script, "sh", ...args],
    stdin: "null",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

/**
 * The costs of each process of `pids` so far, in the same order; undefined
 * for one that has exited.
 */
export async function processStats(
  pids: readonly number[],
): Promise<(ProcessStats | undefined)[]> {
  const text = await shell(
    `for p in "$@"; do echo "${SEPARATOR} $p"; cat /proc/$p/stat /proc/$p/status 2>/dev/null; done`,
    pids.map(String),
  );
  const byPid = new Map<number, ProcessStats>();
  for (const part of text.split(`${SEPARATOR} `).slice(1)) {
    const newline = part.indexOf("\n");
    const pid = Number(part.slice(0, newline));
    const body = part.slice(newline + 1);
    const close = body.indexOf(") ");
    if (close === -1) continue;
    // The command name (field 2) may hold spaces: count fields after its ")".
    const fields = body.slice(close + 2, body.indexOf("\n", close)).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    byPid.set(pid, {
      cpuSeconds: ticks / CLOCK_TICKS,
      rssBytes: statusKib(body, "VmRSS") * 1024,
      peakRssBytes: statusKib(body, "VmHWM") * 1024,
    });
  }
  return pids.map((pid) => byPid.get(pid));
}

function statusKib(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) : 0;
}

/** This process's soft and hard limits on open files (a shell's `ulimit`, inherited from us). */
export async function openFileLimits(): Promise<{ soft: number; hard: number } | undefined> {
  const [soft, hard] = (await shell("ulimit -Sn; ulimit -Hn")).trim().split("\n");
  const value = (text: string | undefined) =>
    text === "unlimited" ? Infinity : text === undefined || text === "" ? NaN : Number(text);
  const limits = { soft: value(soft), hard: value(hard) };
  return Number.isNaN(limits.soft) || Number.isNaN(limits.hard) ? undefined : limits;
}

/** The CPU model name from `/proc/cpuinfo`, if there is one. */
export async function cpuModel(): Promise<string | undefined> {
  return /^model name\s*:\s*(.+)$/m.exec(await shell("cat /proc/cpuinfo"))?.[1];
}
