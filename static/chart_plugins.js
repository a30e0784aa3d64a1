// @ts-check
/**
 * Two tiny inline Chart.js plugins (no annotation plugin dependency): the
 * safe range (the area outside [min, max] tinted, the limits dashed and
 * labelled) and, in bucket windows with few lines, each line's min..max
 * envelope. Both draw under the datasets and read a per-chart state object
 * the chart set keeps current (theme, range, bucket width).
 *
 * @module
 */

import { formatNumber } from "./format.js";

/** @typedef {import("./model.js").Quantity} Quantity */
/** @typedef {import("./model.js").Point} Point */
/** @typedef {import("./theme.js").Theme} Theme */
/** @typedef {import("chart.js").Plugin<"line">} LinePlugin */

/** Above this many visible lines, bucket envelopes would be mud: not drawn. */
const MAX_ENVELOPES = 6;

/**
 * Per-chart state the plugins and callbacks read.
 * @typedef {{
 *   quantity: Quantity, range: {min: number, max: number} | undefined,
 *   theme: Theme, stepMs: number, bucketMs: number
 * }} ChartState
 */

/**
 * `#rrggbb` with an alpha, as `rgba()`; other colours are returned as they are.
 * @param {string} color
 * @param {number} alpha
 */
function withAlpha(color, alpha) {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!match) return color;
  const [r, g, b] = match.slice(1).map((hex) => parseInt(hex, 16));
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/**
 * Tints the area outside the safe range and dashes its limits.
 * @param {ChartState} state
 * @returns {LinePlugin}
 */
export function safeRangePlugin(state) {
  return {
    id: "vigiaSafeRange",
    beforeDatasetsDraw(chart) {
      const { ctx, chartArea: area, scales: { y } } = chart;
      const range = state.range;
      if (!y || !range) return;
      const top = y.getPixelForValue(range.max);
      const bottom = y.getPixelForValue(range.min);
      ctx.save();
      ctx.beginPath();
      ctx.rect(area.left, area.top, area.width, area.height);
      ctx.clip();
      ctx.fillStyle = state.theme.band;
      if (top > area.top) ctx.fillRect(area.left, area.top, area.width, top - area.top);
      if (bottom < area.bottom) ctx.fillRect(area.left, bottom, area.width, area.bottom - bottom);
      ctx.strokeStyle = state.theme.limit;
      ctx.fillStyle = state.theme.limit;
      ctx.lineWidth = 1;
      ctx.setLineDash([6, 4]);
      ctx.font = `${Math.round(state.theme.fontSize * 0.75)}px ${state.theme.font}`;
      ctx.textAlign = "right";
      for (
        const [pixel, text, below] of /** @type {const} */ ([
          [top, `max ${formatNumber(range.max)}`, true],
          [bottom, `min ${formatNumber(range.min)}`, false],
        ])
      ) {
        if (pixel < area.top || pixel > area.bottom) continue;
        ctx.beginPath();
        ctx.moveTo(area.left, pixel);
        ctx.lineTo(area.right, pixel);
        ctx.stroke();
        ctx.textBaseline = below ? "top" : "bottom";
        ctx.fillText(text, area.right - 4, pixel + (below ? 3 : -3));
      }
      ctx.restore();
    },
  };
}

/**
 * Fills each visible line's min..max envelope (bucket windows, few lines).
 * @param {ChartState} state
 * @param {string} marksLabel the out-of-range dataset, which has no envelope
 * @returns {LinePlugin}
 */
export function envelopePlugin(state, marksLabel) {
  return {
    id: "vigiaEnvelope",
    beforeDatasetsDraw(chart) {
      if (state.bucketMs === 0) return;
      const { ctx, chartArea: area, scales: { x, y } } = chart;
      if (!x || !y) return;
      const lines = chart.data.datasets
        .map((dataset, index) => ({ dataset, index }))
        .filter(({ dataset, index }) =>
          dataset.label !== marksLabel && chart.isDatasetVisible(index)
        );
      if (lines.length > MAX_ENVELOPES) return;
      ctx.save();
      ctx.beginPath();
      ctx.rect(area.left, area.top, area.width, area.height);
      ctx.clip();
      for (const { dataset } of lines) {
        const points = /** @type {Point[]} */ (dataset.data);
        ctx.fillStyle = withAlpha(String(dataset.borderColor), 0.16);
        let start = 0;
        for (let i = 1; i <= points.length; i++) {
          // A bucket without a value (y null) breaks the envelope as it breaks the line.
          const gap = i === points.length || points[i]?.y === null ||
            points[i - 1]?.y === null ||
            (points[i]?.x ?? 0) - (points[i - 1]?.x ?? 0) > 2.5 * state.bucketMs;
          if (!gap) continue;
          const segment = points.slice(start, i).filter((p) => p.y !== null);
          start = i;
          if (segment.length < 2) continue;
          ctx.beginPath();
          for (const [n, p] of segment.entries()) {
            const px = x.getPixelForValue(p.x);
            const py = y.getPixelForValue(p.max ?? p.y ?? NaN);
            if (n === 0) ctx.moveTo(px, py);
            else ctx.lineTo(px, py);
          }
          for (const p of segment.reverse()) {
            ctx.lineTo(x.getPixelForValue(p.x), y.getPixelForValue(p.min ?? p.y ?? NaN));
          }
          ctx.closePath();
          ctx.fill();
        }
      }
      ctx.restore();
    },
  };
}
