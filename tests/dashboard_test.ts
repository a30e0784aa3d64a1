/**
 * The dashboard in a real browser: Debian's Chromium driven by
 * playwright-core opens the page served by the real server (port 0, a
 * temporary database, readings seeded through the API), and checks what an
 * operator sees — three charts with the seeded points, the sensors table,
 * the out-of-range list, readings stored later arriving live, and the page
 * recovering by itself from a server restart (reconnecting, then live again,
 * with the readings stored meanwhile). Screenshots (light and dark) stay in
 * the test's temporary directory; their paths are printed.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; CI's `.ci/run`
 * installs it). The browser is never downloaded.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import type { RunningProgram } from "./_process.ts";
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

const QUANTITIES = ["temperature", "pressure", "humidity"] as const;

/** Sensor `id`'s reading `seq` at `timestamp` (epoch ms), in range unless `changes` says otherwise. */
function reading(id: number, seq: number, timestamp: number, changes = {}): ApiReading {
  return apiReading({ id, seq, timestamp, ...changes });
}

async function store(baseUrl: string, token: string, readings: ApiReading[]): Promise<void> {
  const response = await postReadings(baseUrl, token, readings, {
    signal: AbortSignal.timeout(STEP_MS),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `POST /api/data: ${body}`);
  assert.equal(JSON.parse(body).stored, readings.length, body);
}

/** Points drawn per chart (every sensor line; the out-of-range marks excluded). */
const POINT_COUNTS = `(() => {
  const counts = {};
  for (const quantity of ${JSON.stringify(QUANTITIES)}) {
    const canvas = document.querySelector("#chart-" + quantity + " canvas");
    const chart = canvas && Chart.getChart(canvas);
    counts[quantity] = chart
      ? chart.data.datasets.filter((d) => d.label.startsWith("Sensor "))
        .reduce((sum, d) => sum + d.data.length, 0)
      : -1;
  }
  return counts;
})()`;

/** Per chart: points drawn and readings they stand for (a bucket counts its readings). */
const BUCKETS = `JSON.stringify(Object.fromEntries(${JSON.stringify(QUANTITIES)}.map((quantity) => {
  const chart = Chart.getChart(document.querySelector("#chart-" + quantity + " canvas"));
  const lines = chart.data.datasets.filter((d) => d.label.startsWith("Sensor "));
  return [quantity, {
    points: lines.reduce((sum, d) => sum + d.data.length, 0),
    readings: lines.reduce((sum, d) => sum + d.data.reduce((n, p) => n + (p.count ?? 1), 0), 0),
  }];
})))`;

async function waitForPoints(page: Page, expected: number): Promise<void> {
  try {
    await waitForExpression(page, `Object.values(${POINT_COUNTS}).every((n) => n === ${expected})`);
  } catch (error) {
    const counts = await page.evaluate(POINT_COUNTS);
    throw new Error(`expected ${expected} points per chart, got ${JSON.stringify(counts)}`, {
      cause: error,
    });
  }
}

Deno.test({
  name: "dashboard shows seeded readings, updates live and recovers after a server restart",
  async fn() {
    await assertChromium();
    const pki = await testPki();
    const dir = await Deno.makeTempDir({ prefix: "vigia-dashboard-" });
    let server: RunningProgram | undefined = await startServer(pki, dir, { db: "vigia.db" });
    const port = server.port;
    const baseUrl = `http://127.0.0.1:${port}`;
    let browser: Browser | undefined;
    let page: Page | undefined;
    const pageErrors: string[] = [];
    try {
      // 3 sensors x 20 readings over the last 3 minutes; sensor 2 once too hot.
      const now = Date.now();
      const seeded: ApiReading[] = [];
      for (let i = 0; i < 20; i++) {
        for (const id of [1, 2, 3]) {
          const changes = id === 2 && i === 10 ? { temperature: 91.5 } : {};
          seeded.push(reading(id, i + 1, now - 180_000 + i * 9_000 + id * 100, changes));
        }
      }
      await store(baseUrl, pki.tokenValue, seeded);

      const chromium = await loadChromium();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const context = await browser.newContext({
        viewport: { width: 1440, height: 900 },
        locale: "en-US",
        colorScheme: "light",
      });
      page = await context.newPage();
      page.on("pageerror", (error) => pageErrors.push(`pageerror: ${error.message}`));
      page.on("console", (message) => {
        if (message.type() === "error") pageErrors.push(`console: ${message.text()}`);
      });
      const gapRequests: string[] = [];
      page.on("request", (request) => {
        if (/\/api\/readings\?.*after=/.test(request.url())) gapRequests.push(request.url());
      });

      // History: three charts with every seeded point, panels filled in.
      await page.goto(`${baseUrl}/`, { timeout: STEP_MS });
      await page.waitForSelector("body[data-ready=true]", { timeout: STEP_MS });
      await waitForPoints(page, 60);
      for (const quantity of QUANTITIES) {
        assert.ok(await page.locator(`#chart-${quantity} canvas`).isVisible(), quantity);
      }
      assert.match(await text(page, "#chart-temperature figcaption"), /safe -40 to 85 °C/);
      assert.deepEqual(
        await page.locator("#sensors tbody tr").evaluateAll((rows) =>
          rows.map((row) => row.getAttribute("data-sensor"))
        ),
        ["1", "2", "3"],
      );
      assert.match(await text(page, "#events"), /Sensor 2 temperature 91\.50 °C ▲ above max 85/);
      assert.equal(await page.locator("#events li").count(), 1);
      await page.waitForSelector("#status[data-state=live]", { timeout: STEP_MS });
      assert.match(await text(page, "#status"), /Live/);

      // Live: readings stored now appear without a reload, a new sensor too.
      const live = [
        reading(1, 21, Date.now()),
        reading(2, 21, Date.now()),
        reading(3, 21, Date.now(), { humidity: 120.25 }),
        reading(4, 1, Date.now()),
      ];
      await store(baseUrl, pki.tokenValue, live);
      await waitForPoints(page, 64);
      await page.waitForSelector("#sensors tbody tr[data-sensor='4']", { timeout: STEP_MS });
      await page.waitForSelector("#sensor-picker button[data-sensor='4']", { timeout: STEP_MS });
      await waitForExpression(
        page,
        `document.querySelector("#events").innerText.includes("Sensor 3 humidity 120.25 % RH")`,
      );
      assert.match(
        await text(page, "#sensors tr[data-sensor='3'] td[data-quantity=humidity]"),
        /120\.25 ▲/,
      );

      // Until now nothing failed in the page (during the restart Chromium
      // logs each refused connection, as it should).
      assert.equal(pageErrors.length, 0, pageErrors.join("\n"));

      // Restart: the page notices, reconnects by itself and fills the gap.
      await server.stop();
      server = undefined;
      await page.waitForSelector("#status[data-state=reconnecting]", { timeout: STEP_MS });
      gapRequests.length = 0;
      server = await startServer(pki, dir, { port, db: "vigia.db" });
      await store(baseUrl, pki.tokenValue, [1, 2, 3, 4].map((id) => reading(id, 30, Date.now())));
      await page.waitForSelector("#status[data-state=live]", { timeout: STEP_MS });
      await waitForPoints(page, 68);
      assert.ok(gapRequests.length > 0, "the page asked for what it missed (after=cursor)");
      await store(baseUrl, pki.tokenValue, [1, 2, 3, 4].map((id) => reading(id, 31, Date.now())));
      await waitForPoints(page, 72);

      // 24 h: 4 min buckets from /api/series (plus the bucket in progress
      // from raw readings) hold every reading exactly once.
      await page.check("input[name=window][value='24h']");
      await page.waitForSelector("body[data-window='24h']", { timeout: STEP_MS });
      const buckets = JSON.parse(await page.evaluate(BUCKETS));
      for (const quantity of QUANTITIES) {
        assert.equal(buckets[quantity].readings, 72, `${quantity}: ${JSON.stringify(buckets)}`);
        assert.ok(buckets[quantity].points <= 12, `${quantity}: ${JSON.stringify(buckets)}`);
      }
      assert.match(await text(page, "#events"), /Sensor 2 temperature 91\.50 °C ▲ above max 85/);
      await page.check("input[name=window][value='15m']");
      await page.waitForSelector("body[data-window='15m']", { timeout: STEP_MS });
      await waitForPoints(page, 72);

      const uncaught = pageErrors.filter((line) => line.startsWith("pageerror"));
      assert.equal(uncaught.length, 0, uncaught.join("\n"));
      // The server's Content-Security-Policy forbids inline script and style:
      // the page must work under it without a single violation.
      const violations = pageErrors.filter((line) => /Content Security Policy/i.test(line));
      assert.equal(violations.length, 0, violations.join("\n"));

      // A screen whose clock is 10 min slow still follows the server's time:
      // the live edge on screen, sensors not stale.
      // Its own context: a page's fake clock is installed for its whole context.
      const slowContext = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const slow = await slowContext.newPage();
      await slow.clock.install({ time: Date.now() - 10 * 60_000 });
      await slow.goto(`${baseUrl}/`, { timeout: STEP_MS });
      await slow.waitForSelector("body[data-ready=true]", { timeout: STEP_MS });
      const edge = Number(
        await slow.evaluate(`Chart.getChart(document.querySelector("canvas")).scales.x.max`),
      );
      assert.ok(Math.abs(edge - Date.now()) < 5_000, `x axis ends ${Date.now() - edge} ms ago`);
      assert.match(await text(slow, "#sensors tr[data-sensor='1'] .seen"), /^(now|\d+ s ago)$/);
      await slowContext.close();
      // The operator's screen is untouched by it: still every point, on time.
      await waitForPoints(page, 72);

      for (const scheme of ["light", "dark"] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await waitForExpression(page, `matchMedia("(prefers-color-scheme: ${scheme})").matches`);
        const path = join(dir, `dashboard-${scheme}.png`);
        await page.screenshot({ path });
        // deno-lint-ignore no-console
        console.log(`dashboard screenshot (${scheme}): ${path}`);
      }
    } catch (error) {
      if (page) {
        const path = join(dir, "dashboard-failure.png");
        await page.screenshot({ path }).catch(() => {});
        // deno-lint-ignore no-console
        console.log(`dashboard failure screenshot: ${path}`);
      }
      // deno-lint-ignore no-console
      console.log(`page errors:\n${pageErrors.join("\n")}\nserver output:\n${server?.output()}`);
      throw error;
    } finally {
      await browser?.close();
      await server?.stop();
      // Keep the screenshots (their paths were printed); drop the database.
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.name.endsWith(".png")) {
          await Deno.remove(join(dir, entry.name), { recursive: true });
        }
      }
    }
  },
});
