/**
 * The dashboard of a server that requires a read token, in a real browser
 * (Debian's Chromium driven by playwright-core): the page asks for the
 * token once, says so when it is refused, shows the plant with the right
 * one — history and the live feed — keeps it for the tab's session only
 * (a reload does not ask again, another browser context does), and never
 * puts it in the URL, a cookie or localStorage.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { startServer } from "./_link.ts";
import { testPki } from "./_pki.ts";
import {
  assertChromium,
  CHROMIUM,
  CHROMIUM_ARGS,
  loadChromium,
  STEP_MS,
  waitForExpression,
} from "./_browser.ts";
import { apiReading, postReadings } from "./_api.ts";

const TABLE_ROWS = `document.querySelectorAll("#sensors tbody tr").length`;

async function enterToken(page: Page, token: string): Promise<void> {
  await page.waitForSelector("#token-dialog[open]", { timeout: STEP_MS });
  await page.fill("#token-dialog input", token);
  await page.click("#token-dialog button[type=submit]");
}

Deno.test({
  name: "dashboard asks for the read token once per tab and shows the plant with it",
  async fn() {
    await assertChromium();
    const pki = await testPki();
    const dir = await Deno.makeTempDir({ prefix: "vigia-dashboard-token-" });
    const token = "dashboard-read-token-0123456789";
    await Deno.writeTextFile(join(dir, "read.token"), `${token}\n`);
    await using server = await startServer(pki, dir, {
      args: ["--read-token-file", join(dir, "read.token")],
    });
    const baseUrl = `http://127.0.0.1:${server.port}`;
    let browser: Browser | undefined;
    const pageErrors: string[] = [];
    try {
      const now = Date.now();
      const seeded = [1, 2].map((id) => apiReading({ id, seq: 1, timestamp: now - 60_000 }));
      assert.equal((await postReadings(baseUrl, pki.tokenValue, seeded)).status, 200);

      const chromium = await loadChromium();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const context = await browser.newContext();
      const page = await context.newPage();
      page.on("pageerror", (error) => pageErrors.push(`pageerror: ${error.message}`));
      page.on("console", (message) => {
        // Chromium reports each refused request (401) as a console error: expected here.
        if (message.type() === "error" && !/status of 401/.test(message.text())) {
          pageErrors.push(`console: ${message.text()}`);
        }
      });

      await page.goto(`${baseUrl}/`, { timeout: STEP_MS });
      await enterToken(page, "wrong-token");
      await page.waitForSelector("#token-dialog[open] .refused:not([hidden])", {
        timeout: STEP_MS,
      });
      await enterToken(page, token);
      await page.waitForSelector("body[data-ready=true]", { timeout: STEP_MS });
      await waitForExpression(page, `${TABLE_ROWS} === 2`);

      // The live feed, opened with the token as a subprotocol, delivers a new sensor.
      const later = apiReading({ id: 9, seq: 1, timestamp: Date.now() });
      assert.equal((await postReadings(baseUrl, pki.tokenValue, [later])).status, 200);
      await waitForExpression(page, `${TABLE_ROWS} === 3`);
      assert.equal(await page.locator("#status").getAttribute("data-state"), "live");

      // Kept for this tab's session only, and nowhere else.
      assert.equal(await page.evaluate(`sessionStorage.getItem("vigia.read-token")`), token);
      assert.equal(await page.evaluate(`localStorage.length`), 0);
      assert.deepEqual(await context.cookies(), []);
      assert.ok(!page.url().includes(token));

      await page.reload({ timeout: STEP_MS });
      await page.waitForSelector("body[data-ready=true]", { timeout: STEP_MS });
      assert.equal(await page.locator("#token-dialog[open]").count(), 0, "no second ask");

      const otherTab = await (await browser.newContext()).newPage();
      await otherTab.goto(`${baseUrl}/`, { timeout: STEP_MS });
      await otherTab.waitForSelector("#token-dialog[open]", { timeout: STEP_MS });

      assert.deepEqual(pageErrors, []);
      assert.ok(!server.output().includes(token), "the token never reaches the log");
    } finally {
      await browser?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
