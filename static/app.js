// @ts-check
/**
 * The dashboard's entry point: loads the thresholds, the sensors and the
 * window's history, draws it, then follows `/api/live` and keeps the charts,
 * the sensors table and the events list current. Sets `data-ready="true"`
 * on `<body>` after the first full render (what the browser test waits for)
 * and `data-window` to the window on screen.
 *
 * "Now" is the server's clock (`serverNow`), not this computer's, which on a
 * plant screen may be minutes off.
 *
 * Windows: 15 min of raw readings (`/api/readings?since=`), or 1 h / 24 h of
 * min/avg/max buckets (`/api/series`, 10 s and 4 min buckets: 360 points a
 * line) with live readings folded into their bucket. The window is chosen in
 * the page or with `?window=15m|1h|24h`; `?sensors=1,2,3` picks the lines
 * shown (a wall screen's URL keeps its view).
 *
 * @module
 */

import {
  fetchAfter,
  fetchCursor,
  fetchRecent,
  fetchSensors,
  fetchSeries,
  fetchThresholds,
  parseReading,
  serverNow,
} from "./api.js";
import { ChartSet, QUANTITY_LABELS, readTheme } from "./charts.js";
import { formatNumber, formatTime } from "./format.js";
import { backoffDelay, LiveFeed } from "./live.js";
import { QUANTITIES, WindowModel } from "./model.js";
import { EventList } from "./events.js";
import { SensorPicker, SensorTable, showStatus } from "./panels.js";
import { EventLog, SensorBook } from "./sensors.js";

/** @typedef {import("./model.js").Reading} Reading */
/** @typedef {import("./model.js").Thresholds} Thresholds */
/** @typedef {import("./model.js").Quantity} Quantity */
/** @typedef {import("./live.js").LiveState} LiveState */

const MINUTE = 60_000;
/** Least time between two redraws, in ms. */
const MIN_RENDER_MS = 500;
/** How many out-of-range episodes the list keeps. */
const EVENTS = 50;
const HOUR = 60 * MINUTE;

/** The windows the picker offers. */
const WINDOWS = /** @type {const} */ ({
  "15m": { kind: "raw", spanMs: 15 * MINUTE, bucketMs: 0 },
  "1h": { kind: "bucket", spanMs: HOUR, bucketMs: 10_000 },
  "24h": { kind: "bucket", spanMs: 24 * HOUR, bucketMs: 4 * MINUTE },
});
/** @typedef {keyof typeof WINDOWS} WindowKey */

/**
 * @param {unknown} key
 * @returns {key is WindowKey}
 */
function isWindowKey(key) {
  return typeof key === "string" && Object.hasOwn(WINDOWS, key);
}

/**
 * @template {Element} [T=HTMLElement]
 * @param {string} selector
 * @returns {T}
 */
function find(selector) {
  const node = document.querySelector(selector);
  if (!node) throw new Error(`Cannot start dashboard: no element "${selector}"`);
  return /** @type {T} */ (node);
}

/**
 * @param {number} ms
 * @param {AbortSignal} signal
 */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve(undefined)), {
      once: true,
    });
  });
}

const ui = {
  status: find("#status"),
  notice: find("#notice"),
  lastReading: find("#last-reading"),
  charts: find("#charts"),
  windowPicker: /** @type {HTMLFormElement} */ (find("#window-picker")),
  picker: find("#sensor-picker"),
  sensors: /** @type {HTMLTableSectionElement} */ (find("#sensors tbody")),
  events: /** @type {HTMLOListElement} */ (find("#events")),
  canvases: /** @type {Record<Quantity, HTMLCanvasElement>} */ (Object.fromEntries(
    QUANTITIES.map((quantity) => [quantity, find(`#chart-${quantity} canvas`)]),
  )),
};

const params = new URLSearchParams(location.search);
const chosenSensors = params.get("sensors")?.split(",").map(Number).filter(Number.isSafeInteger);
const initialWindow = params.get("window");

const book = new SensorBook();
let events = new EventLog(EVENTS);
const eventList = new EventList(ui.events, {
  empty: document.querySelector("#events-empty"),
  count: document.querySelector("#events-count"),
});
let theme = readTheme();
/** @type {LiveState} */
let liveState = "connecting";
let liveDetail = { attempt: 0, retryAt: 0 };
/** @type {WindowKey} */
let windowKey = isWindowKey(initialWindow) ? initialWindow : "15m";
/** @type {WindowModel | undefined} */
let model;
/** @type {AbortController | undefined} */
let loading;
let renderQueued = false;
let lastRender = -Infinity;
let newestReading = -Infinity;

/**
 * @param {LiveState} state
 * @param {{attempt: number, retryAt: number}} detail
 */
