// @ts-check
/**
 * The page's entry point: finds the dashboard's elements, reads the view
 * from the URL (`?window=15m|1h|24h` picks the window, `?sensors=1,2,3` the
 * lines shown, so a wall screen's URL keeps its view), starts
 * {@linkcode createDashboard} with the real API, and wires the browser's
 * events to it.
 *
 * @module
 */

import * as api from "./api.js";
import { createDashboard } from "./dashboard.js";
import { QUANTITIES } from "./model.js";
import { isWindowKey } from "./windows.js";
import { onTokenNeeded } from "./token.js";
import { tokenPrompt } from "./token_dialog.js";

/** @typedef {import("./model.js").Quantity} Quantity */

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

/** `/api/live` as ws:// or wss://, next to the page. */
function liveUrl() {
  const url = new URL("api/live", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

/**
 * Keeps the view in the URL without adding history entries.
 * @param {string} name
 * @param {string} value
 */
function setParam(name, value) {
  const url = new URL(location.href);
  url.searchParams.set(name, value);
  history.replaceState(null, "", url);
}

onTokenNeeded(tokenPrompt(find("#token-dialog")));

const params = new URLSearchParams(location.search);
const chosen = params.get("sensors")?.split(",").map(Number).filter(Number.isSafeInteger);
const initialWindow = params.get("window");
const windowPicker = /** @type {HTMLFormElement} */ (find("#window-picker"));

const dashboard = createDashboard(
  {
    body: document.body,
    status: find("#status"),
    notice: find("#notice"),
    lastReading: find("#last-reading"),
    charts: find("#charts"),
    windowPicker,
    picker: find("#sensor-picker"),
    sensors: find("#sensors tbody"),
    events: find("#events"),
    eventsEmpty: document.querySelector("#events-empty"),
    eventsCount: document.querySelector("#events-count"),
    canvases: /** @type {Record<Quantity, HTMLCanvasElement>} */ (Object.fromEntries(
      QUANTITIES.map((quantity) => [quantity, find(`#chart-${quantity} canvas`)]),
    )),
    captions: Object.fromEntries(
      QUANTITIES.map((quantity) => [quantity, document.querySelector(`#chart-${quantity} .safe`)])
        .filter(([, caption]) => caption !== null),
    ),
  },
  { ...api, liveUrl: liveUrl() },
  {
    window: isWindowKey(initialWindow) ? initialWindow : "15m",
    ...(chosen ? { sensors: new Set(chosen) } : {}),
    onView(change) {
      if (change.window) setParam("window", change.window);
      if (change.sensors) setParam("sensors", change.sensors.join(","));
    },
  },
);

windowPicker.addEventListener("change", () => {
  const key = new FormData(windowPicker).get("window");
  if (isWindowKey(key)) dashboard.setWindow(key);
});
// The window slides every second. A hidden tab gets no animation frames, so
// it does not redraw (its live points are still bounded by each line's
// maximum) and catches up when shown.
setInterval(dashboard.requestRender, 1000);
document.addEventListener("visibilitychange", dashboard.requestRender);
addEventListener("online", dashboard.retryNow);
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", dashboard.refreshTheme);
let resizeTimer = 0;
addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    const fontSize = parseFloat(getComputedStyle(document.documentElement).fontSize);
    if (fontSize !== dashboard.state.theme.fontSize) dashboard.refreshTheme();
  }, 200);
});
dashboard.start();
