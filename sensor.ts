/**
 * `deno task sensor`: simulated plant sensors. One process runs N sensors
 * (ids `--first-id` … `--first-id`+N−1), each with its own certificate and
 * its own mutual-TLS connection to the gateway, as real devices would.
 *
 * Each sensor measures every `--interval` seconds (plausible values with
 * rare out-of-range excursions, see sensor/simulator.ts), keeps each reading
 * until the gateway ACKs it, resends the unacknowledged ones after a
 * reconnect, and reconnects with exponential backoff and jitter (see
 * sensor/link.ts). `--interval 0` is saturation mode: each sensor measures
 * as fast as its window of unacknowledged readings allows (for load tests).
 *
 * Flags: `deno task sensor --help` (the table is {@linkcode FLAGS}).
 *
 * On exit (count done, SIGINT or SIGTERM) it logs one parsable line:
 * `summary sensors=N sent=… acknowledged=… resent=… dropped=… pending=… …`.
 *
 * Exit codes: 0 count done or stopped by a signal, 1 fatal error (a
 * certificate missing), 2 bad flags or a missing permission.
 *
 * @module
 */

import { join } from "node:path";
import {
  type CommonConfig,
  commonConfig,
  parseHostPort,
  parseNumber,
  parseTable,
  type Program,
  runMain,
} from "./lib/cli.ts";
import type { Logger } from "./lib/log.ts";
import { type Flag, usage } from "./lib/flags.ts";
import { netAccess, type PermissionNeed, readAccess } from "./lib/permissions.ts";
import { SensorLink } from "./sensor/link.ts";
import { startStatsLine } from "./lib/stats_line.ts";
import { startScheduler } from "./sensor/scheduler.ts";
import { createSimulator } from "./sensor/simulator.ts";
import { createCounters, LatencyHistogram, summaryFields } from "./sensor/stats.ts";

/** Configuration of the sensor simulator. */
export interface SensorConfig extends CommonConfig {
  readonly gateway: { readonly hostname: string; readonly port: number };
  readonly sensors: number;
  readonly firstId: number;
  /** Seconds between readings per sensor; 0 = saturation. */
  readonly interval: number;
  /** Readings per sensor; 0 = forever. */
  readonly count: number;
  readonly certs: string;
  readonly window: number;
  /** ACKs slower than this shrink the window; 0 = fixed window. */
  readonly latencyTargetMs: number;
  readonly buffer: number;
  readonly ackTimeoutMs: number;
  /** Undefined: pick one at random (and log it). */
  readonly seed: number | undefined;
  readonly excursionRate: number;
  readonly statsIntervalMs: number;
}

/** The flags of `deno task sensor`. */
export const FLAGS: readonly Flag[] = [
  { name: "gateway", value: "HOST:PORT", default: "127.0.0.1:8443", help: "gateway address" },
  { name: "sensors", value: "N", default: "1", help: "sensors in this process" },
  { name: "first-id", value: "ID", default: "1", help: "id of the first sensor" },
  {
    name: "interval",
    value: "SECONDS",
    default: "5",
    help: "seconds between readings per sensor, fractions allowed; 0 = as fast as ACKs allow",
  },
  {
    name: "count",
    value: "N",
    default: "0",
    help: "readings per sensor, 0 = forever; the process exits 0 once all are acknowledged",
  },
  {
    name: "certs",
    value: "DIR",
    default: "certs",
    help: "ca.crt and sensors/sensor-<id>.crt/.key",
  },
  {
    name: "window",
    value: "N",
    default: "500",
    help: "most unacknowledged readings in flight per sensor",
  },
  {
    name: "latency-target",
    value: "MS",
    default: "150",
    help: "ACKs slower than this shrink the window (down to 8), faster grow it back; 0 = fixed",
  },
  {
    name: "buffer",
    value: "N",
    default: "10000",
    help: "readings kept per sensor; beyond it the oldest are dropped and counted",
  },
  {
    name: "ack-timeout",
    value: "SECONDS",
    default: "5",
    help: "reconnect and resend after this long without ACK progress",
  },
  {
    name: "seed",
    value: "N",
    defaultHelp: "random, logged",
    help: "seed for reproducible values",
  },
  {
    name: "excursion-rate",
    value: "P",
    default: "0.02",
    help: "chance per reading of an out-of-range excursion",
  },
  {
    name: "stats-interval",
    value: "SECONDS",
    default: "10",
    help: "period of the stats log line, 0 = off",
  },
];

const USAGE = usage(
  "sensor",
  `Simulated sensors sending readings to the gateway over mutual TLS.`,
  FLAGS,
  `On exit it logs: summary sensors=N sent=... acknowledged=... resent=... dropped=... pending=...

Exit codes: 0 count done or stopped by a signal, 1 fatal error, 2 bad flags or permission.`,
);

const MAX_SENSORS = 100_000;
/** Above this many sensors, per-sensor connection events are logged at debug level only. */
const VERBOSE_SENSORS = 10;
const BACKOFF = { baseMs: 500, maxMs: 30_000 } as const;

