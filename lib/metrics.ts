/**
 * Prometheus metrics for every program, in the text format (0.0.4): a
 * {@linkcode MetricsRegistry} lists the families in the order they are
 * rendered, and each family reads its values from their owner when `/metrics`
 * is scraped. The hot path therefore costs what its owner chooses (a plain
 * `values.readings++`), and a gauge such as a spool's depth is read from the
 * one part that knows it.
 *
 * Labels are a record per series; a family's series are rendered sorted, so
 * the text is stable from scrape to scrape. Count by label set with
 * {@linkcode LabelledCounter} (`errors.add({ device: "plc-1", kind: "timeout" })`)
 * and time by label set with {@linkcode LabelledHistograms}.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { LabelledCounter, MetricsRegistry, parseMetrics } from "./metrics.ts";
 *
 * const errors = new LabelledCounter();
 * errors.add({ device: "plc-1", kind: "timeout" });
 * const registry = new MetricsRegistry()
 *   .counter("vigia_modbus_errors_total", "Failed polls, by device and kind.", errors)
 *   .gauge("vigia_spool_depth", "Readings waiting.", () => 42);
 * const samples = parseMetrics(registry.render());
 * assert.equal(samples.get('vigia_modbus_errors_total{device="plc-1",kind="timeout"}'), 1);
 * assert.equal(samples.get("vigia_spool_depth"), 42);
 * ```
 *
 * @module
 */

/** The labels of one series, rendered in their key order: `{route: "/api/data"}`. */
export type Labels = Readonly<Record<string, string | number>>;

/** What a family reads at render: one unlabelled value, or one value per label set. */
export type ReadValues = () => number | Iterable<readonly [Labels, number]>;

/** Counts by label set; the label sets seen are the series rendered. */
export class LabelledCounter {
  #series = new Map<string, { labels: Labels; value: number }>();

  /** Adds `n` (default 1) to the series `labels`, creating it at 0 first. */
  add(labels: Labels, n = 1): void {
    const key = formatLabels(labels);
    const series = this.#series.get(key);
    if (series === undefined) this.#series.set(key, { labels, value: n });
    else series.value += n;
  }

  /** The value of the series `labels` (0 when never counted). */
  get(labels: Labels): number {
    return this.#series.get(formatLabels(labels))?.value ?? 0;
  }

  /** Every series, as a family reads them. */
  *entries(): Iterable<readonly [Labels, number]> {
    for (const { labels, value } of this.#series.values()) yield [labels, value];
  }
}

/**
 * A histogram with fixed upper bounds (`le`), counting observations with an
 * optional weight (one observation standing for `weight` equal ones).
 */
export class Histogram {
  readonly bounds: readonly number[];
  /** Per bucket, not cumulative; the last is above every bound. */
  readonly counts: Float64Array;
  count = 0;
  sum = 0;

  /** `bounds` ascending. */
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Counts `value` (`weight` times). */
  observe(value: number, weight = 1): void {
    this.count += weight;
    this.sum += value * weight;
    const bounds = this.bounds;
    // Binary search: the first bound >= value.
    let low = 0;
    let high = bounds.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (bounds[middle]! < value) low = middle + 1;
      else high = middle;
    }
    this.counts[low]! += weight;
  }

  /**
   * The `q` quantile (0..1) as the upper bound of the bucket it falls in
   * (the last bound when above every bound); undefined when empty.
   */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const target = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      seen += this.counts[i]!;
      if (seen >= target && seen > 0) return this.bounds[i];
    }
    return this.bounds.at(-1);
  }
}

/** One {@linkcode Histogram} per label set, all with the same bounds. */
export class LabelledHistograms {
  readonly bounds: readonly number[];
  #series = new Map<string, { labels: Labels; histogram: Histogram }>();

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
  }

  /** The histogram of the series `labels`, created empty on first use. */
  get(labels: Labels): Histogram {
    const key = formatLabels(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, histogram: new Histogram(this.bounds) };
      this.#series.set(key, series);
    }
    return series.histogram;
  }

  /** Every series, as a family reads them. */
  *entries(): Iterable<readonly [Labels, Histogram]> {
    for (const { labels, histogram } of this.#series.values()) yield [labels, histogram];
  }
}

type Family =
  | {
    readonly type: "counter" | "gauge";
    readonly name: string;
    readonly help: string;
    readonly read: ReadValues;
  }
  | {
    readonly type: "histogram";
    readonly name: string;
    readonly help: string;
    readonly source: Histogram | LabelledHistograms;
  };

/** The families of one program, rendered in the order they were added. */
export class MetricsRegistry {
  #families: Family[] = [];

  /** Adds a counter family, read at render from `source`. */
  counter(name: string, help: string, source: ReadValues | LabelledCounter): this {
    const read = source instanceof LabelledCounter ? () => source.entries() : source;
    this.#families.push({ type: "counter", name, help, read });
    return this;
  }

  /** Adds a gauge family, read at render. */
  gauge(name: string, help: string, read: ReadValues): this {
    this.#families.push({ type: "gauge", name, help, read });
    return this;
  }

  /** Adds a histogram family (`_bucket`, `_sum`, `_count`). */
  histogram(name: string, help: string, source: Histogram | LabelledHistograms): this {
    this.#families.push({ type: "histogram", name, help, source });
    return this;
  }

  /** The exposition text, every family read now. */
  render(): string {
    let text = "";
    for (const family of this.#families) {
      const { name, type } = family;
      text += `# HELP ${name} ${family.help}\n# TYPE ${name} ${type}\n`;
      if (family.type === "histogram") {
        const series: [string, Histogram][] = family.source instanceof Histogram
          ? [["", family.source]]
          : Array.from(family.source.entries(), ([labels, h]) => [formatLabels(labels), h]);
        for (const [labels, histogram] of sortByLabels(series)) {
          text += renderHistogram(name, labels, histogram);
        }
        continue;
      }
      const values = family.read();
      if (typeof values === "number") {
        text += `${name} ${values}\n`;
        continue;
      }
      const series = Array.from(
        values,
        ([labels, value]) => [formatLabels(labels), value] as const,
      );
      for (const [labels, value] of sortByLabels(series)) text += `${name}{${labels}} ${value}\n`;
    }
    return text;
  }
}

/** Every sample of a Prometheus text exposition, by its full name with labels. */
export type MetricSamples = ReadonlyMap<string, number>;

/**
 * Parses the text format (0.0.4) into samples keyed as written
 * (`name{labels}`); comments and blank lines are skipped.
 */
export function parseMetrics(text: string): MetricSamples {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

function renderHistogram(name: string, labels: string, histogram: Histogram): string {
  const sep = labels ? "," : "";
  let text = "";
  let cumulative = 0;
  histogram.bounds.forEach((bound, i) => {
    cumulative += histogram.counts[i]!;
    text += `${name}_bucket{${labels}${sep}le="${bound}"} ${cumulative}\n`;
  });
  text += `${name}_bucket{${labels}${sep}le="+Inf"} ${histogram.count}\n`;
  const suffix = labels ? `{${labels}}` : "";
  return text +
    `${name}_sum${suffix} ${histogram.sum}\n${name}_count${suffix} ${histogram.count}\n`;
}

function formatLabels(labels: Labels): string {
  return Object.entries(labels).map(([key, value]) => `${key}="${escapeLabel(String(value))}"`)
    .join(",");
}

/** Escapes a label value as the text format requires: backslash, quote, newline. */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

function sortByLabels<T>(series: (readonly [string, T])[]): (readonly [string, T])[] {
  return series.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
