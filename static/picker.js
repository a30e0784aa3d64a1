// @ts-check
/**
 * The sensor picker: a toggle per sensor above the charts, which doubles as
 * the charts' legend (each shows the sensor's colour and dash). Written
 * with `textContent` only, like every panel.
 *
 * @module
 */

import { element, swatch } from "./panels.js";

/** @typedef {import("./theme.js").Theme} Theme */

/**
 * The row of sensor toggles above the charts; the legend of every chart.
 * With more than `defaultVisible` sensors only the first ones start shown.
 */
export class SensorPicker {
  #root;
  #list;
  #count;
  #onChange;
  /** @type {Map<number, HTMLButtonElement>} */
  #buttons = new Map();
  /** @type {Set<number>} */
  #visible = new Set();
  #defaultVisible;
  /** @type {Set<number> | undefined} ids chosen in the URL, kept as chosen */
  #chosen;

  /**
   * @param {HTMLElement} root
   * @param {{onChange: (visible: ReadonlySet<number>) => void, defaultVisible?: number, chosen?: Set<number>}} options
   */
  constructor(root, options) {
    this.#root = root;
    this.#onChange = options.onChange;
    this.#defaultVisible = options.defaultVisible ?? 24;
    this.#chosen = options.chosen;
    this.#list = root.querySelector(".picker-list") ?? root;
    this.#count = root.querySelector(".picker-count");
    root.querySelector("[data-pick=all]")?.addEventListener("click", () => {
      this.#setAll(true);
    });
    root.querySelector("[data-pick=none]")?.addEventListener("click", () => {
      this.#setAll(false);
    });
  }

  /** Sensors drawn on the charts. */
  get visible() {
    return /** @type {ReadonlySet<number>} */ (this.#visible);
  }

  /**
   * Adds toggles for sensors not seen before (in id order).
   * @param {readonly number[]} ids
   * @param {Theme} theme
   */
  add(ids, theme) {
    let added = false;
    for (const id of ids) {
      if (this.#buttons.has(id)) continue;
      added = true;
      const shown = this.#chosen ? this.#chosen.has(id) : this.#visible.size < this.#defaultVisible;
      if (shown) this.#visible.add(id);
      const button = element("button", "pick");
      button.type = "button";
      button.dataset["sensor"] = String(id);
      button.setAttribute("aria-pressed", String(shown));
      button.append(swatch(id, theme), element("span", "", `Sensor ${id}`));
      button.addEventListener("click", () => {
        this.#toggle(id, !this.#visible.has(id));
        this.#onChange(this.#visible);
      });
      const next = [...this.#buttons.keys()].filter((other) => other > id).sort((a, b) => a - b)[0];
      this.#list.insertBefore(button, next === undefined ? null : this.#buttons.get(next) ?? null);
      this.#buttons.set(id, button);
    }
    if (added) this.#updateCount();
    return added;
  }

  /**
   * Redraws the swatches (colour scheme changed).
   * @param {Theme} theme
   */
  applyTheme(theme) {
    for (const [id, button] of this.#buttons) {
      button.querySelector("svg")?.replaceWith(swatch(id, theme));
    }
  }

  /** @param {boolean} shown */
  #setAll(shown) {
    for (const id of this.#buttons.keys()) this.#toggle(id, shown);
    this.#onChange(this.#visible);
  }

  /**
   * @param {number} id
   * @param {boolean} shown
   */
  #toggle(id, shown) {
    if (shown) this.#visible.add(id);
    else this.#visible.delete(id);
    this.#chosen = new Set(this.#visible);
    this.#buttons.get(id)?.setAttribute("aria-pressed", String(shown));
    this.#updateCount();
  }

  #updateCount() {
    this.#root.dataset["many"] = String(this.#buttons.size > this.#defaultVisible);
    if (this.#count) {
      this.#count.textContent = `${this.#visible.size} of ${this.#buttons.size} shown`;
    }
  }
}
