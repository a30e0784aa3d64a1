/**
 * Figures for the dashboard in Debian's Chromium against the real server:
 * time to first render and JS heap for a 15 min window of many sensors and
 * for a 24 h window, the cost of one redraw of the three charts, and the CPU
 * and heap of a page following a busy live feed. Prints figures; asserts
 * nothing about speed (a slow machine is not a bug).
 *
 * Flags: see {@linkcode USAGE}.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import type { CDPSession, Page } from "playwright-core";
import { ROOT, startProgram } from "../tests/_process.ts";
import { testPki } from "../tests/_pki.ts";
import { assertChromium, CHROMIUM, CHROMIUM_ARGS, loadChromium } from "../tests/_browser.ts";
import { exitIfHelpAsked } from "./usage.ts";

const USAGE = `
Usage: deno task bench dashboard -- [--sensors 30] [--live-seconds 60] [--runs 3]

  --sensors N        sensors in the 15 min and 24 h windows
  --live-seconds S   how long the page follows a busy live feed
  --runs N           runs per figure; the median is printed
`;
exitIfHelpAsked(USAGE);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sensors: { type: "string", default: "30" },
    "live-seconds": { type: "string", default: "60" },
    runs: { type: "string", default: "3" },
  },
  strict: false, // `deno task bench -- ...` passes every benchmark's flags
});
const SENSORS = Number(values.sensors);
const LIVE_SECONDS = Number(values["live-seconds"]);
const RUNS = Number(values.runs);

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function print(line: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
}

function reading(id: number, seq: number, timestamp: number) {
  const phase = timestamp / 60_000 + id;
  return {
    id,
    seq,
    timestamp,
    temperature: Math.round((21 + id / 4 + 2 * Math.sin(phase)) * 100) / 100,
    pressure: Math.round((1013 + id + 3 * Math.cos(phase)) * 100) / 100,
    humidity: Math.round((45 + id / 2 + 5 * Math.sin(phase / 3)) * 100) / 100,
  };
}

const pki = await testPki();
const dir = await Deno.makeTempDir({ prefix: "vigia-dashboard-perf-" });
const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
const setRead = (config.permissions.server.read as string[]).map((path) => join(ROOT, path));
const server = await startProgram("server.ts", [
  "--port",
  "0",
  "--db",
  join(dir, "perf.db"),
  "--token-file",
  pki.token,
], { allow: [`--allow-read=${[...setRead, dir, pki.token].join(",")}`, `--allow-write=${dir}`] });
const baseUrl = `http://127.0.0.1:${server.port}`;

async function store(readings: ReturnType<typeof reading>[]): Promise<void> {
  for (let i = 0; i < readings.length; i += 10_000) {
    const response = await fetch(`${baseUrl}/api/data`, {
      method: "POST",
      headers: { Authorization: `Bearer ${pki.tokenValue}`, "Content-Type": "application/json" },
      body: JSON.stringify(readings.slice(i, i + 10_000)),
    });
    if (!response.ok) {
      throw new Error(`POST /api/data: ${response.status} ${await response.text()}`);
    }
    await response.body?.cancel();
  }
}

await assertChromium();
const chromium = await loadChromium();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [...CHROMIUM_ARGS, "--enable-precise-memory-info"],
});

const sessions = new WeakMap<Page, CDPSession>();

/** Chromium's counters for `page` (after a garbage collection, so the heap is what is kept). */
async function metrics(page: Page): Promise<Record<string, number>> {
  let session = sessions.get(page);
  if (!session) {
    session = await page.context().newCDPSession(page);
    await session.send("Performance.enable");
    sessions.set(page, session);
  }
  await session.send("HeapProfiler.collectGarbage");
  const { metrics } = await session.send("Performance.getMetrics");
  return Object.fromEntries(metrics.map((metric) => [metric.name, metric.value]));
}