/** Parses the simulator's flags. */
export function parseConfig(args: string[]): SensorConfig {
  const values = parseTable(args, FLAGS);
  const sensors = parseNumber("sensors", values.string("sensors"), {
    min: 1,
    max: MAX_SENSORS,
    integer: true,
  });
  const firstId = parseNumber("first-id", values.string("first-id"), {
    min: 0,
    max: 0xffff_ffff - sensors + 1,
    integer: true,
  });
  const window = parseNumber("window", values.string("window"), {
    min: 1,
    max: 1_000_000,
    integer: true,
  });
  const buffer = parseNumber("buffer", values.string("buffer"), {
    min: 1,
    max: 100_000_000,
    integer: true,
  });
  return {
    ...commonConfig(values),
    gateway: parseHostPort("gateway", values.string("gateway")),
    sensors,
    firstId,
    interval: parseNumber("interval", values.string("interval"), { min: 0, max: 86_400 }),
    count: parseNumber("count", values.string("count"), { min: 0, integer: true }),
    certs: values.string("certs"),
    window,
    latencyTargetMs: parseNumber("latency-target", values.string("latency-target"), {
      min: 0,
      max: 3_600_000,
    }),
    buffer: Math.max(buffer, window),
    ackTimeoutMs: 1000 *
      parseNumber("ack-timeout", values.string("ack-timeout"), { min: 0.1, max: 3_600 }),
    seed: values.optional("seed") === undefined
      ? undefined
      : parseNumber("seed", values.string("seed"), { min: 0, max: 0xffff_ffff, integer: true }),
    excursionRate: parseNumber("excursion-rate", values.string("excursion-rate"), {
      min: 0,
      max: 1,
    }),
    statsIntervalMs: 1000 *
      parseNumber("stats-interval", values.string("stats-interval"), { min: 0, max: 86_400 }),
  };
}

/** What the flags need: the certificates and the gateway's address. */
export function permissions(config: SensorConfig): PermissionNeed[] {
  const { hostname, port } = config.gateway;
  return [readAccess("certs", config.certs), netAccess("gateway", hostname, port)];
}

/** Runs the sensors until the count is done or `signal` aborts, then logs the summary. */
export async function run(config: SensorConfig, signal: AbortSignal, log: Logger): Promise<void> {
  const { hostname, port } = config.gateway;
  const ids = Array.from({ length: config.sensors }, (_, i) => config.firstId + i);
  const caCert = await readPem(join(config.certs, "ca.crt"));
  const identities = await Promise.all(ids.map(async (id) => ({
    id,
    cert: await readPem(join(config.certs, "sensors", `sensor-${id}.crt`)),
    key: await readPem(join(config.certs, "sensors", `sensor-${id}.key`)),
  })));

  const seed = config.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
  const counters = createCounters();
  const latency = new LatencyHistogram();
  const verbose = config.sensors <= VERBOSE_SENSORS;
  const links = identities.map(({ id, cert, key }) =>
    new SensorLink({
      sensorId: id,
      hostname,
      port,
      caCert,
      cert,
      key,
      simulator: createSimulator({ sensorId: id, seed, excursionRate: config.excursionRate }),
      count: config.count,
      window: config.window,
      latencyTargetMs: config.latencyTargetMs,
      buffer: config.buffer,
      ackTimeoutMs: config.ackTimeoutMs,
      backoff: BACKOFF,
      counters,
      latency,
      log,
      verbose,
    })
  );
  const last = config.firstId + config.sensors - 1;
  log.info(`sensors ${config.firstId}..${last} sending to ${hostname}:${port}`, {
    interval_s: config.interval,
    count: config.count,
    window: config.window,
    latency_target_ms: config.latencyTargetMs,
    seed,
  });

  const started = performance.now();
  const saturate = config.interval === 0;
  const stopScheduler = saturate ? () => {} : startScheduler(links, config.interval * 1000, seed);
  signal.addEventListener("abort", stopScheduler, { once: true });
  const pending = () => links.reduce((sum, link) => sum + link.queue.length, 0);
  const stopStats = startStatsLine(log, {
    intervalMs: config.statsIntervalMs,
    rates: () => ({ ack_per_s: counters.acknowledged }),
    fields: () => ({
      connected: counters.connected,
      sensors: links.length,
      sent: counters.sent,
      acknowledged: counters.acknowledged,
      resent: counters.resent,
      dropped: counters.dropped,
      pending: pending(),
    }),
  });
  try {
    await Promise.all(links.map((link) => link.run(signal, saturate)));
  } finally {
    stopScheduler();
    stopStats();
  }
  log.info(
    "summary",
    summaryFields(counters, {
      sensors: config.sensors,
      pending: pending(),
      elapsedMs: performance.now() - started,
      latency,
    }),
  );
}

async function readPem(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot read ${path}: ${detail} (run \`deno task certs --sensors N\`)`);
  }
}

/** The program, as `runMain` runs it. */
export const sensorProgram: Program<SensorConfig> = {
  name: "sensor",
  usage: USAGE,
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
};

if (import.meta.main) await runMain(sensorProgram);
