// @ts-check
/**
 * The dashboard: loads the thresholds, the sensors and the window's history,
 * draws them, then follows `/api/live` and keeps the charts, the sensors
 * table and the events list current. {@linkcode createDashboard} takes the
 * page's elements and the API, so nothing here reads globals such as
 * `location`; `app.js` wires it to the page. Everything that changes while
 * the page is open lives in one {@linkcode DashboardState}.
 *
 * "Now" is the server's clock (`api.serverNow`), not this computer's, which
 * on a plant screen may be minutes off.
 *
 * Over 300 lines on purpose: `createDashboard` is one closure over one
 * state, the page's whole flow (load, follow, switch window, redraw) in
 * the order it happens; the parts it calls are modules of their own. A
 * third of the file is JSDoc, the page's types.
 *
 * @module
 */

import { ChartSet } from "./charts.js";
import { formatTime } from "./format.js";
import { LiveFeed } from "./live.js";
import { EventList } from "./events.js";
import { SensorTable, showSafeRanges, showStatus } from "./panels.js";
import { SensorPicker } from "./picker.js";
import { readTheme } from "./theme.js";
import { retry } from "./shared/backoff.js";
import { EventLog } from "./event_log.js";
import { SensorBook } from "./sensors.js";
import { addReadings, EVENTS, loadWindow, longestGap } from "./windows.js";

/** @typedef {import("./model.js").Reading} Reading */
/** @typedef {import("./model.js").Quantity} Quantity */
/** @typedef {import("./model.js").WindowModel} WindowModel */
/** @typedef {import("./model.js").Thresholds} Thresholds */
/** @typedef {import("./live.js").LiveState} LiveState */
/** @typedef {import("./theme.js").Theme} Theme */
/** @typedef {import("./windows.js").WindowKey} WindowKey */
/** @typedef {import("./windows.js").LoadedWindow} LoadedWindow */

/** Least time between two redraws, in ms. */
const MIN_RENDER_MS = 500;

/**
 * The page's elements the dashboard fills in.
 * @typedef {{
 *   body: HTMLElement, status: HTMLElement, notice: HTMLElement, lastReading: HTMLElement, charts: HTMLElement,
 *   windowPicker: HTMLFormElement, picker: HTMLElement, sensors: HTMLTableSectionElement,
 *   events: HTMLOListElement, eventsEmpty: HTMLElement | null, eventsCount: HTMLElement | null,
 *   canvases: Record<Quantity, HTMLCanvasElement>, captions: Partial<Record<Quantity, Element>>,
 * }} DashboardUi
 */

/**
 * The API calls and clock the dashboard uses (`api.js` has the real ones),
 * and where the live feed is.
 * @typedef {Pick<typeof import("./api.js"),
 *   "fetchThresholds" | "fetchSensors" | "fetchRecent" | "fetchSeries" | "fetchAfter" |
 *   "fetchCursor" | "parseReading" | "serverNow">
 *   & {liveUrl: string | URL}} DashboardApi
 */

/**
 * What the page starts with, and how it reports the operator's change of
 * window or of sensors shown (the page keeps them in its URL).
 * @typedef {{
 *   window: WindowKey, sensors?: ReadonlySet<number>,
 *   onView?: (change: {window?: WindowKey, sensors?: readonly number[]}) => void,
 * }} DashboardOptions
 */

/**
 * Everything that changes while the page is open; `parts` are the page's
 * components, made once the safe ranges are known.
 * @typedef {{
 *   parts: {charts: ChartSet, table: SensorTable, picker: SensorPicker, thresholds: Thresholds} | undefined,
 *   book: SensorBook, events: EventLog, theme: Theme,
 *   live: {state: LiveState, detail: {attempt: number, retryAt: number}},
 *   window: WindowKey, model: WindowModel | undefined, loading: AbortController | undefined,
 *   renderQueued: boolean, lastRender: number, newestReading: number,
 * }} DashboardState
 */

/**
 * Creates the dashboard on `ui`. Nothing is fetched until `start()`, which
 * resolves after the first full render (and marks it with
 * `data-ready="true"` on `ui.body`, what the browser tests wait for;
 * `data-window` there names the window on screen).
 * @param {DashboardUi} ui
 * @param {DashboardApi} api
 * @param {DashboardOptions} options
 */
