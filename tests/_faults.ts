/**
 * Support for the fault-injection and hostile-input tests: SQLite's own
 * integrity check, the gateway's `/metrics`, a tally of a run's readings
 * against what the sensors measured (and the wait for the server to hold
 * them), and small filesystems to fill up or see read-only. What a spool
 * file holds is read by `_spool.ts`.
 *
 * The tiny filesystems are tmpfs mounts and need root (CI's `.ci/run` runs
 * as root: it installs packages). Without root, {@linkcode tinyDisk} is
 * unavailable and the tests that need it say so and are skipped.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parseMetrics } from "../lib/metrics.ts";
import type { Reading } from "../protocol/mod.ts";
import { createSimulator } from "../sensor/simulator.ts";
import { fetchAllReadings, waitUntil } from "./_link.ts";
import type { RunningProgram } from "./_process.ts";

/**
 * SQLite's `PRAGMA integrity_check` of the database at `path`: `"ok"`, or
 * the problems it found, one per line. Opens the file read-write, as the
 * program would on its next start (so a hot WAL left by a crash is
 * recovered exactly as the program would recover it).
 */
export function integrityCheck(path: string): string {
  const db = new DatabaseSync(path);
  try {
    const rows = db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[];
    return rows.map((row) => row.integrity_check).join("\n");
  } finally {
    db.close();
  }
}

/** The port of a gateway started with `--metrics-port 0`, from its log line. */
export async function metricsPort(gateway: RunningProgram): Promise<number> {
  const line = await gateway.waitForLine(/metrics on http:\/\/127\.0\.0\.1:(\d+)/);
  return Number(/:(\d+)\/metrics/.exec(line)![1]);
}

/** One gateway metric (`spool_depth`, `forwarded`, ...) from its `/metrics`. */
export async function gatewayMetric(port: number, name: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(5_000),
  });
  const samples = parseMetrics(await response.text());
  const value = samples.get(`vigia_gateway_${name}_total`) ?? samples.get(`vigia_gateway_${name}`);
  if (value === undefined) throw new Error(`no gateway metric ${name}`);
  return value;
}

/** A TCP port that was free a moment ago (for a program that must come back on the same port). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A run of `sensor.ts --seed seed --count count` for `sensors`, measured between `since` and `until`. */
export interface SensorRun {
  readonly sensors: readonly number[];
  readonly count: number;
  readonly seed: number;
  /** Epoch ms before the sensors started and after they finished. */
  readonly since: number;
  readonly until: number;
}

/** How a run's stored readings compare with what its sensors measured. */
export interface Tally {
  /** Readings the sensors measured: sensors × count. */
  readonly expected: number;
  /** Rows returned by the store (duplicates included). */
  readonly stored: number;
  /** Measured readings missing from the store. */
  readonly lost: number;
  /** Rows beyond the first for the same (sensor, seq). */
  readonly duplicated: number;
  /** Of those, rows whose timestamp or values differ from the first (a resend must repeat it). */
  readonly changed: number;
  /** Stored readings whose values or timestamp are not what the sensor measured. */
  readonly wrong: number;
  /** Stored readings the run never measured. */
  readonly unexpected: number;
  /** The first few problems, for a failure message. */
  readonly examples: readonly string[];
}

/**
 * Compares `stored` with what `sensor.ts --seed seed --count count` measured
 * for each of `sensors` (regenerated with the same simulator): every
 * (sensor, seq) once, with the simulator's exact values and a timestamp in
 * `[since, until]`.
 */
export function tallyReadings(stored: readonly Reading[], run: SensorRun): Tally {
  const bySensor = new Map<number, Map<number, Reading>>();
  let duplicated = 0;
  let changed = 0;
  let unexpected = 0;
  const examples: string[] = [];
  const note = (text: string) => {
    if (examples.length < 5) examples.push(text);
  };
  for (const reading of stored) {
    if (!run.sensors.includes(reading.sensorId) || reading.seq < 1 || reading.seq > run.count) {
      unexpected++;
      note(`unexpected sensor ${reading.sensorId} seq ${reading.seq}`);
      continue;
    }
    let seqs = bySensor.get(reading.sensorId);
    if (!seqs) bySensor.set(reading.sensorId, seqs = new Map());
    const first = seqs.get(reading.seq);
    if (first) {
      duplicated++;
      note(`sensor ${reading.sensorId} seq ${reading.seq} stored twice`);
      if (
        reading.timestamp !== first.timestamp || reading.temperature !== first.temperature ||
        reading.pressure !== first.pressure || reading.humidity !== first.humidity
      ) {
        changed++;
        note(`sensor ${reading.sensorId} seq ${reading.seq} stored again with other values`);
      }
      continue;
    }
    seqs.set(reading.seq, reading);
  }
  let lost = 0;
  let wrong = 0;
  for (const sensorId of run.sensors) {
    const simulator = createSimulator({ sensorId, seed: run.seed });
    const seqs = bySensor.get(sensorId);
    for (let seq = 1; seq <= run.count; seq++) {
      const expected = simulator.next();
      const reading = seqs?.get(seq);
      if (!reading) {
        lost++;
        note(`sensor ${sensorId} seq ${seq} lost`);
        continue;
      }
      const { temperature, pressure, humidity, timestamp } = reading;
      if (
        temperature !== expected.temperature || pressure !== expected.pressure ||
        humidity !== expected.humidity || timestamp < run.since - 1 || timestamp > run.until
      ) {
        wrong++;
        note(`sensor ${sensorId} seq ${seq} has other values than measured`);
      }
    }
  }
  return {
    expected: run.sensors.length * run.count,
    stored: stored.length,
    lost,
    duplicated,
    changed,
    wrong,
    unexpected,
    examples,
  };
}

