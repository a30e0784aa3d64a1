/**
 * A short chaos run in the suite (tests/_chaos.ts): about 25 s of sensors
 * streaming while the gateway and the server are killed, restarted and taken
 * away at seeded random moments. Nothing may be lost, doubled or altered,
 * and the server's database must pass `integrity_check` after every crash.
 * The long version is `deno run -A bench/chaos.ts --minutes 3`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FAULT_KINDS, formatChaos, runChaos } from "./_chaos.ts";

const SEED = Number(Deno.env.get("VIGIA_SEED") ?? 2026);

Deno.test(`chaos: SIGKILLs, restarts and outages for 25 s lose and double nothing (seed ${SEED})`, async () => {
  const faultLog: string[] = [];
  const result = await runChaos({
    seconds: 25,
    seed: SEED,
    onFault: (line) => faultLog.push(line),
  });
  const line = formatChaos(result);
  await Deno.stderr.write(new TextEncoder().encode(`chaos ${line}\n`));
  const context = `${line}\n${faultLog.join("\n")}\n${result.examples.join("\n")}`;
  assert.ok(result.finished, `the sensors finished: ${context}`);
  assert.equal(result.acknowledged, result.expected, context);
  assert.equal(result.dropped, 0, context);
  assert.deepEqual(
    { lost: result.lost, duplicated: result.duplicated, wrong: result.wrong },
    { lost: 0, duplicated: 0, wrong: 0 },
    context,
  );
  assert.equal(result.stored, result.expected, context);
  assert.deepEqual(result.integrity, result.integrity.map(() => "ok"), context);
  const injected = FAULT_KINDS.reduce((n, kind) => n + result.faults[kind], 0);
  assert.ok(injected >= 5, `faults were injected: ${context}`);
});
