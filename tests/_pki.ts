/**
 * A throwaway plant PKI for tests, made by the real `certs.ts` under its own
 * permission set, in a temporary directory. Made once per test process and
 * shared by the tests in it.
 *
 * @module
 */

import { join } from "node:path";
import { type CertsPaths, certsPaths } from "../certs.ts";
import { ROOT } from "./_process.ts";

/** A generated test PKI: its directory, file paths and the ingest token. */
export interface TestPki extends CertsPaths {
  readonly dir: string;
  readonly tokenValue: string;
}

const cache = new Map<number, Promise<TestPki>>();

/** Returns a PKI with sensor certificates 1..`sensors` (made on first use). */
export function testPki(sensors = 10): Promise<TestPki> {
  let pki = cache.get(sensors);
  if (!pki) {
    pki = createPki(sensors);
    cache.set(sensors, pki);
  }
  return pki;
}

async function createPki(sensors: number): Promise<TestPki> {
  const parent = await Deno.makeTempDir({ prefix: "vigia-pki-" });
  // Keys in /tmp outlive nothing: removed when the test module's process ends.
  globalThis.addEventListener("unload", () => Deno.removeSync(parent, { recursive: true }));
  const dir = join(parent, "certs");
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-P=certs",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "certs.ts",
      "--out",
      dir,
      "--sensors",
      String(sensors),
    ],
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  if (!output.success) {
    throw new Error(`certs.ts failed:\n${new TextDecoder().decode(output.stderr)}`);
  }
  const paths = certsPaths(dir);
  const tokenValue = (await Deno.readTextFile(paths.token)).trim();
  return { ...paths, dir, tokenValue };
}
