/**
 * Debian's Chromium driven by playwright-core, for the tests that open the
 * real dashboard. The browser is never downloaded: CI's `.ci/run` installs
 * the `chromium` package.
 *
 * @module
 */

import type { BrowserType, Page } from "playwright-core";

/** The longest any single step of a browser test may take. */
export const STEP_MS = 15_000;

/** Where Debian's package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags for a headless run as root in a container, without background traffic. */
export const CHROMIUM_ARGS: string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Throws a message saying how to install Chromium when it is missing. */
export async function assertChromium(): Promise<void> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Cannot run the dashboard browser test: no Chromium at ${CHROMIUM}. ` +
        "Install Debian's package (apt-get install -y chromium); CI's .ci/run installs it.",
    );
  }
}

/**
 * playwright-core's `chromium`, imported late on purpose: its bundled is-wsl
 * probes /proc/sys/fs/binfmt_misc/WSLInterop as the module loads, and Deno
 * lets code read /proc only under --allow-all, so under the test permissions
 * the import itself throws NotCapable. is-wsl's own test switch
 * (`__IS_WSL_TEST__`) defers that probe; playwright consults the result only
 * to open a desktop browser for its report viewer, never to launch one.
 */
export async function loadChromium(): Promise<BrowserType> {
  Deno.env.set("__IS_WSL_TEST__", "1");
  try {
    return (await import("playwright-core")).chromium;
  } finally {
    Deno.env.delete("__IS_WSL_TEST__");
  }
}

/**
 * Polls `expression` in the page until it is truthy, for at most
 * {@linkcode STEP_MS}. Not `page.waitForFunction`: its string form runs
 * through eval inside the page, which the dashboard's
 * Content-Security-Policy rightly forbids.
 */
export async function waitForExpression(page: Page, expression: string): Promise<void> {
  const deadline = Date.now() + STEP_MS;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`page never satisfied: ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The text an operator reads in `selector`, whitespace collapsed. */
export async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).innerText({ timeout: STEP_MS })).replace(/\s+/g, " ");
}
