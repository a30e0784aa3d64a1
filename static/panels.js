// @ts-check
/**
 * The page's text parts: the connection status and the sensors table (the
 * sensor picker is in `picker.js`, the out-of-range list in `events.js`).
 *
 * Everything coming from the server is written with `textContent` (never
 * `innerHTML`), so a reading can never carry markup or script into the page,
 * and rows are updated in place rather than rebuilt, so a wall screen left
 * open all shift does not churn the DOM.
 *
 * @module
 */

import { styleOf } from "./theme.js";
import {
  formatAgo,
  formatDateTime,
  formatDuration,
  formatNumber,
  formatValue,
  QUANTITY_LABELS,
} from "./format.js";
import { judge, QUANTITIES } from "./model.js";

/** @typedef {import("./model.js").Thresholds} Thresholds */
/** @typedef {import("./model.js").Quantity} Quantity */
/** @typedef {import("./sensors.js").SensorBook} SensorBook */
/** @typedef {import("./live.js").LiveState} LiveState */
/** @typedef {import("./theme.js").Theme} Theme */

const SVG = "http://www.w3.org/2000/svg";

/**
 * Creates an element with a class and text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A short line in the sensor's colour and dash, as drawn on the charts.
 * @param {number} id
 * @param {Theme} theme
 */
export function swatch(id, theme) {
  const { color, dash } = styleOf(id, theme);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "swatch");
  svg.setAttribute("viewBox", "0 0 28 8");
  svg.setAttribute("aria-hidden", "true");
  const line = document.createElementNS(SVG, "line");
  for (const [name, value] of Object.entries({ x1: 1, y1: 4, x2: 27, y2: 4 })) {
    line.setAttribute(name, String(value));
  }
  line.setAttribute("stroke", color);
  line.setAttribute("stroke-width", "3");
  if (dash.length > 0) line.setAttribute("stroke-dasharray", dash.map((n) => n / 2).join(" "));
  svg.append(line);
  return svg;
}

/**
 * Writes each chart's safe range under it (`safe -40 to 85 °C`).
 * @param {Partial<Record<Quantity, Element>>} captions
 * @param {Thresholds} thresholds
 */
export function showSafeRanges(captions, thresholds) {
  for (const quantity of QUANTITIES) {
    const range = thresholds[quantity];
    const caption = captions[quantity];
    if (caption) {
      caption.textContent = `safe ${formatNumber(range.min)} to ${formatNumber(range.max)} ${
        QUANTITY_LABELS[quantity].unit
      }`;
    }
  }
}

/** Words shown for each connection state. */
const STATE_TEXT = /** @type {const} */ ({
  connecting: "Connecting",
  live: "Live",
  reconnecting: "Reconnecting",
  offline: "Offline",
});

/**
 * Shows the connection state in the `role="status"` element.
 * @param {HTMLElement} root
 * @param {LiveState} state
 * @param {{attempt: number, retryAt: number}} detail
 */
export function showStatus(root, state, detail) {
  root.dataset["state"] = state;
  const label = root.querySelector(".status-text");
  const hint = root.querySelector(".status-detail");
  if (label) label.textContent = STATE_TEXT[state];
  if (!hint) return;
  if (state === "live") hint.textContent = "";
  else if (state === "connecting") hint.textContent = "…";
  else {
    const seconds = Math.max(0, Math.ceil((detail.retryAt - Date.now()) / 1000));
    hint.textContent = detail.retryAt > 0
      ? ` · attempt ${detail.attempt}, next in ${seconds} s`
      : ` · attempt ${detail.attempt}`;
  }
}

/** What a cell shows for a value not measured (or not yet read). */
export const ABSENT = "—";

/** The sensors table: last values, last seen, ok / stale / out of range. */
export class SensorTable {
  #body;
  #thresholds;
  /** @type {Map<number, {row: HTMLTableRowElement, cells: HTMLTableCellElement[], time: HTMLTimeElement}>} */
  #rows = new Map();

  /**
   * @param {HTMLTableSectionElement} body
   * @param {Thresholds} thresholds
   */
  constructor(body, thresholds) {
    this.#body = body;
    this.#thresholds = thresholds;
  }

  /**
   * Brings every row up to date (call when readings arrive and every second).
   * @param {SensorBook} book
   * @param {number} now
   * @param {Theme} theme
   */
  update(book, now, theme) {
    for (const id of book.ids) {
      const state = book.get(id);
      if (!state) continue;
      const entry = this.#rows.get(id) ?? this.#addRow(id, theme);
      const [, ...cells] = entry.cells;
      let alarm = false;
      for (const [i, quantity] of QUANTITIES.entries()) {
        const cell = cells[i];
        if (!cell) continue;
        // `null`: the sensor does not measure it; undefined: no reading yet.
        const value = state.last?.[quantity] ?? undefined;
        const bound = value === undefined ? undefined : judge(value, this.#thresholds[quantity]);
        alarm ||= bound !== undefined;
        const arrow = bound === "above" ? " ▲" : bound === "below" ? " ▼" : "";
        setText(cell, value === undefined ? ABSENT : formatValue(value) + arrow);
        cell.classList.toggle("alarm", bound !== undefined);
      }
      const stale = book.isStale(id, now);
      setText(
        entry.time,
        Number.isFinite(state.lastSeen) ? formatAgo(state.lastSeen, now) : "never",
      );
      if (Number.isFinite(state.lastSeen)) {
        const iso = new Date(state.lastSeen).toISOString();
        if (entry.time.dateTime !== iso) {
          entry.time.dateTime = iso;
          entry.time.title = `${formatDateTime(state.lastSeen)} · stale after ${
            formatDuration(Math.round(book.staleAfter(id) / 1000) * 1000)
          } of silence`;
        }
      }
      const condition = stale ? "stale" : alarm ? "alarm" : "ok";
      const stateCell = entry.cells[5];
      if (stateCell && entry.row.dataset["state"] !== condition) {
        entry.row.dataset["state"] = condition;
        stateCell.textContent = condition;
        stateCell.title = {
          ok: "Reporting, every value in range",
          alarm: "A value out of its safe range",
          stale: "Silent for 3 of its intervals",
        }[condition];
      }
    }
  }

  /**
   * Redraws the swatches (colour scheme changed).
   * @param {Theme} theme
   */
  applyTheme(theme) {
    for (const [id, { cells }] of this.#rows) {
      cells[0]?.querySelector("svg")?.replaceWith(swatch(id, theme));
    }
  }

  /**
   * @param {number} id
   * @param {Theme} theme
   */
  #addRow(id, theme) {
    const row = element("tr");
    row.dataset["sensor"] = String(id);
    const name = element("th", "sensor-name");
    name.scope = "row";
    name.append(swatch(id, theme), element("span", "", String(id)));
    const cells = [name];
    for (const quantity of QUANTITIES) {
      const cell = element("td", "num");
      cell.dataset["quantity"] = quantity;
      cells.push(cell);
    }
    const seen = element("td", "seen");
    const time = element("time");
    seen.append(time);
    cells.push(seen, element("td", "condition"));
    row.append(...cells);
    const next = [...this.#rows.keys()].filter((other) => other > id).sort((a, b) => a - b)[0];
    this.#body.insertBefore(row, next === undefined ? null : this.#rows.get(next)?.row ?? null);
    const entry = { row, cells: /** @type {HTMLTableCellElement[]} */ (cells), time };
    this.#rows.set(id, entry);
    return entry;
  }
}

/**
 * Sets text only when it changed (keeps layout and screen readers quiet).
 * @param {Node} node
 * @param {string} text
 */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
