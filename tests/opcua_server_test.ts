import assert from "node:assert/strict";
import { join } from "node:path";
import { certificateFingerprint, readCertificate } from "../gateway/opcua_pem.ts";
import { startProgram } from "./_process.ts";

Deno.test("opcua_server.ts names its endpoint and pinnable certificate, keeps it across restarts, exits 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "opcua-server-test-" });
  const pki = join(dir, "pki");
  const allow = [`--allow-read=${dir}`, `--allow-write=${dir}`];
  try {
    const fingerprints: string[] = [];
    for (let run = 0; run < 2; run++) {
      const server = await startProgram("opcua_server.ts", ["--port", "0", "--pki", pki], {
        allow,
        timeoutMs: 60_000,
      });
      const line = server.lines().find((l) => l.includes("listening on"))!;
      assert.match(
        line,
        /listening on 127\.0\.0\.1:\d+ endpoint=opc\.tcp:\/\/127\.0\.0\.1:\d+\/UA\/Plant/,
      );
      const path = /certificate=(\S+)/.exec(line)![1]!;
      assert.ok(path.startsWith(pki), "the certificate lives in the --pki folder");
      const fingerprint = /sha256=(\S+)/.exec(line)![1]!;
      assert.equal(fingerprint, await certificateFingerprint(await readCertificate(path)));
      fingerprints.push(fingerprint);
      const status = await server.stop();
      assert.equal(status.code, 0, server.output());
    }
    assert.equal(fingerprints[0], fingerprints[1], "a restart presents the same certificate");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
