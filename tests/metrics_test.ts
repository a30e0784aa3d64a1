import assert from "node:assert/strict";
import {
  Histogram,
  LabelledCounter,
  LabelledHistograms,
  MetricsRegistry,
  parseMetrics,
} from "../lib/metrics.ts";

Deno.test("Histogram counts a value equal to a bound in that bound's bucket, with weights", () => {
  const histogram = new Histogram([1, 2, 5]);
  histogram.observe(1);
  histogram.observe(1.5, 3);
  histogram.observe(5);
  histogram.observe(9);
  assert.deepEqual([...histogram.counts], [1, 3, 1, 1]);
  assert.equal(histogram.count, 6);
  assert.equal(histogram.sum, 1 + 4.5 + 5 + 9);
  assert.equal(histogram.quantile(0.1), 1);
  assert.equal(histogram.quantile(0.5), 2);
  assert.equal(histogram.quantile(0.8), 5);
  assert.equal(histogram.quantile(1), 5, "above every bound: the last bound");
  assert.equal(new Histogram([1]).quantile(0.5), undefined);
});

Deno.test("MetricsRegistry renders families in order, series sorted, labels escaped", () => {
  const errors = new LabelledCounter();
  errors.add({ device: "plc-2", kind: "timeout" });
  errors.add({ device: "plc-1", kind: "exception" }, 2);
  errors.add({ device: 'odd "name"\\\n', kind: "timeout" });
  const latency = new LabelledHistograms([0.1, 1]);
  latency.get({ device: "plc-1" }).observe(0.5);
  const text = new MetricsRegistry()
    .counter("x_errors_total", "Errors.", errors)
    .gauge("x_depth", "Depth.", () => 7)
    .histogram("x_seconds", "Latency.", latency)
    .render();
  assert.equal(
    text,
    [
      "# HELP x_errors_total Errors.",
      "# TYPE x_errors_total counter",
      'x_errors_total{device="odd \\"name\\"\\\\\\n",kind="timeout"} 1',
      'x_errors_total{device="plc-1",kind="exception"} 2',
      'x_errors_total{device="plc-2",kind="timeout"} 1',
      "# HELP x_depth Depth.",
      "# TYPE x_depth gauge",
      "x_depth 7",
      "# HELP x_seconds Latency.",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{device="plc-1",le="0.1"} 0',
      'x_seconds_bucket{device="plc-1",le="1"} 1',
      'x_seconds_bucket{device="plc-1",le="+Inf"} 1',
      'x_seconds_sum{device="plc-1"} 0.5',
      'x_seconds_count{device="plc-1"} 1',
      "",
    ].join("\n"),
  );
  assert.equal(errors.get({ device: "plc-1", kind: "exception" }), 2);
  assert.equal(errors.get({ device: "plc-3", kind: "timeout" }), 0);
  const samples = parseMetrics(text);
  assert.equal(samples.get('x_errors_total{device="plc-2",kind="timeout"}'), 1);
  assert.equal(samples.get('x_seconds_bucket{device="plc-1",le="+Inf"}'), 1);
  assert.equal(samples.get("x_depth"), 7);
});