function setState(state, detail) {
  liveState = state;
  liveDetail = detail;
  showStatus(ui.status, state, detail);
}

/** @param {string} text */
function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = text === "";
}

const thresholdsReady = retrying("Cannot load thresholds", (signal) => fetchThresholds(signal));
// The first window's history is asked for at the same time as the ranges.
const firstWindow = fetchWindow(windowKey, new AbortController().signal).catch(() => undefined);
const thresholds = await thresholdsReady;
const charts = new ChartSet(ui.canvases, thresholds);
const table = new SensorTable(ui.sensors, thresholds);
const picker = new SensorPicker(ui.picker, {
  onChange(visible) {
    charts.setVisible(visible);
    const url = new URL(location.href);
    url.searchParams.set("sensors", [...visible].sort((a, b) => a - b).join(","));
    history.replaceState(null, "", url);
    render();
  },
  ...(chosenSensors ? { chosen: new Set(chosenSensors) } : {}),
});
const live = new LiveFeed({
  url: liveUrl(),
  fetchAfter,
  fetchCursor,
  parse: parseReading,
  onReadings: addLive,
  onState: setState,
});
for (const quantity of QUANTITIES) {
  const range = thresholds[quantity];
  const caption = document.querySelector(`#chart-${quantity} .safe`);
  if (caption) {
    caption.textContent = `safe ${formatNumber(range.min)} to ${formatNumber(range.max)} ${
      QUANTITY_LABELS[quantity].unit
    }`;
  }
}

await loadWindow(windowKey, firstWindow);
document.body.dataset["ready"] = "true";

ui.windowPicker.addEventListener("change", () => {
  const key = new FormData(ui.windowPicker).get("window");
  if (!isWindowKey(key) || key === windowKey) return;
  const url = new URL(location.href);
  url.searchParams.set("window", key);
  history.replaceState(null, "", url);
  loadWindow(key);
});
// The window slides every second. A hidden tab gets no animation frames, so
// it does not redraw (its live points are still bounded by each line's
// maximum) and catches up when shown.
setInterval(requestRender, 1000);
document.addEventListener("visibilitychange", requestRender);
addEventListener("online", () => live.retryNow());
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", refreshTheme);
let resizeTimer = 0;
addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (parseFloat(getComputedStyle(document.documentElement).fontSize) !== theme.fontSize) {
      refreshTheme();
    }
  }, 200);
});

