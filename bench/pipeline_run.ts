/**
 * One run of the pipeline benchmark: a server, a gateway and sensor
 * processes started exactly as their tasks start them (`lib/child.ts`, each
 * under its own permission set), a warm-up, a steady window measured from
 * the outside (both programs' `/metrics`, `/proc` for CPU and memory), then
 * a clean stop, a full drain, and the stored readings tallied against what
 * the sensors had acknowledged.
 *
 * Modes: `rate` (1 reading/s per sensor, a `--count` that ends just after
 * the window), `fixed` (the same at a given total rate), `max`
 * (`--interval 0`: as fast as ACKs allow, stopped by SIGTERM after the
 * window), `idle` (one reading every 20 s per sensor: connections held
 * rather than traffic), `outage` (1 reading/s per sensor while the server
 * is stopped and started again, see pipeline_outage.ts; the window follows
 * the drain) and `failover` (flat out into two servers on one PostgreSQL
 * database, the gateway given both; the second is killed -9 halfway through
 * the window, and the run must still lose and double nothing). With two
 * servers the metrics are their sums (the killed one's as last scraped, up
 * to a second before the kill, so the window's stored/s is a little low).
 *
 * Every second of the window the backlog is sampled: the gateway's spool
 * depth and the server's write queue, both in readings.
 *
 * Longer than most modules on purpose: a run is one procedure, read top to
 * bottom; the parts that stand alone live beside it (pipeline_outage.ts,
 * pipeline_tally.ts, process_stats.ts).
 *
 * It runs past 300 lines because a run is one sequence (start, warm up,
 * measure, stop, drain, tally) whose steps share the processes and the
 * clock; the outage is pipeline_outage.ts, counting what arrived
 * pipeline_tally.ts, the table and the goals pipeline_report.ts.
 *
 * @module
 */

import { join } from "node:path";
import { type Child, LISTENING_LINE, startChild } from "../lib/child.ts";
import type { MetricSamples } from "../lib/metrics.ts";
import {
  fetchMetrics,
  histogramBuckets,
  type SensorTotals,
  type Tally,
  tallyDatabase,
  tallyRows,
  windowQuantile,
} from "./pipeline_tally.ts";
import { type DelayProxy, startDelayProxy } from "./delay_proxy.ts";
import { type OutageResult, runOutage } from "./pipeline_outage.ts";
import { emptyPostgres, postgresSensorRows } from "./postgres.ts";
import { type ProcessStats, sampleCosts } from "./process_stats.ts";

/** How the sensors send. */
export type Mode = "rate" | "fixed" | "max" | "idle" | "outage" | "failover";

/** Seconds between readings of one sensor in `idle` mode. */
export const IDLE_INTERVAL_S = 20;

/** Options of {@linkcode runPipeline}. */
export interface RunOptions {
  readonly sensors: number;
  readonly mode: Mode;
  /** `fixed`: readings per second offered by all sensors together. */
  readonly ratePerSecond?: number | undefined;
  /** `outage`: seconds the server is down. */
  readonly outageSeconds?: number | undefined;
  /** Seconds from the sensors' start to the window (for `idle`: after all have connected). */
  readonly warmupSeconds: number;
  /** Length of the measured window, in seconds. */
  readonly seconds: number;
  /** The PKI: `ca.crt`, gateway and sensor certificates, `ingest.token`. */
  readonly certs: string;
  /** A fresh directory for this run's spool and database. */
  readonly dir: string;
  /** A scratch PostgreSQL database for the server instead of an SQLite file (emptied first). */
  readonly db?: string | undefined;
  /** Write a V8 CPU profile of every process into this directory. */
  readonly profileDir?: string | undefined;
  /** The gateway's `--backlog-ms` (default: its own default). */
  readonly backlogMs?: number | undefined;
  /** The sensors' `--window` (default: their own default). */
  readonly window?: number | undefined;
  /** Milliseconds each way a proxy between gateway and server holds every chunk (0: none). */
  readonly serverDelayMs?: number | undefined;
  /** Progress lines. */
  readonly progress: (line: string) => void;
}

