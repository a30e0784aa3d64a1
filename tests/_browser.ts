/**
 * Debian's Chromium driven by playwright-core, for the tests that open the
 * real dashboard. The browser is never downloaded: CI's `.ci/run` installs
 * the `chromium` package.
 *
 * @module
 */

import type { BrowserType } from "playwright-core";

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