/** `/api/live` as ws:// or wss://, next to the page. */
function liveUrl() {
  const url = new URL("api/live", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

/**
 * Runs `task` until it succeeds, backing off and showing why meanwhile.
 * @template T
 * @param {string} what
 * @param {(signal: AbortSignal) => Promise<T>} task
 * @param {AbortSignal} [signal]
 * @returns {Promise<T>}
 */
async function retrying(what, task, signal = new AbortController().signal) {
  for (let attempt = 0;; attempt++) {
    try {
      const result = await task(signal);
      showNotice("");
      return result;
    } catch (error) {
      if (signal.aborted) throw error;
      const delay = backoffDelay(attempt, { baseMs: 1000, maxMs: 30_000 });
      setState(attempt >= 4 ? "offline" : "reconnecting", {
        attempt: attempt + 1,
        retryAt: Date.now() + delay,
      });
      showNotice(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      await sleep(delay, signal);
      if (signal.aborted) throw error;
    }
  }
}

/**
 * Loads window `key` (history and sensors), shows it, and follows the live
 * feed from the cursor of that history. A newer call supersedes this one.
 * @param {WindowKey} key
 * @param {Promise<Awaited<ReturnType<typeof fetchWindow>> | undefined>} [prefetched]
 *   the same, already asked for (its failure means: ask again)
 */
async function loadWindow(key, prefetched) {
  loading?.abort();
  const controller = new AbortController();
  loading = controller;
  live.stop();
  ui.charts.setAttribute("aria-busy", "true");
  try {
    const loaded = await retrying("Cannot load history", async (signal) => {
      const early = await prefetched;
      prefetched = undefined;
      return early ?? await fetchWindow(key, signal);
    }, controller.signal);
    if (controller.signal.aborted) return;
    model = loaded.model;
    events = loaded.events;
    windowKey = key;
    picker.add(book.ids, theme);
    charts.setModel(model, gapOf);
    charts.setVisible(picker.visible);
    render();
    document.body.dataset["window"] = key;
    const radio = ui.windowPicker.querySelector(`input[value="${key}"]`);
    if (radio instanceof HTMLInputElement) radio.checked = true;
    live.start(loaded.cursor);
  } catch {
    // Superseded by a newer window choice.
  } finally {
    if (loading === controller) ui.charts.removeAttribute("aria-busy");
  }
}

/**
 * @param {WindowKey} key
 * @param {AbortSignal} signal
 * @returns {Promise<{model: WindowModel, events: EventLog, cursor: number}>}
 */
async function fetchWindow(key, signal) {
  const spec = WINDOWS[key];
  const now = serverNow();
  // The events list shows the window on screen (then grows live).
  const log = new EventLog(EVENTS);
  if (spec.kind === "raw") {
    const [sensors, recent, ranges] = await Promise.all([
      fetchSensors(signal),
      fetchRecent(now - spec.spanMs, { signal }),
      thresholdsReady,
    ]);
    const model = new WindowModel({ kind: "raw", spanMs: spec.spanMs }, ranges);
    for (const sensor of sensors) book.addSummary(sensor);
    // Oldest first, as they happened (the events list follows episodes).
    for (const reading of recent.readings.reverse()) addReading(model, log, reading, ranges);
    return { model, events: log, cursor: recent.cursor };
  }
  // Whole buckets from the series, laid on bucket boundaries; the bucket in
  // progress from raw readings, folded in like live ones, and the live feed
  // continues from that request's cursor. (A reading stored while these run
  // with a time before `until` — a gateway draining an old backlog at that
  // very moment — is in neither; it shows after the next reload.)
  const until = Math.floor(now / spec.bucketMs) * spec.bucketMs;
  const [series, sensors, recent, ranges] = await Promise.all([
    fetchSeries({ sinceMs: until - spec.spanMs, untilMs: until, bucketMs: spec.bucketMs }, signal),
    fetchSensors(signal),
    fetchRecent(until, { signal }),
    thresholdsReady,
  ]);
  const model = new WindowModel({
    kind: "bucket",
    spanMs: spec.spanMs,
    bucketMs: series.bucketMs,
    origin: series.sinceMs,
  }, ranges);
  for (const { id, points } of series.series) {
    for (const point of points) {
      for (const quantity of QUANTITIES) {
        model.addBucket(id, point.t, quantity, point[quantity], point.count);
        log.observeBucket(id, point.t, quantity, point[quantity], ranges, series.bucketMs);
      }
    }
  }
  for (const sensor of sensors) book.addSummary(sensor);
  for (const reading of recent.readings.reverse()) addReading(model, log, reading, ranges);
  return { model, events: log, cursor: recent.cursor };
}

/**
 * @param {WindowModel} target
 * @param {EventLog} log
 * @param {Reading} reading
 * @param {Thresholds} ranges
 */
function addReading(target, log, reading, ranges) {
  book.observe(reading);
  log.observe(reading, ranges);
  if (reading.t > newestReading) newestReading = reading.t;
  if (reading.t >= serverNow() - target.spanMs - target.bucketMs) target.addReading(reading);
}

/** @param {Reading[]} readings */
function addLive(readings) {
  if (!model) return;
  for (const reading of readings) addReading(model, events, reading, thresholds);
  picker.add(book.ids, theme);
  requestRender();
}

/**
 * Redraws at the next animation frame, but at most every
 * {@linkcode MIN_RENDER_MS}: a redraw of three charts of many sensors costs
 * tens of ms, and an operator gains nothing from more than two a second
 * (the feed pushes up to four).
 */
function requestRender() {
  if (renderQueued) return;
  renderQueued = true;
  const wait = Math.max(0, lastRender + MIN_RENDER_MS - performance.now());
  setTimeout(() =>
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
    }), wait);
}

/**
 * The longest gap a sensor's line bridges before it breaks to show an
 * outage: the silence that makes the sensor stale, but at least 1/60 of the
 * window (15 s in 15 min: a sensor that slowed down still draws a line) and
 * two and a half buckets.
 * @param {number} id
 */
function gapOf(id) {
  const span = model?.spanMs ?? 0;
  return Math.max(book.staleAfter(id), span / 60, 2.5 * (model?.bucketMs ?? 0));
}

/** Slides the window to now, drops what left it, and redraws everything. */
function render() {
  if (!model) return;
  lastRender = performance.now();
  const now = serverNow();
  model.prune(now);
  charts.setWindow(now - model.spanMs, now);
  charts.render();
  table.update(book, now, theme);
  eventList.update(events.events);
  if (liveState !== "live") showStatus(ui.status, liveState, liveDetail);
  if (Number.isFinite(newestReading)) {
    const text = `Last reading ${formatTime(newestReading)}`;
    if (ui.lastReading.textContent !== text) ui.lastReading.textContent = text;
  }
}

function refreshTheme() {
  theme = readTheme();
  charts.applyTheme(theme);
  picker.applyTheme(theme);
  table.applyTheme(theme);
}