/** Costs of one program (summed over its processes) in the window. */
export interface ProgramCost {
  /** CPU seconds used during the window. */
  readonly cpuSeconds: number;
  /** Highest resident memory over the run (summed over processes), bytes. */
  readonly peakRssBytes: number;
}

/** What one run measured. */
export interface RunResult {
  readonly sensors: number;
  readonly mode: Mode;
  readonly windowSeconds: number;
  /** Readings per second the gateway received (intact, accepted) in the window. */
  readonly receivedPerSecond: number;
  /** Readings per second newly stored by the server in the window. */
  readonly storedPerSecond: number;
  /** Readings the server received again in the window (resent after a lost answer), not stored. */
  readonly serverDuplicates: number;
  /** Sensor timestamp to durably stored, in ms (undefined: nothing stored in the window). */
  readonly latencyMs: {
    readonly p50: number | undefined;
    readonly p99: number | undefined;
    readonly max: number | undefined;
  };
  readonly cost: Readonly<Record<"sensor" | "gateway" | "server", ProgramCost>>;
  readonly totals: SensorTotals;
  readonly tally: Tally;
  /** Gateway sessions open, lowest seen during the window. */
  readonly connectionsHeld: number;
  /** `idle`: seconds until every sensor was connected. */
  readonly connectSeconds: number | undefined;
  /** The backlog sampled every second of the window, in readings. */
  readonly backlog: {
    readonly spoolDepth: readonly number[];
    /** The server's write queue (readings received and not yet answered). */
    readonly serverQueue: readonly number[];
  };
  /** `outage`: what the outage came to. */
  readonly outage: OutageResult | undefined;
  /** Everything that went wrong besides loss (errors, refusals, exits). */
  readonly problems: readonly string[];
  /**
   * CPU seconds used in the window by processes outside the pipeline and
   * this benchmark (another job on the machine skews every figure).
   */
  readonly foreignCpuSeconds: number;
  /** CPU seconds the hypervisor took for other machines during the window. */
  readonly stolenCpuSeconds: number;
}

interface Sample {
  readonly at: number;
  readonly server: MetricSamples;
  readonly gateway: MetricSamples;
  readonly stats: readonly (ProcessStats | undefined)[];
  /** CPU seconds of this benchmark process itself. */
  readonly benchCpuSeconds: number;
  readonly machineBusySeconds: number;
  readonly machineStealSeconds: number;
}

const START_TIMEOUT_MS = 120_000;
const DRAIN_TIMEOUT_MS = 180_000;
/** Sensors per sensor process at most; and at least two processes from 1,000 sensors. */
export const SENSORS_PER_PROCESS = 2_500;
/** The gateway's own `--max-connections` default; raised for scales near it. */
export const DEFAULT_MAX_CONNECTIONS = 2_048;
const FRESHNESS = "vigia_reading_freshness_seconds";
/** The server's write queue gauge, in readings. */
const SERVER_QUEUE = "vigia_write_queue_readings";
/** `outage`: longest wait for the backlog to drain after the server's return. */
const OUTAGE_DRAIN_TIMEOUT_MS = 60_000;

/** Seconds between two readings of one sensor in `mode`. */
function sensorInterval(options: RunOptions): number {
  switch (options.mode) {
    case "rate":
    case "outage":
      return 1;
    case "fixed":
      return options.sensors / options.ratePerSecond!;
    case "max":
    case "failover":
      return 0;
    case "idle":
      return IDLE_INTERVAL_S;
  }
}

