/**
 * The dashboard renders what comes from the network as text, never as
 * HTML. Readings carry only numbers (the page drops anything else), so the
 * strings that can reach the page are the server's error messages (shown in
 * the notice) and the fields of `/api/thresholds` and `/api/sensors`. Here
 * a hostile server (the real one, with its answers rewritten on the way by
 * the browser's request interception) puts markup and script into every
 * one of them: the page must show the text literally, run none of it, and
 * still draw the real data.
 *
 * A static check complements it: no module of the page uses an HTML sink
 * (`innerHTML`, `insertAdjacentHTML`, `document.write`, ...) or evaluates
 * strings as code.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Browser, Route } from "playwright-core";
import { startServer } from "./_link.ts";
import { testPki } from "./_pki.ts";
import { ROOT } from "./_process.ts";
import { assertChromium, CHROMIUM, CHROMIUM_ARGS, loadChromium } from "./_browser.ts";
import { apiReading, postReadings } from "./_api.ts";

const STEP_MS = 15_000;

/** Every file under `dir` (subdirectories too: the page imports `shared/`), relative to it. */
async function pageFiles(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${dir}/${prefix}`)) {
    if (entry.isDirectory) names.push(...await pageFiles(dir, `${prefix}${entry.name}/`));
    else names.push(`${prefix}${entry.name}`);
  }
  return names;
}
/** Markup that would run if it were ever parsed as HTML. */
const HOSTILE = `<img src=x onerror="window.__pwned=(window.__pwned||0)+1">` +
  `<script>window.__pwned=(window.__pwned||0)+1</script>` +
  `<svg onload="window.__pwned=(window.__pwned||0)+1"></svg>` +
  `<a href="javascript:window.__pwned=1">x</a>`;

Deno.test("dashboard modules use no HTML sink and evaluate no strings as code", async () => {
  const sinks = [
    /\.innerHTML\b/,
    /\.outerHTML\b/,
    /insertAdjacentHTML/,
    /document\.write/,
    /createContextualFragment/,
    /DOMParser/,
    /\bsrcdoc\b/,
    /\beval\(/,
    /new Function\(/,
    /setTimeout\(\s*["'`]/,
    /setInterval\(\s*["'`]/,
    /\.setAttribute\(\s*["'`]on/,
    /\.on\w+\s*=\s*[^=]*\b(?:data|reading|error|body|text)\b/,
  ];
  let files = 0;
  for (const name of await pageFiles(`${ROOT}static`)) {
    if (!/\.(js|html)$/.test(name)) continue;
    const source = await Deno.readTextFile(`${ROOT}static/${name}`);
    files++;
    for (const sink of sinks) assert.doesNotMatch(source, sink, `static/${name}`);
    if (name.endsWith(".html")) {
      assert.doesNotMatch(source, /\son\w+\s*=/i, `no inline handlers in static/${name}`);
      assert.doesNotMatch(source, /<script(?![^>]*\bsrc=)[^>]*>\s*\S/i, "no inline script");
    }
  }
  assert.ok(files >= 5, `checked ${files} files`);
  const checked = await pageFiles(`${ROOT}static`);
  assert.ok(checked.includes("shared/reading.js"), `the shared modules are checked too`);
});

Deno.test({
  name: "dashboard shows hostile server text literally and runs none of it",
  async fn() {
    await assertChromium();
    const pki = await testPki(1);
    const dir = await Deno.makeTempDir({ prefix: "vigia-hostile-dashboard-" });
    await using server = await startServer(pki, dir);
    const base = `http://127.0.0.1:${server.port}`;
    let browser: Browser | undefined;
    try {
      // Real readings: two sensors, one reading out of range.
      const now = Date.now();
      const readings = [1, 2].flatMap((id) =>
        Array.from({ length: 10 }, (_, i) =>
          apiReading({
            id,
            seq: i + 1,
            timestamp: now - 60_000 + i * 5_000,
            ...(id === 2 && i === 5 ? { temperature: 99.5 } : {}),
          }))
      );
      const stored = await postReadings(base, pki.tokenValue, readings);
      assert.equal(stored.status, 200, await stored.text());

      // The modules the programs share with the page are served like the page's own.
      const page0 = await fetch(`${base}/`);
      await page0.body?.cancel();
      for (const path of ["/shared/backoff.js", "/shared/reading.js"]) {
        const module = await fetch(`${base}${path}`);
        assert.equal(module.status, 200, path);
        await module.body?.cancel();
        assert.equal(module.headers.get("content-type"), "text/javascript; charset=utf-8", path);
        assert.equal(
          module.headers.get("content-security-policy"),
          page0.headers.get("content-security-policy"),
          path,
        );
      }

      const chromium = await loadChromium();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage();
      const dialogs: string[] = [];
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        dialog.dismiss().catch(() => {});
      });
      let rewritten = 0;
      // The first answers are errors carrying markup; then the real ranges with markup in
      // every string field.
      let thresholdCalls = 0;
      await page.route("**/api/thresholds", async (route: Route) => {
        rewritten++;
        if (thresholdCalls++ < 2) {
          return await route.fulfill({
            status: 503,
            contentType: "application/json",
            body: JSON.stringify({ error: HOSTILE }),
          });
        }
        const real = await (await route.fetch()).json();
        for (const range of Object.values(real) as Record<string, unknown>[]) {
          range.unit = HOSTILE;
          range.label = HOSTILE;
        }
        await route.fulfill({ contentType: "application/json", body: JSON.stringify(real) });
      });
      await page.route("**/api/sensors", async (route: Route) => {
        rewritten++;
        const real = await (await route.fetch()).json() as Record<string, unknown>[];
        real.push(
          {
            id: HOSTILE,
            readings: HOSTILE,
            first_seen: HOSTILE,
            last_seen: HOSTILE,
            last: HOSTILE,
          },
          {
            id: 3,
            readings: HOSTILE,
            first_seen: HOSTILE,
            last_seen: HOSTILE,
            last: {
              id: 3,
              seq: HOSTILE,
              timestamp: HOSTILE,
              temperature: HOSTILE,
              pressure: 1,
              humidity: 1,
            },
          },
        );
        await route.fulfill({ contentType: "application/json", body: JSON.stringify(real) });
      });
      await page.route("**/api/readings?*", async (route: Route) => {
        rewritten++;
        const response = await route.fetch();
        const real = await response.json() as Record<string, unknown>[];
        real.push({
          id: HOSTILE,
          seq: 1,
          timestamp: HOSTILE,
          temperature: HOSTILE,
          pressure: HOSTILE,
          humidity: HOSTILE,
        }, { id: 4, seq: 1, timestamp: now, temperature: HOSTILE, pressure: 1, humidity: 1 });
        await route.fulfill({ response, body: JSON.stringify(real) });
      });

      await page.goto(`${base}/`, { timeout: STEP_MS });
      // The error text is shown, as text.
      await page.waitForFunction(
        `document.querySelector("#notice")?.textContent.includes('<img src=x onerror=')`,
        undefined,
        { timeout: STEP_MS },
      );
      // Then the page recovers and draws the real data.
      await page.waitForSelector("body[data-ready=true]", { timeout: STEP_MS * 2 });
      await page.waitForSelector("#sensors tbody tr[data-sensor='2']", { timeout: STEP_MS });
      await page.waitForFunction(
        `document.querySelector("#events").innerText.includes("Sensor 2 temperature 99.50")`,
        undefined,
        { timeout: STEP_MS },
      );
      const report = await page.evaluate(`(() => {
        const handlers = [];
        for (const element of document.querySelectorAll("*")) {
          for (const attribute of element.attributes) {
            if (/^on/i.test(attribute.name) || /^\\s*javascript:/i.test(attribute.value)) {
              handlers.push(element.tagName + " " + attribute.name);
            }
          }
        }
        return {
          pwned: window.__pwned ?? null,
          handlers,
          images: [...document.querySelectorAll("img, svg")]
            .filter((node) => node.getAttribute("src") === "x" || node.hasAttribute("onload"))
            .length,
          inlineScripts: [...document.querySelectorAll("script")].filter((s) => !s.src).length,
          markupInDom: document.documentElement.outerHTML.includes('<img src="x"'),
          sensors: [...document.querySelectorAll("#sensors tbody tr")]
            .map((row) => row.getAttribute("data-sensor")),
        };
      })()`) as {
        pwned: number | null;
        handlers: string[];
        images: number;
        inlineScripts: number;
        markupInDom: boolean;
        sensors: string[];
      };
      assert.deepEqual(
        { ...report, sensors: undefined },
        {
          pwned: null,
          handlers: [],
          images: 0,
          inlineScripts: 0,
          markupInDom: false,
          sensors: undefined,
        },
      );
      assert.deepEqual(dialogs, []);
      // Only real sensors made it into the table: the hostile entries were dropped, not shown.
      assert.ok(
        report.sensors.includes("1") && report.sensors.includes("2"),
        report.sensors.join(),
      );
      assert.ok(report.sensors.every((id) => /^\d+$/.test(id)), report.sensors.join());
      assert.ok(rewritten >= 4, `the hostile answers were served (${rewritten})`);
    } finally {
      await browser?.close();
      await server.stop("SIGTERM");
      await Deno.remove(dir, { recursive: true });
    }
  },
});
