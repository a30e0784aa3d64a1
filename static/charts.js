// @ts-check
/**
 * The three charts (temperature, pressure, humidity), one line per sensor,
 * on Chart.js (the UMD build loaded before the modules defines the global
 * `Chart`).
 *
 * Built to stay fast for a whole shift: no animation, pre-parsed `{x, y}`
 * points (`parsing: false`) that the window model mutates in place, points
 * drawn only where a value is out of range (one "out of range" dataset of
 * triangles per chart, not per-point scriptable options), and
 * `update("none")` after each batch. The x axis is linear in epoch ms with
 * ticks on round local times (no date adapter needed). The safe ranges and
 * bucket envelopes are drawn by the plugins in `chart_plugins.js`.
 *
 * @module
 */

import { envelopePlugin, safeRangePlugin } from "./chart_plugins.js";
import { applyThemeOptions, chartOptions, MARKS } from "./chart_options.js";
import { QUANTITIES } from "./model.js";
import { lineStyle, readTheme } from "./theme.js";

/** @typedef {import("./model.js").Quantity} Quantity */
/** @typedef {import("./model.js").Point} Point */
/** @typedef {import("./model.js").Mark} Mark */
/** @typedef {import("./model.js").Thresholds} Thresholds */
/** @typedef {import("./model.js").WindowModel} WindowModel */
/** @typedef {import("chart.js").Chart<"line", (Point | Mark)[]>} LineChart */
/** @typedef {import("chart.js").ChartDataset<"line", (Point | Mark)[]>} LineDataset */
/** @typedef {import("./chart_plugins.js").ChartState} ChartState */
/** @typedef {import("./theme.js").Theme} Theme */

/** @returns {typeof import("chart.js").Chart} */
function chartClass() {
  const chart = /** @type {{Chart?: typeof import("chart.js").Chart}} */ (globalThis).Chart;
  if (!chart) {
    throw new Error("Cannot draw charts: Chart.js did not load (vendor/chart.umd.min.js)");
  }
  return chart;
}

/** The three charts, their datasets and their window. */
export class ChartSet {
  /** @type {Map<Quantity, {chart: LineChart, state: ChartState, lines: Map<number, LineDataset>, marks: LineDataset}>} */
  #charts = new Map();
  /** @type {WindowModel | undefined} */
  #model;
  /** @type {ReadonlySet<number>} */
  #visible = new Set();
  #theme;
  /** @type {(id: number) => number} */
  #gapOf = () => 0;
  #drawn = false;