/** Runs the pipeline once and returns its figures; throws if it could not run at all. */
export async function runPipeline(options: RunOptions): Promise<RunResult> {
  const { certs, dir, mode } = options;
  const db = options.db ?? join(dir, "readings.db");
  if (options.db !== undefined) await emptyPostgres(options.db);
  const profile = (name: string) =>
    options.profileDir === undefined
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${join(options.profileDir, name)}`];
  const children: Child[] = [];
  const proxies: DelayProxy[] = [];
  const problems: string[] = [];
  const startServer = async (port: number) => {
    const child = await startChild("server.ts", [
      "--port",
      String(port),
      "--db",
      db,
      "--token-file",
      join(certs, "ingest.token"),
    ], {
      allow: [`--allow-read=${dir},${certs}`, `--allow-write=${dir}`, ...profile("server")],
      keepLines: 200,
    });
    children.push(child);
    return { child, port: portOf(await child.waitForLine(LISTENING_LINE, START_TIMEOUT_MS)) };
  };
  try {
    let { child: server, port: serverPort } = await startServer(0);
    // failover: the server killed halfway through the window.
    const second = mode === "failover" ? await startServer(0) : undefined;
    // A far server: the gateway reaches each server through a delaying proxy.
    const reach = (port: number) => {
      if (!options.serverDelayMs) return port;
      const proxy = startDelayProxy({ hostname: "127.0.0.1", port }, options.serverDelayMs);
      proxies.push(proxy);
      return proxy.port;
    };
    const gateway = await startChild("gateway.ts", [
      "--port",
      "0",
      "--server",
      [serverPort, ...(second ? [second.port] : [])].map((p) => `http://127.0.0.1:${reach(p)}`)
        .join(","),
      "--spool",
      join(dir, "spool.db"),
      "--certs",
      certs,
      "--metrics-port",
      "0",
      "--stats-interval",
      "0",
      // The default (2,048) is below the idle scale; every mode gets the same gateway.
      "--max-connections",
      String(Math.max(DEFAULT_MAX_CONNECTIONS, options.sensors + 1_000)),
      ...(options.backlogMs === undefined ? [] : ["--backlog-ms", String(options.backlogMs)]),
    ], {
      allow: [`--allow-read=${dir},${certs}`, `--allow-write=${dir}`, ...profile("gateway")],
      keepLines: 200,
    });
    children.push(gateway);
    const gatewayPort = portOf(await gateway.waitForLine(LISTENING_LINE, START_TIMEOUT_MS));
    const metricsLine = await gateway.waitForLine(/metrics on http:\/\/\S+/, START_TIMEOUT_MS);
    const gatewayMetricsUrl = /http:\/\/\S+/.exec(metricsLine)![0];
    const metricsUrl = (port: number) => `http://127.0.0.1:${port}/metrics`;
    let secondMetrics: MetricSamples | undefined;
    let secondKilled = false;

    const interval = sensorInterval(options);
    const count = mode === "rate" || mode === "fixed"
      ? Math.ceil((options.warmupSeconds + options.seconds + 2) / interval)
      : undefined;
    const sensorProcesses = await startSensors(options, gatewayPort, interval, count, profile);
    children.push(...sensorProcesses);
    await Promise.all(sensorProcesses.map((p) => p.waitForLine(/sending to/, START_TIMEOUT_MS)));
    const pids = [server.pid, gateway.pid, ...sensorProcesses.map((p) => p.pid)];
    if (second) pids.push(second.child.pid);
    const serverIndexes = second ? [0, pids.length - 1] : [0];
    const lastStats = new Map<number, ProcessStats>();
    const sample = async (): Promise<Sample> => {
      const [serverMetrics, gatewayMetrics, costs, secondNow] = await Promise.all([
        fetchMetrics(metricsUrl(serverPort)),
        fetchMetrics(gatewayMetricsUrl),
        sampleCosts([...pids, Deno.pid]),
        second && !secondKilled ? fetchMetrics(metricsUrl(second.port)) : undefined,
      ]);
      secondMetrics = secondNow ?? secondMetrics;
      const stats = pids.map((pid, i) => {
        const now = costs.processes[i];
        if (now !== undefined) lastStats.set(pid, now);
        return now ?? lastStats.get(pid);
      });
      return {
        at: performance.now(),
        server: secondMetrics ? addMetrics(serverMetrics, secondMetrics) : serverMetrics,
        gateway: gatewayMetrics,
        stats,
        benchCpuSeconds: costs.processes.at(-1)?.cpuSeconds ?? 0,
        machineBusySeconds: costs.machineBusySeconds,
        machineStealSeconds: costs.machineStealSeconds,
      };
    };
    const gatewayValue = (s: Pick<Sample, "gateway">, name: string) =>
      s.gateway.get(`vigia_gateway_${name}_total`) ?? s.gateway.get(`vigia_gateway_${name}`) ?? 0;

    const started = performance.now();
    let connectSeconds: number | undefined;
    if (mode === "idle") {
      const deadline = started + START_TIMEOUT_MS + IDLE_INTERVAL_S * 1000;
      for (;;) {
        const now = await sample();
        if (gatewayValue(now, "connections_active") >= options.sensors) break;
        if (performance.now() > deadline) {
          problems.push(
            `only ${gatewayValue(now, "connections_active")} of ${options.sensors} connected`,
          );
          break;
        }
        await delay(500);
      }
      connectSeconds = (performance.now() - started) / 1000;
      options.progress(`all ${options.sensors} connected after ${connectSeconds.toFixed(1)} s`);
    }
    await delay(options.warmupSeconds * 1000 - (performance.now() - started));
    const outage = mode !== "outage" ? undefined : await runOutage({
      seconds: options.outageSeconds ?? 30,
      drainTimeoutMs: OUTAGE_DRAIN_TIMEOUT_MS,
      stopServer: async () => {
        const exit = await server.stop("SIGTERM", 30_000);
        if (exit.code !== 0) problems.push(`server exited with ${exit.code} for the outage`);
      },
      startServer: async () => {
        ({ child: server, port: serverPort } = await startServer(serverPort));
        pids[0] = server.pid;
      },
      spoolDepth: async () =>
        gatewayValue({ gateway: await fetchMetrics(gatewayMetricsUrl) }, "spool_depth"),
      progress: options.progress,
    });
    if (outage !== undefined && outage.drainSeconds === undefined) {
      problems.push(`the backlog did not drain within ${OUTAGE_DRAIN_TIMEOUT_MS / 1000} s`);
    }
    const window: Sample[] = [await sample()];
    const windowEnd = window[0]!.at + options.seconds * 1000;
    const killIfDue = async () => {
      if (!second || secondKilled || performance.now() < windowEnd - options.seconds * 500) return;
      await second.child.stop("SIGKILL", 10_000);
      secondKilled = true;
      options.progress(`killed -9 the second server (pid ${second.child.pid}) mid-window`);
    };
    while (performance.now() < windowEnd - 1_000) {
      await delay(Math.min(1_000, windowEnd - performance.now()));
      await killIfDue();
      window.push(await sample());
    }
    await delay(windowEnd - performance.now());
    await killIfDue();
    window.push(await sample());
    const first = window[0]!;
    const last = window.at(-1)!;
    const windowSeconds = (last.at - first.at) / 1000;

    // The sensors: a counted run ends by itself; the others are stopped.
    const sensorDeadline = (count ?? 0) * interval * 1000 + 60_000;
    const exits = await Promise.all(sensorProcesses.map(async (p) => {
      if (count === undefined) return await p.stop("SIGTERM", 30_000);
      const timer = setTimeout(() => p.stop("SIGTERM", 10_000), sensorDeadline);
      try {
        return await p.status;
      } finally {
        clearTimeout(timer);
      }
    }));
    exits.forEach((exit, i) => {
      if (exit.code !== 0) problems.push(`sensor process ${i + 1} exited with ${exit.code}`);
    });
    const totals = sumSummaries(sensorProcesses, problems);

    // The drain: everything the gateway took in reaches the server.
    const drainDeadline = performance.now() + DRAIN_TIMEOUT_MS;
    let drained: Sample;
    for (;;) {
      drained = await sample();
      const received = gatewayValue(drained, "readings");
      const forwarded = gatewayValue(drained, "forwarded");
      if (gatewayValue(drained, "spool_depth") === 0 && forwarded >= received) break;
      if (performance.now() > drainDeadline) {
        problems.push(`spool not drained: received ${received}, forwarded ${forwarded}`);
        break;
      }
      await delay(200);
    }
    for (
      const name of [
        "connections_refused",
        "tls_rejected",
        "identity_rejected",
        "crc_failures",
        "framing_errors",
        "idle_timeouts",
        "slow_readers",
        "commit_failures",
        "forward_retries",
        "forward_rejected",
      ]
    ) {
      // An outage or a killed server is retried by design: only there are retries not a problem.
      if (name === "forward_retries" && (mode === "outage" || mode === "failover")) continue;
      const value = gatewayValue(drained, name);
      if (value > 0) problems.push(`gateway ${name}=${value}`);
    }

    for (const [program, child] of [["gateway", gateway], ["server", server]] as const) {
      const exit = await child.stop("SIGTERM", 30_000);
      if (exit.code !== 0) problems.push(`${program} exited with ${exit.code}`);
    }
    const expected = { firstId: 1, sensors: options.sensors, count, totals };
    const tally = options.db === undefined
      ? tallyDatabase(db, expected)
      : tallyRows(await postgresSensorRows(options.db), expected);

    const cost = (indexes: number[]): ProgramCost => ({
      cpuSeconds: sum(
        indexes,
        (i) => (last.stats[i]?.cpuSeconds ?? 0) - (first.stats[i]?.cpuSeconds ?? 0),
      ),
      peakRssBytes: sum(indexes, (i) => lastStats.get(pids[i]!)?.peakRssBytes ?? 0),
    });
    const before = histogramBuckets(first.server, FRESHNESS);
    const after = histogramBuckets(last.server, FRESHNESS);
    const stored = (s: Sample) => s.server.get("vigia_readings_stored_total") ?? 0;
    const duplicates = (s: Sample) => s.server.get("vigia_readings_duplicate_total") ?? 0;
    return {
      sensors: options.sensors,
      mode,
      windowSeconds,
      receivedPerSecond: (gatewayValue(last, "readings") - gatewayValue(first, "readings")) /
        windowSeconds,
      storedPerSecond: (stored(last) - stored(first)) / windowSeconds,
      serverDuplicates: duplicates(last) - duplicates(first),
      latencyMs: latencyMs(before, after, windowMax(window)),
      cost: {
        server: cost(serverIndexes),
        gateway: cost([1]),
        sensor: cost(sensorProcesses.map((_, i) => i + 2)),
      },
      totals,
      tally,
      connectionsHeld: Math.min(...window.map((s) => gatewayValue(s, "connections_active"))),
      backlog: {
        spoolDepth: window.map((s) => gatewayValue(s, "spool_depth")),
        serverQueue: window.map((s) => s.server.get(SERVER_QUEUE) ?? 0),
      },
      outage,
      stolenCpuSeconds: last.machineStealSeconds - first.machineStealSeconds,
      foreignCpuSeconds: Math.max(
        0,
        last.machineBusySeconds - first.machineBusySeconds -
          (last.benchCpuSeconds - first.benchCpuSeconds) -
          sum(
            pids.map((_, i) => i),
            (i) => (last.stats[i]?.cpuSeconds ?? 0) - (first.stats[i]?.cpuSeconds ?? 0),
          ),
      ),
      connectSeconds,
      problems,
    };
  } catch (error) {
    for (const child of children) {
      const tail = child.lines().slice(-8).join("\n    ");
      if (tail) options.progress(`${child.script} (pid ${child.pid}) last lines:\n    ${tail}`);
    }
    throw error;
  } finally {
    await Promise.all(children.map((child) => child.stop("SIGKILL", 0).catch(() => {})));
    for (const proxy of proxies) proxy.close();
  }
}

