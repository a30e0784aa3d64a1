/**
 * The whole plant end to end, as `deno task demo` runs it: real certs,
 * server, gateway, sensor and query processes on port 0 with temporary
 * certs/ and data/. Every reading must be stored once with the exact values
 * the sensors' seeded simulator produced, the query client must print
 * exactly the alerts those values call for, /metrics must agree, and a
 * SIGTERM must stop everything with exit code 0.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startChild } from "../lib/child.ts";
import { QUANTITIES, type Quantity, type ReadingJson } from "../protocol/mod.ts";
import { createSimulator } from "../sensor/simulator.ts";
import { metricValue } from "./_api.ts";

const SENSORS = 3;
const COUNT = 300;
const SEED = 2026;
const TIMEOUT_MS = 60_000;

type AlarmState = "ok" | "high" | "low";
type Ranges = Record<Quantity, { min: number; max: number; unit: string; deadband?: number }>;

Deno.test("demo runs the plant end to end: every reading once and exact, exact alerts, metrics agree, clean SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-e2e-" });
  const demo = await startChild("demo.ts", [
    "--sensors",
    String(SENSORS),
    "--count",
    String(COUNT),
    "--interval",
    "0.02",
    "--seed",
    String(SEED),
    "--port",
    "0",
    "--gateway-port",
    "0",
    "--query-interval",
    "0.3",
    "--certs",
    join(dir, "certs"),
    "--data",
    join(dir, "data"),
    "--debug",
  ]);
  try {
    const base = /dashboard: (http:\/\/\S+)\//.exec(
      await demo.waitForLine(/dashboard: /, TIMEOUT_MS),
    )![1]!;
    const summary = await demo.waitForLine(/sensor\s+\| .* summary /, TIMEOUT_MS);
    assert.match(summary, new RegExp(`sent=${SENSORS * COUNT} acknowledged=${SENSORS * COUNT} `));
    assert.match(summary, / dropped=0 /);

    const readings = await waitForAllStored(base);
    assertExactValues(readings);

    // The query client has judged everything once it polled past the newest cursor.
    const head = Number(
      (await fetch(`${base}/api/readings?limit=1`).then(drain)).headers.get("x-vigia-cursor"),
    );
    await waitFor(() =>
      demo.lines().some((line) => {
        const polled = /^query\s+\| .* polled .*cursor=(\d+)/.exec(line);
        return polled !== null && Number(polled[1]) >= head;
      })
    );
    const ranges = await fetch(`${base}/api/thresholds`).then((response) =>
      response.json()
    ) as Ranges;
    const expected = expectedAlertLines(readings, ranges);
    assert.ok(
      expected.length >= 4,
      `the seeded run must contain excursions (got ${expected.length} lines)`,
    );
    const printed = demo.lines()
      .filter((line) => /^query\s+\| \[/.test(line))
      .map((line) => line.replace(/^query\s+\| /, ""));
    assert.deepEqual(printed.toSorted(), expected.toSorted());

    const metrics = await fetch(`${base}/metrics`).then((response) => response.text());
    assert.equal(metricValue(metrics, "vigia_readings_stored_total"), SENSORS * COUNT);
    assert.equal(metricValue(metrics, "vigia_newest_cursor"), head);

    const status = await demo.stop("SIGTERM", 30_000);
    assert.equal(status.code, 0, demo.lines().slice(-30).join("\n"));
    const tail = demo.lines().join("\n");
    assert.match(tail, /all components stopped cleanly/);
    assert.match(tail, /gateway\s+\| .* stopped .*spool_depth=0/);
  } catch (error) {
    await demo.stop("SIGKILL");
    throw new Error(
      `${error instanceof Error ? error.message : error}\n--- demo output ---\n${
        demo.lines().join("\n")
      }`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Waits until `done()` holds, checking every 100 ms, for at most TIMEOUT_MS. */
async function waitFor(done: () => boolean): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${TIMEOUT_MS} ms: ${done}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function drain(response: Response): Promise<Response> {
  await response.body?.cancel();
  return response;
}

/** Waits until the server holds SENSORS × COUNT readings, then returns them. */
async function waitForAllStored(base: string): Promise<ReadingJson[]> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (true) {
    const readings = await fetch(`${base}/api/readings?limit=10000`).then((r) =>
      r.json()
    ) as ReadingJson[];
    if (readings.length >= SENSORS * COUNT || Date.now() > deadline) return readings;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Each (sensor, seq) exactly once, with the simulator's values, timestamps rising with seq. */
function assertExactValues(readings: readonly ReadingJson[]): void {
  assert.equal(readings.length, SENSORS * COUNT);
  for (let id = 1; id <= SENSORS; id++) {
    const own = readings.filter((reading) => reading.id === id).toSorted((a, b) => a.seq - b.seq);
    assert.deepEqual(
      own.map((reading) => reading.seq),
      Array.from({ length: COUNT }, (_, i) => i + 1),
    );
    const simulator = createSimulator({ sensorId: id, seed: SEED });
    let previous = -Infinity;
    for (const reading of own) {
      const values = simulator.next();
      assert.deepEqual(
        [reading.temperature, reading.pressure, reading.humidity],
        [values.temperature / 100, values.pressure / 100, values.humidity / 100],
        `sensor ${id} seq ${reading.seq}`,
      );
      const time = Date.parse(reading.timestamp);
      assert.ok(time > previous, `sensor ${id} seq ${reading.seq}: timestamps must rise`);
      previous = time;
    }
  }
}

/**
 * The alert lines the readings call for, from the rules as documented
 * (README, query --help) rather than the client's own code: ALERT when a
 * value leaves [min, max] (or jumps to the other side), RECOVERED once it is
 * back inside by the deadband (1 % of the range width by default).
 */
function expectedAlertLines(readings: readonly ReadingJson[], ranges: Ranges): string[] {
  const lines: string[] = [];
  for (let id = 1; id <= SENSORS; id++) {
    const own = readings.filter((reading) => reading.id === id).toSorted((a, b) => a.seq - b.seq);
    for (const quantity of QUANTITIES) {
      const { min, max, unit } = ranges[quantity];
      const deadband = ranges[quantity].deadband ?? (max - min) / 100;
      let state = "ok" as AlarmState;
      for (const reading of own) {
        const value = reading[quantity];
        if (value === null) continue; // TLS sensors measure all three
        const time = reading.timestamp.slice(0, 19).replace("T", " ");
        const prefix = `[${time}]`;
        const next: AlarmState = value > max
          ? "high"
          : value < min
          ? "low"
          : (state === "high" && value > max - deadband) ||
              (state === "low" && value < min + deadband)
          ? state
          : "ok";
        if (next !== state && next !== "ok") {
          const side = next === "high" ? `above ${max.toFixed(2)}` : `below ${min.toFixed(2)}`;
          lines.push(
            `${prefix} ALERT sensor ${id}: ${quantity} ${value.toFixed(2)} ${unit} ${side}`,
          );
        } else if (next !== state) {
          lines.push(
            `${prefix} RECOVERED sensor ${id}: ${quantity} ${
              value.toFixed(2)
            } ${unit} back in range (${min.toFixed(2)}…${max.toFixed(2)})`,
          );
        }
        state = next;
      }
    }
  }
  return lines;
}