  /**
   * @param {Record<Quantity, HTMLCanvasElement>} canvases
   * @param {Thresholds} thresholds
   */
  constructor(canvases, thresholds) {
    const Chart = chartClass();
    this.#theme = readTheme();
    for (const quantity of QUANTITIES) {
      /** @type {ChartState} */
      const state = {
        quantity,
        range: thresholds[quantity],
        theme: this.#theme,
        stepMs: 60_000,
        bucketMs: 0,
      };
      /** @type {LineDataset} */
      const marks = {
        label: MARKS,
        data: [],
        showLine: false,
        pointStyle: "triangle",
        pointRadius: 4.5,
        pointHoverRadius: 6,
        pointBorderWidth: 1,
        // Drawn before (under) the lines, which stay readable through them.
        order: 1,
      };
      const chart = new Chart(canvases[quantity], {
        type: "line",
        data: { datasets: [marks] },
        options: chartOptions(state),
        plugins: [safeRangePlugin(state), envelopePlugin(state, MARKS)],
      });
      this.#charts.set(quantity, { chart, state, lines: new Map(), marks });
    }
    this.applyTheme(this.#theme);
  }

  /**
   * Shows `model`'s tracks (replacing the previous window's lines).
   * @param {WindowModel} model
   * @param {(id: number) => number} gapOf longest gap (ms) a sensor's line bridges
   */
  setModel(model, gapOf) {
    this.#model = model;
    this.#gapOf = gapOf;
    for (const [quantity, entry] of this.#charts) {
      entry.lines.clear();
      entry.chart.data.datasets = [entry.marks];
      entry.state.bucketMs = model.kind === "bucket" ? model.bucketMs : 0;
      for (const id of [...model.tracks.keys()].sort((a, b) => a - b)) {
        this.#addLine(quantity, id);
      }
    }
  }

  /**
   * Which sensors' lines are drawn.
   * @param {ReadonlySet<number>} ids
   */
  setVisible(ids) {
    this.#visible = ids;
    for (const entry of this.#charts.values()) {
      for (const [id, dataset] of entry.lines) dataset.hidden = !ids.has(id);
    }
  }

  /**
   * The x range, epoch ms.
   * @param {number} min
   * @param {number} max
   */
  setWindow(min, max) {
    for (const { chart } of this.#charts.values()) {
      const x = chart.options.scales?.["x"];
      if (x) Object.assign(x, { min, max });
    }
  }

  /**
   * Redraws with the model's current points (new tracks get a line).
   * `"none"` (the default) only moves points; changed colours and fonts
   * need `"default"`, which re-resolves every element's options.
   * @param {"none" | "default"} [mode]
   */
  render(mode = "none") {
    const model = this.#model;
    if (!model) return;
    if (!this.#drawn) mode = "default";
    this.#drawn = true;
    for (const [quantity, entry] of this.#charts) {
      for (const id of model.tracks.keys()) {
        if (!entry.lines.has(id)) this.#addLine(quantity, id);
      }
      // One triangle per few pixels of a sensor's line is enough to see
      // where it was out of range; a sensor stuck out of range would
      // otherwise carpet the chart (and cost a draw per reading).
      const x = entry.chart.options.scales?.["x"];
      const span = Number(x?.max ?? 0) - Number(x?.min ?? 0);
      const minGap = span > 0 ? (span / (entry.chart.chartArea?.width || 800)) * 8 : 0;
      /** @type {Mark[]} */
      const marks = [];
      for (const [id, track] of model.tracks) {
        if (!this.#visible.has(id)) continue;
        /** @type {Mark | undefined} */
        let kept;
        for (const mark of track.marks[quantity]) {
          if (kept && mark.x - kept.x < minGap && mark.bound === kept.bound) continue;
          marks.push(mark);
          kept = mark;
        }
      }
      entry.marks.data = marks.sort((a, b) => a.x - b.x);
      entry.chart.update(mode);
    }
  }

  /**
   * Re-reads colours and font size (colour scheme or screen size changed).
   * @param {Theme} [theme]
   */
  applyTheme(theme = readTheme()) {
    this.#theme = theme;
    for (const entry of this.#charts.values()) {
      entry.state.theme = theme;
      const { chart, marks } = entry;
      applyThemeOptions(chart, theme);
      marks.pointBackgroundColor = theme.alarm;
      marks.pointBorderColor = theme.alarm;
      marks.borderColor = theme.alarm;
      marks.backgroundColor = theme.alarm;
      for (const [id, dataset] of entry.lines) Object.assign(dataset, lineStyle(id, theme));
    }
    this.render("default");
  }

  /**
   * The chart of `quantity` (for tests and the page's accessibility text).
   * @param {Quantity} quantity
   */
  chart(quantity) {
    return this.#charts.get(quantity)?.chart;
  }

  /**
   * @param {Quantity} quantity
   * @param {number} id
   */
  #addLine(quantity, id) {
    const entry = this.#charts.get(quantity);
    const track = this.#model?.tracks.get(id);
    if (!entry || !track) return;
    /** @type {LineDataset} */
    const dataset = {
      label: `Sensor ${id}`,
      data: track.points[quantity],
      hidden: !this.#visible.has(id),
      spanGaps: this.#gapOf(id),
      normalized: true,
      pointRadius: 0,
      pointHoverRadius: 4,
      pointHitRadius: 4,
      tension: 0,
      ...lineStyle(id, this.#theme),
    };
    entry.lines.set(id, dataset);
    entry.chart.data.datasets.push(dataset);
  }
}