async function startSensors(
  options: RunOptions,
  gatewayPort: number,
  interval: number,
  count: number | undefined,
  profile: (name: string) => string[],
): Promise<Child[]> {
  const { sensors } = options;
  const processes = sensors >= 1_000
    ? Math.max(2, Math.ceil(sensors / SENSORS_PER_PROCESS))
    : Math.ceil(sensors / SENSORS_PER_PROCESS);
  const children: Child[] = [];
  let firstId = 1;
  for (let p = 0; p < processes; p++) {
    const n = Math.floor(sensors / processes) + (p < sensors % processes ? 1 : 0);
    children.push(
      await startChild("sensor.ts", [
        "--gateway",
        `127.0.0.1:${gatewayPort}`,
        "--certs",
        options.certs,
        "--sensors",
        String(n),
        "--first-id",
        String(firstId),
        "--interval",
        String(interval),
        "--count",
        String(count ?? 0),
        "--seed",
        String(1 + p),
        "--stats-interval",
        "0",
        ...(options.window === undefined ? [] : ["--window", String(options.window)]),
      ], {
        allow: [`--allow-read=${options.certs}`, ...profile(`sensor-${p + 1}`)],
        keepLines: 200,
      }),
    );
    firstId += n;
  }
  return children;
}

/**
 * p50, p99 and max in ms. A quantile interpolated inside a histogram bucket
 * can land above the largest value actually seen, anywhere up to the
 * bucket's upper bound; the true quantile cannot, so it is capped at the max.
 */
