// @ts-check
/**
 * The page's look as the charts and panels draw it: colours and fonts read
 * from the stylesheet's custom properties (so CSS alone decides light and
 * dark), and each sensor's colour and dash.
 *
 * @module
 */

/** Line dash patterns, one per group of ten sensors (colour repeats every ten). */
const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3]];

/**
 * Colours and fonts, read from the page's CSS custom properties so the
 * stylesheet alone decides light and dark.
 * @typedef {{
 *   text: string, muted: string, grid: string, alarm: string, band: string,
 *   limit: string, surface: string, palette: string[], font: string, fontSize: number
 * }} Theme
 */

/** @returns {Theme} */
export function readTheme() {
  const style = getComputedStyle(document.documentElement);
  /** @param {string} name */
  const value = (name) => style.getPropertyValue(name).trim();
  const palette = [];
  for (let i = 0; i < 10; i++) palette.push(value(`--series-${i}`) || "#888888");
  return {
    text: value("--fg"),
    muted: value("--muted"),
    grid: value("--grid"),
    alarm: value("--alarm"),
    band: value("--band"),
    limit: value("--limit"),
    surface: value("--surface"),
    palette,
    font: style.fontFamily,
    fontSize: parseFloat(style.fontSize) || 16,
  };
}

/**
 * The colour and dash of sensor `id`: fixed by the id, so a sensor keeps its
 * colour across reloads and across screens.
 * @param {number} id
 * @param {Theme} theme
 */
export function styleOf(id, theme) {
  const slot = id % (theme.palette.length * DASHES.length);
  return {
    color: theme.palette[slot % theme.palette.length] ?? "#888888",
    dash: DASHES[Math.floor(slot / theme.palette.length)] ?? [],
  };
}

/**
 * How sensor `id`'s line is drawn: its colour and dash, thicker on big text.
 * @param {number} id
 * @param {Theme} theme
 */
export function lineStyle(id, theme) {
  const { color, dash } = styleOf(id, theme);
  // Lines thicken with the text on big screens (read from across a room).
  const width = Math.max(1.5, theme.fontSize / 9);
  return {
    borderWidth: width,
    borderDash: dash.map((length) => length * width / 1.5),
    borderColor: color,
    backgroundColor: color,
    pointBackgroundColor: color,
  };
}
