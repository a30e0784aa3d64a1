import assert from "node:assert/strict";
import { join } from "node:path";
import { createLogger } from "../lib/log.ts";
import { MetricsRegistry } from "../lib/metrics.ts";
import { Committer } from "../gateway/committer.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { openSpool } from "../gateway/spool.ts";
import { ConfigObject, SourceConfigError } from "../gateway/source_config.ts";
import {
  type DeviceSource,
  DeviceSources,
  FaultReporter,
  ReadingSink,
  type SourceReading,
} from "../gateway/sources.ts";
import { decodeReadingRecords } from "../protocol/mod.ts";
import { testReading } from "./_reading.ts";

function collector(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger("gateway", { write: (line) => lines.push(line) }) };
}

/** A test reading as a source hands it to the sink: without its seq, which the sink gives. */
function sourceReading(sensorId: number, timestamp: number): SourceReading {
  const { seq: _seq, ...reading } = testReading(sensorId, 0, { timestamp });
  return reading;
}

Deno.test("ReadingSink gives per-sensor seqs that survive a restart of the spool", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-sources-" });
  const path = join(dir, "spool.db");
  const { log } = collector();
  try {
    for (const round of [0, 1]) {
      const spool = openSpool(path, { maxReadings: 100 });
      const committer = new Committer(spool, {
        flushMs: 1_000,
        metrics: new GatewayMetrics(),
        log,
      });
      const sink = new ReadingSink(committer, { lastSeqs: spool.sourceSeqs(), log });
      assert.equal(sink.push(sourceReading(101, round * 10 + 1)), "queued");
      assert.equal(sink.push(sourceReading(101, round * 10 + 2)), "queued");
      assert.equal(sink.push(sourceReading(102, round * 10 + 3)), "queued");
      committer.flush();
      spool.close();
    }
    const spool = openSpool(path, { maxReadings: 100 });
    const stored = spool.take("oldest", 100).flatMap((batch) =>
      decodeReadingRecords(batch.payload)
    );
    assert.deepEqual(stored.map((r) => [r.sensorId, r.seq]), [
      [101, 1],
      [101, 2],
      [102, 1],
      [101, 3],
      [101, 4],
      [102, 2],
    ]);
    assert.deepEqual([...spool.sourceSeqs()], [[101, 4], [102, 2]]);
    spool.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ReadingSink refuses a reading the spool has no room for, using no seq", () => {
  const spool = openSpool(":memory:", { maxReadings: 1 });
  const { log } = collector();
  const committer = new Committer(spool, { flushMs: 1_000, metrics: new GatewayMetrics(), log });
  const sink = new ReadingSink(committer, { lastSeqs: new Map([[5, 41]]), log });
  assert.equal(sink.push(sourceReading(5, 1)), "queued");
  assert.equal(sink.push(sourceReading(5, 2)), "full");
  committer.flush();
  assert.deepEqual([...spool.sourceSeqs()], [[5, 42]]);
  spool.close();
});

Deno.test("FaultReporter logs a fault once when it starts and once when it clears", () => {
  const { lines, log } = collector();
  const faults = new FaultReporter(log, { device: "plc" });
  assert.equal(faults.fail("connect", "cannot connect to 127.0.0.1:502"), true);
  assert.equal(faults.fail("connect", "cannot connect to 127.0.0.1:502"), false);
  faults.fail("exception:holding:4", "exception");
  faults.clear("connect");
  faults.clear("connect");
  faults.clearWhere((key) => key.startsWith("exception:"));
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /WARN cannot connect to 127\.0\.0\.1:502 device=plc$/);
  assert.match(lines[2]!, /gateway cleared: cannot connect to 127\.0\.0\.1:502 device=plc$/);
  assert.deepEqual([...faults.active], []);
});

Deno.test("DeviceSources refuses a sensor id claimed by two sources", () => {
  const source = (kind: string, ids: number[]): DeviceSource => ({
    kind,
    sensorIds: new Set(ids),
    start() {},
    stop: () => Promise.resolve(),
    metrics: new MetricsRegistry(),
  });
  const sources = new DeviceSources([source("modbus", [1, 2]), source("opcua", [3])]);
  assert.deepEqual([...sources.sensorIds], [1, 2, 3]);
  assert.throws(
    () => new DeviceSources([source("modbus", [1, 2]), source("opcua", [2])]),
    { message: "Cannot use sensor id 2 in both the --modbus and the --opcua file" },
  );
});

Deno.test("ConfigObject names the file, the field and the reason", () => {
  const cases: [string, (root: ConfigObject) => unknown, string][] = [
    ["{", () => {}, "f.json: not valid JSON"],
    ["[]", () => {}, "f.json: expected an object, got []"],
    ["{}", (root) => root.array("devices"), "f.json: devices: required"],
    ['{"devices": []}', (root) => root.array("devices"), "f.json: devices: expected at least one"],
    ['{"devices": [1]}', (root) => root.array("devices"), "f.json: devices[0]: expected an object"],
    [
      '{"a": {"type": "float"}}',
      (root) => root.object("a")!.choice("type", ["int16", "float32"]),
      'f.json: a.type: unknown type "float" (int16, float32)',
    ],
    [
      '{"port": "502"}',
      (root) => root.number("port", { min: 0, max: 65535, integer: true }),
      'f.json: port: expected an integer 0-65535, got "502"',
    ],
    [
      '{"name": "Boiler"}',
      (root) => root.string("name", { pattern: /^[a-z]+$/ }),
      'f.json: name: "Boiler" does not match ^[a-z]+$',
    ],
    [
      '{"nmae": 1}',
      (root) => root.allowOnly(["name"]),
      "f.json: nmae: unknown field (expected name)",
    ],
  ];
  for (const [text, read, message] of cases) {
    assert.throws(() => read(ConfigObject.parse("f.json", text)), (error: unknown) => {
      assert.ok(error instanceof SourceConfigError);
      assert.ok(error.message.startsWith(message), `${error.message} !~ ${message}`);
      return true;
    });
  }
});