function latencyMs(
  before: readonly [number, number][],
  after: readonly [number, number][],
  maxSeconds: number | undefined,
): RunResult["latencyMs"] {
  const ms = (seconds: number | undefined) => seconds === undefined ? undefined : seconds * 1000;
  const quantile = (q: number) => {
    const seconds = windowQuantile(before, after, q);
    return ms(
      seconds === undefined || maxSeconds === undefined ? seconds : Math.min(seconds, maxSeconds),
    );
  };
  return { p50: quantile(0.5), p99: quantile(0.99), max: ms(maxSeconds) };
}

/**
 * The largest freshness of the window from the server's recent-maximum
 * gauge (it covers the last 10 s): the samples whose look-back starts
 * inside the window, or the last one when the window is shorter.
 */
function windowMax(window: readonly Sample[]): number | undefined {
  const start = window[0]!.at;
  const covering = window.filter((s) => s.at - start >= 9_000);
  const samples = covering.length > 0 ? covering : [window.at(-1)!];
  const values = samples.map((s) => s.server.get("vigia_reading_freshness_max_seconds") ?? 0);
  return values.length > 0 ? Math.max(...values) : undefined;
}

function sumSummaries(processes: readonly Child[], problems: string[]): SensorTotals {
  const totals = { sent: 0, acknowledged: 0, resent: 0, dropped: 0, pending: 0, refused: 0 };
  processes.forEach((child, i) => {
    const line = child.lines().find((l) => / summary /.test(l));
    if (line === undefined) {
      problems.push(`sensor process ${i + 1} printed no summary`);
      return;
    }
    const field = (name: string) => Number(new RegExp(` ${name}=(\\d+)`).exec(line)?.[1] ?? 0);
    for (const name of ["sent", "acknowledged", "resent", "dropped", "pending"] as const) {
      totals[name] += field(name);
    }
    // ERROR 4 is the gateway's backpressure (spool full): expected at saturation.
    for (const [, code, n] of (/ errors=(\S+)/.exec(line)?.[1] ?? "").matchAll(/(\d+):(\d+)/g)) {
      if (code === "4") totals.refused += Number(n);
      else problems.push(`sensor process ${i + 1} got ERROR ${code} ${n} times`);
    }
    const failures = field("connect_failures");
    if (failures > 0) problems.push(`sensor process ${i + 1} connect_failures=${failures}`);
    const timeouts = field("ack_timeouts");
    if (timeouts > 0) problems.push(`sensor process ${i + 1} ack_timeouts=${timeouts}`);
  });
  return totals;
}

function portOf(line: string): number {
  return Number(LISTENING_LINE.exec(line)![2]);
}

function sum(indexes: readonly number[], value: (i: number) => number): number {
  return indexes.reduce((total, i) => total + value(i), 0);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/**
 * Two servers' samples as one: sums, but the largest of a gauge of a
 * maximum (`…_max_…`).
 */
function addMetrics(a: MetricSamples, b: MetricSamples): MetricSamples {
  const sum = new Map(a);
  for (const [name, value] of b) {
    const mine = sum.get(name);
    sum.set(
      name,
      mine === undefined ? value : name.includes("_max_") ? Math.max(mine, value) : mine + value,
    );
  }
  return sum;
}
