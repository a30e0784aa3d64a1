/**
 * The programs download only what they need: `deno.json` and `deno.lock`
 * (which a first `deno task demo` installs in full, as `nodeModulesDir` is
 * `auto`) hold the dashboard's Chart.js, the OPC UA stack (node-opcua,
 * which only `--opcua` and the simulated OPC UA server import, lazily) and
 * the PostgreSQL driver (`postgres`, no dependencies, which the server
 * imports only for a `--db postgres://` URL, lazily), and nothing else; test-only packages live in the tests' own import map and
 * lock (`tests/import_map.json`, `tests/deno.lock`), which only the `test`,
 * `check` and `bench` tasks use.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { TEST_PACKAGES } from "../bench/permissions.ts";
import { ROOT } from "./_process.ts";

/**
 * What the programs need from npm: Chart.js, served by the server (and its
 * dependency), and the PostgreSQL driver.
 */
const PROGRAM_PACKAGES = ["@kurkle/color", "chart.js", "postgres"];
/** npm packages the programs import lazily: the OPC UA stack and the PostgreSQL driver. */
const LAZY_PACKAGES = [
  "node-opcua-certificate-manager",
  "node-opcua-client",
  "node-opcua-server",
  "node-opcua-status-code",
  "node-opcua-variant",
  "postgres",
];
/** The OPC UA stack, imported only by `gateway --opcua` and `opcua-server`. */
const OPCUA_PACKAGES = [
  "node-opcua-certificate-manager",
  "node-opcua-client",
  "node-opcua-server",
  "node-opcua-status-code",
  "node-opcua-variant",
];

interface Lock {
  npm?: Record<string, { integrity: string; dependencies?: string[] }>;
}

/** The names of the OPC UA packages and everything they depend on, from the lock. */
function opcuaTree(lock: Lock): Set<string> {
  const keys = Object.keys(lock.npm ?? {});
  const byName = new Map(keys.map((key) => [packageName(key), key]));
  const tree = new Set<string>();
  const visit = (name: string) => {
    if (tree.has(name)) return;
    tree.add(name);
    const key = byName.get(name) ?? keys.find((k) => k.startsWith(`${name}@`));
    for (const dependency of (key && lock.npm?.[key]?.dependencies) ?? []) {
      visit(dependency.replace(/@[^@/]+$/, "").replace(/^(@[^/]+\/[^@]+)@.*$/, "$1"));
    }
  };
  for (const name of OPCUA_PACKAGES) visit(name);
  return tree;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(join(ROOT, path))) as T;
}

/** `chart.js@4.6.1` → `chart.js`; `@kurkle/color@0.3.4` → `@kurkle/color`. */
function packageName(key: string): string {
  return key.slice(0, key.lastIndexOf("@"));
}

Deno.test("deno.json and deno.lock name only the packages the programs need", async () => {
  const config = await readJson<{ imports: Record<string, string> }>("deno.json");
  assert.deepEqual(Object.keys(config.imports), ["chart.js", ...OPCUA_PACKAGES, "postgres"]);
  const lock = await readJson<Lock>("deno.lock");
  const opcua = opcuaTree(lock);
  const others = Object.keys(lock.npm ?? {}).map(packageName).filter((name) => !opcua.has(name));
  assert.deepEqual(others.sort(), PROGRAM_PACKAGES);
});

Deno.test("a program imports no npm package but the lazy OPC UA stack and PostgreSQL driver; deno installs Chart.js and them", async () => {
  // launch.ts imports every program (literal specifiers), so its graph is theirs.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT, "launch.ts")],
    cwd: ROOT,
    stdin: "null",
  }).output();
  assert.deepEqual(output.success, true, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: { specifier: string }[];
    npmPackages: Record<string, unknown>;
  };
  // Only the OPC UA stack, which gateway/opcua.ts and opcua/simulator.ts import
  // lazily, and the PostgreSQL driver, which server/storage.ts imports lazily.
  assert.deepEqual(
    info.modules.map((module) => module.specifier).filter((specifier) =>
      specifier.startsWith("npm:")
    ).map((specifier) => packageName(specifier.replace(/^npm:\/?/, ""))).sort(),
    LAZY_PACKAGES,
  );
  // What a first run installs into node_modules/: the whole npm snapshot of the lock.
  const opcua = opcuaTree(await readJson<Lock>("deno.lock"));
  assert.deepEqual(
    Object.keys(info.npmPackages).map(packageName).filter((name) => !opcua.has(name)).sort(),
    PROGRAM_PACKAGES,
  );
});

Deno.test("the tests' lock pins the programs' packages to the same versions", async () => {
  const programs = await readJson<Lock>("deno.lock");
  const tests = await readJson<Lock>("tests/deno.lock");
  for (const [key, entry] of Object.entries(programs.npm ?? {})) {
    assert.deepEqual(tests.npm?.[key]?.integrity, entry.integrity, `tests/deno.lock: ${key}`);
  }
  const testOnly = Object.keys(tests.npm ?? {}).filter((key) => !programs.npm?.[key]);
  assert.deepEqual(testOnly.map(packageName), ["playwright-core"]);
});

Deno.test("the test and check tasks (and bench/run.ts) use the tests' import map and lock", async () => {
  const config = await readJson<{ tasks: Record<string, { command: string }> }>("deno.json");
  const relative = TEST_PACKAGES.map((flag) => flag.replace(ROOT, "").replace("=/", "="));
  for (const task of ["test", "check"]) {
    for (const flag of relative) {
      assert.deepEqual(config.tasks[task]?.command.includes(flag), true, `${task}: ${flag}`);
    }
  }
});
