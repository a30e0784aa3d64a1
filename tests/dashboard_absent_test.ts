/**
 * Absent quantities on the real dashboard: readings whose `temperature`,
 * `pressure` or `humidity` is `null` (not measured by that sensor) are
 * stored through the real server's `POST /api/data`, then Debian's Chromium
 * shows them. Checked where an operator would look: no point and a break in
 * the line (Chart.js skips a null y), never a zero on the axis, "—" in the
 * sensors table, no out-of-range event, the same for readings arriving live
 * and in the 24 h window's buckets.
 *
 * Needs /usr/bin/chromium, like dashboard_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { startServer } from "./_link.ts";
import { testPki } from "./_pki.ts";
import {
  assertChromium,
  CHROMIUM,
  CHROMIUM_ARGS,
  loadChromium,
  STEP_MS,
  text,
  waitForExpression,
} from "./_browser.ts";
import { type ApiReading, apiReading, postReadings } from "./_api.ts";

/** A reading of round values (21 °C, 1013 hPa, 45 %) with `values` changed, `null` for absent. */
function reading(id: number, seq: number, timestamp: number, values: Partial<ApiReading> = {}) {
  return apiReading({
    id,
    seq,
    timestamp,
    temperature: 21,
    pressure: 1013,
    humidity: 45,
    ...values,
  });
}

/** Per chart and sensor line: values drawn, nulls held, points Chart.js skips, stretches of line. */
const LINES = `JSON.stringify(Object.fromEntries(
  ["temperature", "pressure", "humidity"].flatMap((quantity) => {
    const chart = Chart.getChart(document.querySelector("#chart-" + quantity + " canvas"));
    return chart.data.datasets.flatMap((dataset, index) => {
      if (!dataset.label.startsWith("Sensor ")) return [];
      const meta = chart.getDatasetMeta(index);
      return [[quantity + " " + dataset.label.slice(7), {
        values: dataset.data.filter((p) => p.y !== null).length,
        nulls: dataset.data.filter((p) => p.y === null).length,
        zeros: dataset.data.filter((p) => p.y === 0).length,
        skipped: meta.data.filter((point) => point.skip).length,
        // Stretches of line drawn (Chart.js's segments holding a point it draws).
        segments: meta.dataset.segments
          .filter((s) => meta.data.slice(s.start, s.end + 1).some((point) => !point.skip)).length,
      }]];
    }).concat([[quantity + " axis", { min: chart.scales.y.min }]]);
  }),
))`;

type Line = { values: number; nulls: number; zeros: number; skipped: number; segments: number };

async function lines(page: Page): Promise<Record<string, Line & { min: number }>> {
  return JSON.parse(await page.evaluate(LINES) as string);
}

