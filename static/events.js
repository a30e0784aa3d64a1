// @ts-check
/**
 * The out-of-range list: one item per episode (see `event_log.js`),
 * most recently active first, updated in place and written with
 * `textContent` only.
 *
 * @module
 */

import {
  formatDateTime,
  formatDuration,
  formatNumber,
  formatTime,
  formatValue,
  QUANTITY_LABELS,
} from "./format.js";
import { element } from "./panels.js";

/** @typedef {import("./event_log.js").OutOfRangeEvent} OutOfRangeEvent */

/** The latest out-of-range episodes, most recently active first. */
export class EventList {
  #list;
  #empty;
  #count;
  /** @type {Map<string, HTMLLIElement>} */
  #items = new Map();

  /**
   * @param {HTMLOListElement} list
   * @param {{empty?: HTMLElement | null, count?: HTMLElement | null}} [parts]
   */
  constructor(list, parts = {}) {
    this.#list = list;
    this.#empty = parts.empty ?? null;
    this.#count = parts.count ?? null;
  }

  /**
   * Shows `events` in their order, reusing the items already there.
   * @param {readonly OutOfRangeEvent[]} events
   */
  update(events) {
    const keys = new Set(events.map((event) => event.key));
    for (const [key, item] of this.#items) {
      if (!keys.has(key)) {
        item.remove();
        this.#items.delete(key);
      }
    }
    /** @type {Element | null} */
    let previous = null;
    for (const event of events) {
      let item = this.#items.get(event.key);
      if (!item) {
        item = element("li", `event ${event.bound}`);
        item.dataset["sensor"] = String(event.id);
        item.dataset["quantity"] = event.quantity;
        this.#items.set(event.key, item);
      }
      const signature = `${event.t}/${event.count}/${event.value}/${event.peak}`;
      if (item.dataset["signature"] !== signature) {
        item.dataset["signature"] = signature;
        item.replaceChildren(...describe(event));
      }
      /** @type {Element | null} */
      const expected = previous ? previous.nextElementSibling : this.#list.firstElementChild;
      if (expected !== item) this.#list.insertBefore(item, expected);
      previous = item;
    }
    if (this.#empty) this.#empty.hidden = events.length > 0;
    if (this.#count) this.#count.textContent = events.length > 0 ? String(events.length) : "";
  }
}

/**
 * The text of one episode: when, who, what, and why it is out of range.
 * @param {OutOfRangeEvent} event
 */
function describe(event) {
  const time = element("time", "", formatTime(event.t));
  time.dateTime = new Date(event.t).toISOString();
  time.title = formatDateTime(event.t);
  const { label, unit } = QUANTITY_LABELS[event.quantity];
  const what = element("span", "what");
  what.append(
    element("strong", "", `Sensor ${event.id}`),
    ` ${label.toLowerCase()} `,
    element("span", "value", `${formatValue(event.value)} ${unit}`),
  );
  const parts = [
    `${event.bound === "above" ? "▲ above max" : "▼ below min"} ${formatNumber(event.limit)}`,
  ];
  if (event.bucketMs) parts.push(`${formatDuration(event.bucketMs)} bucket extreme`);
  if (event.count > 1) {
    parts.push(
      `${event.count} ${event.bucketMs ? "buckets" : "readings"} since ${formatTime(event.start)}`,
    );
    parts.push(`peak ${formatValue(event.peak)}`);
  }
  return [time, what, element("span", "why", parts.join(" · "))];
}
