/**
 * The steady window of a device-source benchmark (`bench modbus`, `bench
 * opcua`): a gateway's and a server's `/metrics` and the processes' costs
 * sampled after a warm-up and again after the window, and what the two
 * samples say: rates of counters, quantiles of the server's freshness
 * histogram (source timestamp → stored), CPU cores per process.
 *
 * @module
 */

import type { MetricSamples } from "../lib/metrics.ts";
import { fetchMetrics, histogramBuckets, windowQuantile } from "./pipeline_tally.ts";
import { type CostSample, sampleCosts } from "./process_stats.ts";

/** One sample of the pipeline. */
export interface WindowSample {
  /** `performance.now()` when taken. */
  readonly at: number;
  readonly server: MetricSamples;
  readonly gateway: MetricSamples;
  /** Costs of the pids given to {@linkcode measureWindow}, in that order. */
  readonly costs: CostSample;
  /** What `probe` returned, if there is one. */
  readonly probe: number;
}

/** Where to sample. */
export interface WindowTargets {
  readonly serverMetrics: string;
  readonly gatewayMetrics: string;
  readonly pids: readonly number[];
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** A number the benchmark reads with each sample (a counter of its own). */
  readonly probe?: () => Promise<number>;
}

const FRESHNESS = "vigia_reading_freshness_seconds";

/** What a window's two samples say. */
export class WindowFigures {
  readonly first: WindowSample;
  readonly last: WindowSample;
  /** The window's real length. */
  readonly seconds: number;

  constructor(first: WindowSample, last: WindowSample) {
    this.first = first;
    this.last = last;
    this.seconds = (last.at - first.at) / 1000;
  }

  /** Per second over the window, of the sum of the gateway's series starting with `prefix`. */
  gatewayRate(prefix: string): number {
    return (sum(this.last.gateway, prefix) - sum(this.first.gateway, prefix)) / this.seconds;
  }

  /** Readings stored per second (the server's `vigia_readings_stored_total`). */
  get storedRate(): number {
    const stored = (sample: WindowSample) => sample.server.get("vigia_readings_stored_total") ?? 0;
    return (stored(this.last) - stored(this.first)) / this.seconds;
  }

  /** Quantile `q` of source timestamp → stored in the window, in ms, as text. */
  latencyMs(q: number): string {
    const before = histogramBuckets(this.first.server, FRESHNESS);
    const after = histogramBuckets(this.last.server, FRESHNESS);
    return ((windowQuantile(before, after, q) ?? NaN) * 1000).toFixed(1);
  }

  /** CPU cores used by process `i` (of the pids sampled) over the window. */
  cores(i: number): number {
    const cpu = (sample: WindowSample) => sample.costs.processes[i]?.cpuSeconds ?? 0;
    return (cpu(this.last) - cpu(this.first)) / this.seconds;
  }

  /** Resident memory of process `i` at the window's end, in MB, as text. */
  rssMb(i: number): string {
    return ((this.last.costs.processes[i]?.rssBytes ?? NaN) / 2 ** 20).toFixed(0);
  }
}

/** Waits out the warm-up, samples, waits out the window, samples again. */
export async function measureWindow(targets: WindowTargets): Promise<WindowFigures> {
  const sample = async (): Promise<WindowSample> => {
    const [server, gateway, costs, probe] = await Promise.all([
      fetchMetrics(targets.serverMetrics),
      fetchMetrics(targets.gatewayMetrics),
      sampleCosts(targets.pids),
      targets.probe?.() ?? NaN,
    ]);
    return { at: performance.now(), server, gateway, costs, probe };
  };
  await new Promise((resolve) => setTimeout(resolve, targets.warmupSeconds * 1000));
  const first = await sample();
  await new Promise((resolve) => setTimeout(resolve, targets.seconds * 1000));
  return new WindowFigures(first, await sample());
}

function sum(samples: MetricSamples, prefix: string): number {
  let total = 0;
  for (const [key, value] of samples) if (key.startsWith(prefix)) total += value;
  return total;
}