export function createDashboard(ui, api, options) {
  /** @type {DashboardState} */
  const state = {
    parts: undefined,
    book: new SensorBook(),
    events: new EventLog(EVENTS),
    theme: readTheme(),
    live: { state: "connecting", detail: { attempt: 0, retryAt: 0 } },
    window: options.window,
    model: undefined,
    loading: undefined,
    renderQueued: false,
    lastRender: -Infinity,
    newestReading: -Infinity,
  };
  const eventList = new EventList(ui.events, { empty: ui.eventsEmpty, count: ui.eventsCount });
  const live = new LiveFeed({
    url: api.liveUrl,
    fetchAfter: api.fetchAfter,
    fetchCursor: api.fetchCursor,
    parse: api.parseReading,
    onReadings: addLive,
    onState: setLiveState,
  });

  /**
   * @param {LiveState} liveState
   * @param {{attempt: number, retryAt: number}} detail
   */
  function setLiveState(liveState, detail) {
    state.live = { state: liveState, detail };
    showStatus(ui.status, liveState, detail);
  }

  /** @param {string} text */
  function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = text === "";
  }

  /**
   * Runs `task` until it succeeds, backing off and showing why meanwhile.
   * @template T
   * @param {string} what
   * @param {(signal: AbortSignal) => Promise<T>} task
   * @param {AbortSignal} [signal]
   * @returns {Promise<T>}
   */
  async function retrying(what, task, signal) {
    const result = await retry(task, {
      baseMs: 1000,
      maxMs: 30_000,
      ...(signal ? { signal } : {}),
      onRetry(error, attempt, delayMs) {
        setLiveState(attempt > 4 ? "offline" : "reconnecting", {
          attempt,
          retryAt: Date.now() + delayMs,
        });
        showNotice(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      },
    });
    showNotice("");
    return result;
  }

  /**
   * Shows window `key` (history and sensors) and follows the live feed from
   * the cursor of that history. A newer call supersedes this one.
   * @param {WindowKey} key
   * @param {Promise<LoadedWindow | undefined>} [prefetched] the same, already
   *   asked for (its failure means: ask again)
   */
  async function showWindow(key, prefetched) {
    if (!state.parts) return;
    const { charts, picker, thresholds } = state.parts;
    state.loading?.abort();
    const controller = new AbortController();
    state.loading = controller;
    live.stop();
    ui.charts.setAttribute("aria-busy", "true");
    try {
      const loaded = await retrying("Cannot load history", async (signal) => {
        const early = await prefetched;
        prefetched = undefined;
        return early ?? await loadWindow(key, { api, book: state.book, thresholds }, signal);
      }, controller.signal);
      if (controller.signal.aborted) return;
      state.model = loaded.model;
      state.events = loaded.events;
      state.newestReading = Math.max(state.newestReading, loaded.newest);
      state.window = key;
      picker.add(state.book.ids, state.theme);
      charts.setModel(loaded.model, (id) => longestGap(loaded.model, state.book, id));
      charts.setVisible(picker.visible);
      render();
      ui.body.dataset["window"] = key;
      const radio = ui.windowPicker.querySelector(`input[value="${key}"]`);
      if (radio instanceof HTMLInputElement) radio.checked = true;
      live.start(loaded.cursor);
    } catch {
      // Superseded by a newer window choice.
    } finally {
      if (state.loading === controller) ui.charts.removeAttribute("aria-busy");
    }
  }

  /** @param {Reading[]} readings */
  function addLive(readings) {
    const parts = state.parts;
    if (!state.model || !parts) return;
    const newest = addReadings(readings, {
      model: state.model,
      events: state.events,
      book: state.book,
      ranges: parts.thresholds,
      now: api.serverNow(),
    });
    state.newestReading = Math.max(state.newestReading, newest);
    parts.picker.add(state.book.ids, state.theme);
    requestRender();
  }

  /**
   * Redraws at the next animation frame, but at most every
   * {@linkcode MIN_RENDER_MS}: a redraw of three charts of many sensors
   * costs tens of ms, and an operator gains nothing from more than two a
   * second (the feed pushes up to four).
   */
  function requestRender() {
    if (state.renderQueued) return;
    state.renderQueued = true;
    const wait = Math.max(0, state.lastRender + MIN_RENDER_MS - performance.now());
    setTimeout(() =>
      requestAnimationFrame(() => {
        state.renderQueued = false;
        render();
      }), wait);
  }

  /** Slides the window to now, drops what left it, and redraws everything. */
  function render() {
    const { model, parts } = state;
    if (!model || !parts) return;
    state.lastRender = performance.now();
    const now = api.serverNow();
    model.prune(now);
    parts.charts.setWindow(now - model.spanMs, now);
    parts.charts.render();
    parts.table.update(state.book, now, state.theme);
    eventList.update(state.events.events);
    if (state.live.state !== "live") showStatus(ui.status, state.live.state, state.live.detail);
    if (Number.isFinite(state.newestReading)) {
      const text = `Last reading ${formatTime(state.newestReading)}`;
      if (ui.lastReading.textContent !== text) ui.lastReading.textContent = text;
    }
  }

  return {
    state: /** @type {Readonly<DashboardState>} */ (state),

    /** Loads and draws the first window, then follows the live feed. */
    async start() {
      const thresholdsReady = retrying(
        "Cannot load thresholds",
        (signal) => api.fetchThresholds(signal),
      );
      // The first window's history is asked for at the same time as the ranges.
      const key = state.window;
      const first = loadWindow(key, {
        api,
        book: state.book,
        thresholds: thresholdsReady,
      }, new AbortController().signal).catch(() => undefined);
      const thresholds = await thresholdsReady;
      const picker = new SensorPicker(ui.picker, {
        onChange(visible) {
          state.parts?.charts.setVisible(visible);
          options.onView?.({ sensors: [...visible].sort((a, b) => a - b) });
          render();
        },
        ...(options.sensors ? { chosen: new Set(options.sensors) } : {}),
      });
      state.parts = {
        charts: new ChartSet(ui.canvases, thresholds),
        table: new SensorTable(ui.sensors, thresholds),
        picker,
        thresholds,
      };
      showSafeRanges(ui.captions, thresholds);
      await showWindow(key, first);
      ui.body.dataset["ready"] = "true";
    },

    /**
     * Switches to window `key` (a no-op when it is on screen, or before
     * `start()` has the safe ranges).
     * @param {WindowKey} key
     */
    async setWindow(key) {
      if (!state.parts || key === state.window) return;
      state.window = key;
      options.onView?.({ window: key });
      await showWindow(key);
    },

    requestRender,
    /** Skips the live feed's wait before its next attempt (the network is back). */
    retryNow: () => live.retryNow(),

    /** Re-reads colours and font size (colour scheme or screen size changed). */
    refreshTheme() {
      state.theme = readTheme();
      state.parts?.charts.applyTheme(state.theme);
      state.parts?.picker.applyTheme(state.theme);
      state.parts?.table.applyTheme(state.theme);
    },
  };
}
