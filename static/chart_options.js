// @ts-check
/**
 * The Chart.js options of the three charts: a linear time axis with ticks
 * on round local times, the tooltips' text, and the theme's colours and
 * fonts applied to a chart.
 *
 * @module
 */

import {
  formatDuration,
  formatNumber,
  formatTime,
  formatValue,
  QUANTITY_LABELS,
  timeTicks,
} from "./format.js";

/** @typedef {import("./model.js").Point} Point */
/** @typedef {import("./model.js").Mark} Mark */
/** @typedef {import("./theme.js").Theme} Theme */
/** @typedef {import("./chart_plugins.js").ChartState} ChartState */
/** @typedef {import("chart.js").Chart<"line", (Point | Mark)[]>} LineChart */

/** Label of the out-of-range dataset (one per chart). */
export const MARKS = "Out of range";

/**
 * @param {ChartState} state
 * @returns {import("chart.js").ChartOptions<"line">}
 */
export function chartOptions(state) {
  const { label, unit } = QUANTITY_LABELS[state.quantity];
  return {
    animation: false,
    parsing: false,
    normalized: true,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "nearest", intersect: false, axis: "xy" },
    scales: {
      x: {
        type: "linear",
        title: { display: true, text: "Local time" },
        ticks: {
          maxRotation: 0,
          autoSkip: false,
          callback: (value) => formatTime(Number(value), state.stepMs < 60_000),
        },
        afterBuildTicks(scale) {
          const maxTicks = Math.floor(scale.width / (state.theme.fontSize * 5.5));
          const { ticks, stepMs } = timeTicks(scale.min, scale.max, maxTicks);
          state.stepMs = stepMs;
          scale.ticks = ticks.map((value) => ({ value }));
        },
      },
      y: {
        type: "linear",
        grace: "8%",
        title: { display: true, text: `${label} (${unit})` },
        ticks: { callback: (value) => formatNumber(Number(value)) },
        afterFit(scale) {
          // The same width on the three charts lines their time axes up.
          scale.width = Math.max(scale.width, state.theme.fontSize * 5);
        },
      },
    },
    plugins: {
      legend: { display: false },
      // Colours come from the theme; Chart.js's automatic palette would
      // recolour the datasets created before the theme is applied.
      colors: { enabled: false },
      decimation: { enabled: false },
      tooltip: {
        callbacks: {
          title(items) {
            const x = items[0]?.parsed.x;
            if (x === undefined || x === null) return "";
            return state.bucketMs > 0
              ? `${formatTime(x)} (${formatDuration(state.bucketMs)} bucket)`
              : formatTime(x);
          },
          label(item) {
            const raw = /** @type {Point & Partial<Mark>} */ (item.raw);
            if (item.dataset.label === MARKS) {
              const limit = raw.bound === "above" ? "max" : "min";
              return `Sensor ${raw.id}: ${formatValue(raw.y)} ${unit}, ${raw.bound} ${limit} ${
                formatNumber(raw.limit ?? 0)
              }`;
            }
            if (raw.min !== undefined && raw.max !== undefined) {
              return `${item.dataset.label}: avg ${formatValue(raw.y)} ${unit} (${
                formatValue(raw.min)
              } – ${formatValue(raw.max)})`;
            }
            return `${item.dataset.label}: ${formatValue(raw.y)} ${unit}`;
          },
        },
      },
    },
  };
}

/**
 * @param {LineChart} chart
 * @param {Theme} theme
 */
export function applyThemeOptions(chart, theme) {
  const options = chart.options;
  const font = { family: theme.font, size: Math.round(theme.fontSize * 0.8) };
  options.color = theme.muted;
  options.font = font;
  for (const axis of ["x", "y"]) {
    const scale = options.scales?.[axis];
    if (!scale) continue;
    Object.assign(scale.ticks ?? {}, { color: theme.muted, font });
    Object.assign(scale.grid ?? {}, { color: theme.grid });
    Object.assign(scale.border ?? {}, { color: theme.grid });
    if ("title" in scale) Object.assign(scale.title, { color: theme.text, font });
  }
  const tooltip = options.plugins?.tooltip;
  if (tooltip) {
    Object.assign(tooltip, {
      backgroundColor: theme.surface,
      titleColor: theme.text,
      bodyColor: theme.text,
      borderColor: theme.grid,
      borderWidth: 1,
      titleFont: font,
      bodyFont: font,
    });
  }
}
