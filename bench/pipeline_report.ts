/**
 * The pipeline benchmark's report: one line per run, the median of a
 * scale's runs as a table row and a `BENCH` line a script can parse, and
 * the figures checked against the goals the README's performance section
 * sets ({@linkcode GOALS}).
 *
 * @module
 */

import { IDLE_INTERVAL_S, type Mode, type RunResult } from "./pipeline_run.ts";

/** One scale of the benchmark: how many sensors, sending how. */
export interface Scale {
  readonly sensors: number;
  readonly mode: Mode;
  /** `fixed`: readings/s of all sensors together. */
  readonly ratePerSecond?: number;
  /** `outage`: seconds the server is down. */
  readonly outageSeconds?: number;
}

/** The scale as `--scales` names it (`100xmax`, `100x20000`). */
export function label(scale: Scale): string {
  return `${scale.sensors}x${scale.mode === "fixed" ? scale.ratePerSecond : scale.mode}`;
}

const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
const mb = (bytes: number) => Math.round(bytes / 1024 ** 2);
const msText = (ms: number | undefined) =>
  ms === undefined ? "-" : ms < 10 ? ms.toFixed(1) : Math.round(ms).toString();

/** One run in one line. */
export function describeRun(r: RunResult): string {
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
    (r.serverDuplicates > 0 ? `, ${thousands(r.serverDuplicates)} resent to the server` : "") +
    `, backlog spool max ${thousands(Math.max(...r.backlog.spoolDepth))} mean ${
      thousands(mean(r.backlog.spoolDepth))
    } [${r.backlog.spoolDepth.map(thousands).join(" ")}], server queue max ${
      thousands(Math.max(...r.backlog.serverQueue))
    }` +
    (r.outage === undefined
      ? ""
      : `, outage ${r.outage.seconds} s: backlog ${thousands(r.outage.peak)} drained in ${
        r.outage.drainSeconds?.toFixed(1) ?? "(not drained)"
      } s`);
  return r.mode === "idle"
    ? `${base}, held ${r.connectionsHeld} connections (all up after ${
      r.connectSeconds?.toFixed(1)
    } s)`
    : base;
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/** The median (the upper one of an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function medianOf(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : median(known);
}

/** The head of the Markdown table of {@linkcode summarize}'s rows. */
export const TABLE_HEAD = [
  "| sensors | offered | stored/s | p50 ms | p99 ms | max ms | backlog max: spool / server queue | RSS MB sensors / gateway / server | CPU s sensors / gateway / server | lost | dup |",
  "| ---: | --- | ---: | ---: | ---: | ---: | --- | --- | --- | ---: | ---: |",
].join("\n");

/** What the README's performance section sets as targets; printed as met or missed. */
export const GOALS = {
  /** Flat out from 100 sensors on: p99 under this, ms. */
  maxP99Ms: 300,
  /** ... while storing at least this many readings/s (on the README's machine). */
  maxStoredPerS: 210_000,
  /** A fixed rate below the server's capacity: p99 under this, ms. */
  fixedP99Ms: 100,
  /** After an outage: the backlog drained within this, s. */
  drainS: 10,
} as const;

interface Summary {
  readonly scale: Scale;
  readonly stored: number;
  readonly p99: number | undefined;
  readonly lost: number;
  readonly drain: number | undefined;
}

/** One line per goal that applies to `summary`'s scale. */
function goalLines(summary: Summary): string[] {
  const { scale, stored, p99, lost, drain } = summary;
  const check = (what: string, met: boolean) =>
    `  ${label(scale)}: ${what}: ${met ? "met" : "MISSED"}`;
  const p99Text = (goal: number) => `p99 ${msText(p99)} ms < ${goal} ms`;
  if (scale.mode === "max" && scale.sensors >= 100) {
    return [
      check(p99Text(GOALS.maxP99Ms), p99 !== undefined && p99 < GOALS.maxP99Ms),
      check(
        `stored/s ${thousands(stored)} >= ${thousands(GOALS.maxStoredPerS)}`,
        stored >= GOALS.maxStoredPerS,
      ),
    ];
  }
  if (scale.mode === "fixed") {
    return [check(p99Text(GOALS.fixedP99Ms), p99 !== undefined && p99 < GOALS.fixedP99Ms)];
  }
  if (scale.mode === "outage") {
    return [
      check(
        `backlog drained in ${drain?.toFixed(1) ?? "(never)"} s <= ${GOALS.drainS} s`,
        drain !== undefined && drain <= GOALS.drainS,
      ),
      check(`lost ${lost} = 0`, lost === 0),
    ];
  }
  return [];
}

/** The median of a scale's runs: table row, BENCH line, goal lines; failed when anything was lost or went wrong. */
export function summarize(
  scale: Scale,
  results: readonly RunResult[],
): { row: string; bench: string; failed: boolean; goals: string[] } {
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
  const spoolMax = m((r) => Math.max(...r.backlog.spoolDepth));
  const spoolMean = m((r) => mean(r.backlog.spoolDepth));
  const queueMax = m((r) => Math.max(...r.backlog.serverQueue));
  const outages = results.flatMap((r) => r.outage === undefined ? [] : [r.outage]);
  // A run that never drained counts as the slowest.
  const drain = outages.length === 0
    ? undefined
    : medianOf(outages.map((o) => o.drainSeconds ?? Infinity));
  const drainText = drain === undefined || drain === Infinity ? "never" : `${drain.toFixed(1)} s`;
  const offered = scale.mode === "rate"
    ? `${thousands(scale.sensors)}/s`
    : scale.mode === "fixed"
    ? `${thousands(scale.ratePerSecond!)}/s`
    : scale.mode === "max"
    ? `max (${thousands(received)}/s)`
    : scale.mode === "outage"
    ? `${thousands(scale.sensors)}/s, server down ${scale.outageSeconds} s`
    : scale.mode === "failover"
    ? `max (${thousands(received)}/s), 2 servers, one killed -9`
    : `idle, 1 per ${IDLE_INTERVAL_S} s`;
  const backlogCell = `${thousands(spoolMax)} / ${thousands(queueMax)}` +
    (outages.length === 0
      ? ""
      : `; outage ${thousands(median(outages.map((o) => o.peak)))}, drained in ${drainText}`);
  const sensorsCell = scale.mode === "idle"
    ? `${thousands(scale.sensors)} (held ${thousands(held)})`
    : thousands(scale.sensors);
  const row = `| ${sensorsCell} | ${offered} | ${thousands(stored)} | ${msText(p50)} | ${
    msText(p99)
  } | ${msText(max)} | ${backlogCell} | ${mb(rss("sensor"))} / ${mb(rss("gateway"))} / ${
    mb(rss("server"))
  } | ${cpu("sensor").toFixed(1)} / ${cpu("gateway").toFixed(1)} / ${
    cpu("server").toFixed(1)
  } | ${lost} | ${duplicated} |`;
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
    spool_depth_max: Math.round(spoolMax),
    spool_depth_mean: Math.round(spoolMean),
    server_queue_max: Math.round(queueMax),
    ...(drain === undefined ? {} : {
      outage_s: scale.outageSeconds,
      outage_backlog: Math.round(median(outages.map((o) => o.peak))),
      drain_s: drain === Infinity ? "na" : drain.toFixed(1),
    }),
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
  const goals = goalLines({
    scale,
    stored,
    p99,
    lost,
    drain: drain === Infinity ? undefined : drain,
  });
  return { row, bench, failed: lost > 0 || duplicated > 0 || problems > 0, goals };
}
