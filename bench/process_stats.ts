/**
 * What a process costs, read from Linux's `/proc` without touching the
 * process: CPU seconds (user + system), resident memory now and at its peak
 * (`VmHWM`); the CPU the whole machine used (to tell whether anything else
 * ran during a measurement); this machine's CPU model and open-file limits.
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

/** One sample of what the machine and some of its processes have used. */
export interface CostSample {
  /** Per pid, in the order asked; undefined for one that has exited. */
  readonly processes: (ProcessStats | undefined)[];
  /** CPU seconds every process of the machine has used since boot (all cores). */
  readonly machineBusySeconds: number;
  /** CPU seconds the hypervisor gave to other virtual machines instead (all cores). */
  readonly machineStealSeconds: number;
}

/** The costs of each process of `pids` so far, and of the whole machine. */
export async function sampleCosts(pids: readonly number[]): Promise<CostSample> {
  const text = await shell(
    `head -n 1 /proc/stat; for p in "$@"; do echo "${SEPARATOR} $p"; ` +
      `cat /proc/$p/stat /proc/$p/status 2>/dev/null; done`,
    pids.map(String),
  );
  const [machine = "", ...parts] = text.split(`${SEPARATOR} `);
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is
  // already in user and nice); steal is time the hypervisor gave to other machines.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = machine.trim()
    .split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq;
  const byPid = new Map<number, ProcessStats>();
  for (const part of parts) {
    const newline = part.indexOf("\n");
    const pid = Number(part.slice(0, newline));
    const body = part.slice(newline + 1);
    const close = body.indexOf(") ");
    if (close === -1) continue;
    // The command name (field 2) may hold spaces: count fields after its ")".
    const fields = body.slice(close + 2, body.indexOf("\n", close)).split(" ");
    const used = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    byPid.set(pid, {
      cpuSeconds: used / CLOCK_TICKS,
      rssBytes: statusKib(body, "VmRSS") * 1024,
      peakRssBytes: statusKib(body, "VmHWM") * 1024,
    });
  }
  return {
    processes: pids.map((pid) => byPid.get(pid)),
    machineBusySeconds: busy / CLOCK_TICKS,
    machineStealSeconds: steal / CLOCK_TICKS,
  };
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