async function openDashboard(window: string) {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  const started = performance.now();
  await page.goto(`${baseUrl}/?window=${window}`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  const readyMs = performance.now() - started;
  await page.waitForTimeout(500);
  const heapMb = (await metrics(page))["JSHeapUsedSize"]! / 2 ** 20;
  const points = await page.evaluate(`[...document.querySelectorAll("canvas")]
    .map((canvas) => Chart.getChart(canvas).data.datasets.reduce((n, d) => n + d.data.length, 0))
    .reduce((a, b) => a + b, 0)`) as number;
  return { page, readyMs, heapMb, points };
}

const REDRAW = `(() => {
  const charts = [...document.querySelectorAll("canvas")].map((canvas) => Chart.getChart(canvas));
  const times = [];
  for (let i = 0; i < 21; i++) {
    const started = performance.now();
    for (const chart of charts) chart.update("none");
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[10];
})()`;

try {
  // 15 min window: SENSORS sensors at 1 Hz.
  const now = Date.now();
  const recent = [];
  for (let s = 900; s > 0; s--) {
    for (let id = 1; id <= SENSORS; id++) recent.push(reading(id, 100_000 - s, now - s * 1000));
  }
  // 24 h before that: one reading a minute.
  const day = [];
  for (let m = 24 * 60; m > 15; m--) {
    for (let id = 1; id <= SENSORS; id++) day.push(reading(id, 10_000 - m, now - m * 60_000));
  }
  await store([...day, ...recent]);
  print(
    `seeded ${SENSORS} sensors: ${recent.length} readings in the last 15 min (1 Hz), ` +
      `${day.length} over the 24 h before (1/min)`,
  );

  for (const window of ["15m", "24h"]) {
    const ready: number[] = [];
    const heap: number[] = [];
    const redraw: number[] = [];
    let points = 0;
    for (let run = 0; run < RUNS; run++) {
      const opened = await openDashboard(window);
      ready.push(opened.readyMs);
      heap.push(opened.heapMb);
      points = opened.points;
      redraw.push(await opened.page.evaluate(REDRAW) as number);
      await opened.page.close();
    }
    print(
      `window ${window}: ${points} points drawn; first render ${
        median(ready).toFixed(0)
      } ms, JS heap ${median(heap).toFixed(1)} MB, redraw of the three charts ${
        median(redraw).toFixed(1)
      } ms (median of ${RUNS} page loads, 1920x1080)`,
    );
  }

  // Live: every sensor sends 4 readings a second for LIVE_SECONDS.
  const { page, heapMb } = await openDashboard("15m");
  const before = await metrics(page);
  const started = performance.now();
  let seq = 200_000;
  while (performance.now() - started < LIVE_SECONDS * 1000) {
    const t = Date.now();
    const batch = [];
    for (let id = 1; id <= SENSORS; id++) batch.push(reading(id, seq, t));
    seq++;
    await store(batch);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await page.waitForTimeout(1000);
  const after = await metrics(page);
  const seconds = (performance.now() - started) / 1000;
  const busy = (after["TaskDuration"]! - before["TaskDuration"]!) / seconds;
  const script = (after["ScriptDuration"]! - before["ScriptDuration"]!) / seconds;
  const points = await page.evaluate(`[...document.querySelectorAll("canvas")]
    .map((canvas) => Chart.getChart(canvas).data.datasets.reduce((n, d) => n + d.data.length, 0))
    .reduce((a, b) => a + b, 0)`) as number;
  print(
    `live ${SENSORS * 4} readings/s for ${seconds.toFixed(0)} s: page main thread busy ${
      (busy * 100).toFixed(1)
    } % (script ${(script * 100).toFixed(1)} %), JS heap ${heapMb.toFixed(1)} → ${
      (after["JSHeapUsedSize"]! / 2 ** 20).toFixed(1)
    } MB, ${points} points drawn`,
  );
} finally {
  await browser.close();
  await server.stop();
  await Deno.remove(dir, { recursive: true });
}