/**
 * Asserts `tally` found every reading of the run, each with the values its
 * sensor measured, and nothing else: stored exactly once, or with
 * `resends: true` possibly more than once (a sensor resends what was never
 * ACKed) but each repeat identical to the first.
 */
export function assertNothingLost(
  tally: Tally,
  context: string,
  options: { resends?: boolean } = {},
): void {
  const message = `${context}: ${tally.examples.join("; ")}`;
  const { lost, duplicated, changed, wrong, unexpected } = tally;
  if (options.resends) {
    assert.deepEqual(
      { lost, changed, wrong, unexpected },
      { lost: 0, changed: 0, wrong: 0, unexpected: 0 },
      message,
    );
    return;
  }
  assert.deepEqual(
    { lost, duplicated, wrong, unexpected },
    { lost: 0, duplicated: 0, wrong: 0, unexpected: 0 },
    message,
  );
  assert.equal(tally.stored, tally.expected, message);
}

/**
 * Waits until the server on `serverPort` holds every reading of `run` (or
 * `timeoutMs` passes), then tallies what it holds: the tally says what is
 * missing, so a timeout is not an error here.
 */
export async function settle(
  serverPort: number,
  run: SensorRun,
  timeoutMs: number,
): Promise<Tally> {
  let readings: Reading[] = [];
  await waitUntil(
    async () => {
      readings = await fetchAllReadings(serverPort);
      return tallyReadings(readings, run).lost === 0;
    },
    timeoutMs,
    "every reading on the server",
  ).catch(() => {});
  return tallyReadings(readings, run);
}

/** Waits until the gateway whose metrics are on `metricsPort` has an empty spool. */
export function spoolDrained(metricsPort: number, timeoutMs: number): Promise<void> {
  return waitUntil(
    async () => (await gatewayMetric(metricsPort, "spool_depth")) === 0,
    timeoutMs,
    "the spool drained",
  );
}

/** Whether this process runs as root (needed to mount the tiny filesystems). */
export const IS_ROOT: boolean = Deno.uid() === 0;

/** Why the tests that need {@linkcode tinyDisk} are skipped, or undefined when they can run. */
export const TINY_DISK_UNAVAILABLE: string | undefined = IS_ROOT
  ? undefined
  : "needs root to mount a tmpfs (CI runs as root)";

/** A small tmpfs: a disk that can really fill up. */
export interface TinyDisk extends AsyncDisposable {
  /** The mount point. */
  readonly dir: string;
  /** Bytes still free. */
  free(): number;
  /**
   * Writes a filler file so that only about `bytes` stay free (0: none at
   * all). Returns a function that deletes it again.
   */
  fill(bytes: number): Promise<() => Promise<void>>;
}

async function run(command: string, args: readonly string[]): Promise<void> {
  const output = await new Deno.Command(command, {
    args: [...args],
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!output.success) {
    const detail = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot run ${command} ${args.join(" ")}: ${detail}`);
  }
}

/**
 * Mounts a tmpfs of `kib` KiB at a new temporary directory (root only).
 * Disposing unmounts it and removes the directory; stop the programs using
 * it first.
 */
export async function tinyDisk(kib: number): Promise<TinyDisk> {
  if (TINY_DISK_UNAVAILABLE) throw new Error(`Cannot mount a tiny disk: ${TINY_DISK_UNAVAILABLE}`);
  const dir = await Deno.makeTempDir({ prefix: "vigia-tiny-disk-" });
  await run("mount", ["-t", "tmpfs", "-o", `size=${kib}k,mode=0755`, "tmpfs", dir]);
  const free = () => {
    const output = new Deno.Command("df", { args: ["--output=avail", "-B1", dir] }).outputSync();
    return Number(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1));
  };
  let fillers = 0;
  return {
    dir,
    free,
    async fill(bytes: number) {
      const path = `${dir}/filler-${fillers++}`;
      const file = await Deno.open(path, { write: true, create: true });
      try {
        const chunk = new Uint8Array(4096);
        while (free() > bytes) {
          try {
            await file.write(chunk);
          } catch {
            break; // the disk is full
          }
        }
      } finally {
        file.close();
      }
      return () => Deno.remove(path);
    },
    async [Symbol.asyncDispose]() {
      await run("umount", ["-l", dir]);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A read-only view of a directory: the same files, where nothing may be written. */
export interface ReadOnlyView extends AsyncDisposable {
  readonly dir: string;
}

/**
 * Makes the files of `dir` read-only for the programs: as root (whom file
 * modes do not stop) a read-only bind mount of `dir` at a new path; as any
 * other user, `dir` itself with its write bits removed.
 */
export async function readOnlyView(dir: string): Promise<ReadOnlyView> {
  if (!IS_ROOT) {
    await run("chmod", ["-R", "a-w", dir]);
    return {
      dir,
      async [Symbol.asyncDispose]() {
        await run("chmod", ["-R", "u+w", dir]);
      },
    };
  }
  const view = await Deno.makeTempDir({ prefix: "vigia-read-only-" });
  await run("mount", ["--bind", dir, view]);
  try {
    await run("mount", ["-o", "remount,ro,bind", view]);
  } catch (error) {
    await run("umount", [view]);
    throw error;
  }
  return {
    dir: view,
    async [Symbol.asyncDispose]() {
      await run("umount", ["-l", view]);
      await Deno.remove(view);
    },
  };
}