Deno.test({
  name: "dashboard shows absent quantities as gaps and dashes, never as zero",
  async fn() {
    await assertChromium();
    const pki = await testPki(1);
    const dir = await Deno.makeTempDir({ prefix: "vigia-absent-dashboard-" });
    await using server = await startServer(pki, dir);
    const base = `http://127.0.0.1:${server.port}`;
    const store = async (readings: unknown[]) => {
      const response = await postReadings(base, pki.tokenValue, readings, {
        signal: AbortSignal.timeout(STEP_MS),
      });
      const body = await response.text();
      assert.equal(response.status, 200, `POST /api/data: ${body}`);
      assert.equal(JSON.parse(body).stored, readings.length, body);
    };
    let browser: Browser | undefined;
    const pageErrors: string[] = [];
    try {
      // Sensor 1 measures everything; sensor 2 misses two temperatures and
      // is once too humid; sensor 8 measures pressure only.
      const now = Date.now();
      const seeded = [];
      for (let seq = 1; seq <= 10; seq++) {
        const t = now - 100_000 + seq * 9_000;
        seeded.push(reading(1, seq, t));
        seeded.push(reading(2, seq, t + 100, {
          ...(seq === 4 || seq === 5 ? { temperature: null } : {}),
          ...(seq === 7 ? { humidity: 130 } : {}),
        }));
        seeded.push(reading(8, seq, t + 200, { temperature: null, humidity: null }));
      }
      await store(seeded);

      const chromium = await loadChromium();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage({
        viewport: { width: 1440, height: 900 },
        locale: "en-US",
      });
      page.on("pageerror", (error) => pageErrors.push(`pageerror: ${error.message}`));
      await page.goto(`${base}/`, { timeout: STEP_MS });
      await page.waitForSelector("body[data-ready=true]", { timeout: STEP_MS });
      await page.waitForSelector("#status[data-state=live]", { timeout: STEP_MS });

      let drawn = await lines(page);
      assert.deepEqual(drawn["temperature 1"], {
        values: 10,
        nulls: 0,
        zeros: 0,
        skipped: 0,
        segments: 1,
      });
      // The two missing temperatures break sensor 2's line in two.
      assert.deepEqual(drawn["temperature 2"], {
        values: 8,
        nulls: 2,
        zeros: 0,
        skipped: 2,
        segments: 2,
      });
      assert.deepEqual(drawn["temperature 8"], {
        values: 0,
        nulls: 10,
        zeros: 0,
        skipped: 10,
        segments: 0,
      });
      assert.deepEqual(drawn["pressure 8"], {
        values: 10,
        nulls: 0,
        zeros: 0,
        skipped: 0,
        segments: 1,
      });
      // A null drawn as zero would pull the axis down to 0.
      assert.ok(drawn["temperature axis"]!.min > 10, JSON.stringify(drawn["temperature axis"]));
      assert.ok(drawn["humidity axis"]!.min > 10, JSON.stringify(drawn["humidity axis"]));

      const row = (id: number) => `#sensors tr[data-sensor='${id}']`;
      assert.equal(await text(page, `${row(8)} td[data-quantity=temperature]`), "—");
      assert.equal(await text(page, `${row(8)} td[data-quantity=pressure]`), "1,013.00");
      assert.equal(await text(page, `${row(8)} td[data-quantity=humidity]`), "—");
      assert.equal(await page.getAttribute(row(8), "data-state"), "ok");
      // The only event is the real one: nulls are neither out of range nor back in range.
      assert.equal(await page.locator("#events li").count(), 1);
      assert.match(await text(page, "#events"), /Sensor 2 humidity 130\.00 % RH ▲ above max 100/);

      // Live: a reading of sensor 8 with temperature but no pressure, and a
      // humidity-less one of sensor 1.
      await store([
        reading(8, 11, Date.now(), { temperature: 30, pressure: null, humidity: null }),
        reading(1, 11, Date.now(), { humidity: null }),
      ]);
      await waitForExpression(
        page,
        `document.querySelector("${row(8)} td[data-quantity=temperature]").innerText === "30.00"`,
      );
      assert.equal(await text(page, `${row(8)} td[data-quantity=pressure]`), "—");
      assert.equal(await text(page, `${row(1)} td[data-quantity=humidity]`), "—");
      assert.equal(await page.getAttribute(row(1), "data-state"), "ok");
      await waitForExpression(page, `JSON.parse(${LINES})["pressure 8"].nulls === 1`);
      drawn = await lines(page);
      assert.deepEqual(
        [drawn["temperature 8"]!.values, drawn["pressure 8"]!.values, drawn["humidity 1"]!.nulls],
        [1, 10, 1],
      );
      assert.equal(await page.locator("#events li").count(), 1);

      // 24 h: buckets without a value of a quantity are gaps too.
      await page.check("input[name=window][value='24h']");
      await page.waitForSelector("body[data-window='24h']", { timeout: STEP_MS });
      drawn = await lines(page);
      assert.equal(drawn["humidity 8"]!.values, 0, JSON.stringify(drawn["humidity 8"]));
      assert.ok(drawn["pressure 8"]!.values > 0, JSON.stringify(drawn["pressure 8"]));
      assert.ok(drawn["temperature 8"]!.values > 0, "the live temperature has its bucket");
      for (const [name, line] of Object.entries(drawn)) assert.equal(line.zeros ?? 0, 0, name);
      assert.ok(drawn["temperature axis"]!.min > 10, JSON.stringify(drawn["temperature axis"]));
      assert.match(await text(page, "#events"), /Sensor 2 humidity 130\.00 % RH/);
      assert.deepEqual(pageErrors, []);
    } catch (error) {
      // deno-lint-ignore no-console
      console.log(`page errors:\n${pageErrors.join("\n")}\nserver output:\n${server.output()}`);
      throw error;
    } finally {
      await browser?.close();
      await server.stop("SIGTERM");
      await Deno.remove(dir, { recursive: true });
    }
  },
});
