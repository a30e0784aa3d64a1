/**
 * The pure and file-level pieces of issue 19, on real files and a real
 * openssl-made CRL: the CRL reader, token files with rotation, and the
 * failed-attempt limiter and authorizer (in-process, through
 * `createHandler`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import {
  parseConfig as parseGatewayConfig,
  permissions as gatewayPermissions,
} from "../gateway.ts";
import { CrlError, parseCrl } from "../gateway/crl.ts";
import { RevocationList } from "../gateway/revocation.ts";
import { createLogger } from "../lib/log.ts";
import { TokenFile, TokenSet } from "../lib/token_file.ts";
import { FailureLimiter } from "../server/auth.ts";
import { createHandler } from "../server/handler.ts";
import { sqliteStorage } from "../server/sqlite_storage.ts";
import { openStore } from "../server/store.ts";
import { apiReading } from "./_api.ts";
import { runCerts, testPki } from "./_pki.ts";
import { waitUntil } from "./_link.ts";
import { seededRandom } from "./_random.ts";

/** A PKI of its own (revocation changes it), in a temporary directory. */
async function revocablePki(): Promise<
  { dir: string; ca: X509Certificate; serial: (id: number) => Promise<string> } & AsyncDisposable
> {
  const parent = await Deno.makeTempDir({ prefix: "vigia-revoke-" });
  const dir = join(parent, "certs");
  const made = await runCerts(dir, ["--sensors", "3"]);
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
  return {
    dir,
    ca: new X509Certificate(await Deno.readTextFile(join(dir, "ca.crt"))),
    serial: async (id) =>
      new X509Certificate(await Deno.readTextFile(join(dir, "sensors", `sensor-${id}.crt`)))
        .serialNumber,
    [Symbol.asyncDispose]: () => Deno.remove(parent, { recursive: true }),
  };
}

async function revoke(dir: string, id: number): Promise<string> {
  const output = await runCerts(dir, ["--revoke", String(id)]);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.ok(output.success, stderr);
  return stderr;
}

const quiet = createLogger("test", { write: () => {} });

Deno.test("certs --revoke writes a CRL that parseCrl() reads back, verified with the plant CA", async () => {
  await using pki = await revocablePki();
  assert.match(await revoke(pki.dir, 2), /revoked sensor 2 \(certificate serial [0-9A-F]+\)/);
  assert.match(await revoke(pki.dir, 2), /sensor 2 was already revoked/);
  await revoke(pki.dir, 3);
  const pem = await Deno.readTextFile(join(pki.dir, "crl.pem"));
  const crl = parseCrl(pem, pki.ca);
  assert.deepEqual(
    [...crl.revoked.keys()].sort(),
    [await pki.serial(2), await pki.serial(3)].sort(),
  );
  assert.ok(!crl.revoked.has(await pki.serial(1)));
  const entry = crl.revoked.get(await pki.serial(2))!;
  assert.ok(Math.abs(entry.revokedAt - Date.now()) < 600_000, "revocation date is now");
  assert.ok(crl.nextUpdate! > Date.now() + 9 * 365 * 86_400_000, "valid as long as the CA");
  assert.equal((await Deno.stat(join(pki.dir, "crl.pem"))).mode! & 0o777, 0o644);

  const missing = await runCerts(pki.dir, ["--revoke", "9"]);
  assert.equal(missing.code, 1);
  assert.match(
    new TextDecoder().decode(missing.stderr),
    /Cannot revoke sensor 9: .*does not exist/,
  );
  const both = await runCerts(pki.dir, ["--revoke", "1", "--force"]);
  assert.equal(both.code, 2);
});

Deno.test("certs writes server.crt and server.key for HTTPS, signed by the plant CA", async () => {
  const pki = await testPki(1);
  const ca = new X509Certificate(await Deno.readTextFile(pki.caCert));
  const server = new X509Certificate(await Deno.readTextFile(pki.serverCert));
  assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey));
  assert.match(server.subjectAltName ?? "", /DNS:localhost/);
  assert.match(server.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
  assert.equal((await Deno.stat(pki.serverKey)).mode! & 0o777, 0o600);
});

Deno.test("certs --server-name puts the server's real names in server.crt, and only there", async () => {
  const parent = await Deno.makeTempDir({ prefix: "vigia-server-name-" });
  try {
    const dir = join(parent, "certs");
    const made = await runCerts(dir, [
      "--sensors",
      "1",
      "--server-name",
      "plant-server.example,10.0.0.5",
    ]);
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    const san = (file: string) =>
      Deno.readTextFile(join(dir, file)).then((pem) => new X509Certificate(pem).subjectAltName);
    assert.equal(
      await san("server.crt"),
      "DNS:localhost, IP Address:127.0.0.1, DNS:plant-server.example, IP Address:10.0.0.5",
    );
    assert.equal(await san("gateway.crt"), "DNS:localhost, IP Address:127.0.0.1");
    const bad = await runCerts(dir, ["--server-name", "a b"]);
    assert.equal(bad.code, 2);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("parseCrl() refuses a CRL of another CA, a flipped bit, and any damage with CrlError only", async () => {
  await using pki = await revocablePki();
  await using other = await revocablePki();
  await revoke(pki.dir, 1);
  const pem = await Deno.readTextFile(join(pki.dir, "crl.pem"));
  assert.throws(() => parseCrl(pem, other.ca), /signature does not verify/);
  const der = Uint8Array.fromBase64(pem.replace(/-----[^-]+-----|\s/g, ""));
  assert.equal(parseCrl(der, pki.ca).revoked.size, 1);
  const random = seededRandom(19);
  for (let i = 0; i < 2_000; i++) {
    const damaged = der.slice(0, i % 3 === 0 ? Math.floor(random() * der.length) : der.length);
    if (i % 3 !== 0) {
      damaged[Math.floor(random() * damaged.length)]! ^= 1 << Math.floor(random() * 8);
    }
    assert.throws(() => parseCrl(damaged, pki.ca), CrlError, `case ${i}`);
  }
  assert.throws(() => parseCrl("not a crl", pki.ca), CrlError);
});

Deno.test("RevocationList reloads on change and SIGHUP, and keeps its list when the file goes bad", async () => {
  await using pki = await revocablePki();
  const path = join(pki.dir, "crl.pem");
  const [serial2, serial3] = [await pki.serial(2), await pki.serial(3)];
  const controller = new AbortController();
  let reloads = 0;
  const lines: string[] = [];
  const log = createLogger("test", { write: (line) => lines.push(line) });
  const logged = (pattern: RegExp) => () => lines.some((line) => pattern.test(line));
  try {
    const list = await RevocationList.open(path, {
      ca: pki.ca,
      log,
      signal: controller.signal,
      intervalMs: 50,
    });
    list.onReload(() => reloads++);
    assert.equal(list.size, 0, "no crl.pem: nothing revoked");
    await revoke(pki.dir, 2);
    await waitUntil(() => list.check(serial2) !== undefined, 5_000, "the new CRL");
    assert.equal(list.check(serial2.toLowerCase())?.serial, serial2, "any hex form");
    assert.equal(reloads, 1);
    await Deno.writeTextFile(path, "garbage");
    await waitUntil(logged(/no -----BEGIN X509 CRL.*keeping the 1 revocations/), 5_000, "refusal");
    assert.ok(list.check(serial2), "still revoked");
    await Deno.remove(path);
    await waitUntil(logged(/was removed; keeping the 1 revocations/), 5_000, "removal");
    assert.ok(list.check(serial2), "still revoked after the file is gone");
    await revoke(pki.dir, 3);
    await waitUntil(() => list.check(serial3) !== undefined, 5_000, "two revocations");
    assert.equal(list.size, 2);
    const before = reloads;
    Deno.kill(Deno.pid, "SIGHUP");
    await waitUntil(() => reloads > before, 5_000, "a reload on SIGHUP");
  } finally {
    controller.abort();
  }
});

Deno.test("RevocationList.open() refuses to start with a CRL it cannot enforce", async () => {
  await using pki = await revocablePki();
  await using other = await revocablePki();
  await revoke(other.dir, 1);
  const path = join(pki.dir, "crl.pem");
  await Deno.copyFile(join(other.dir, "crl.pem"), path);
  await assert.rejects(
    RevocationList.open(path, { ca: pki.ca, log: quiet, signal: AbortSignal.abort() }),
    /signature does not verify with the plant CA's key \(.*crl\.pem\)/,
  );
});

Deno.test("TokenSet.parse() takes one token per line, skips blanks and comments, refuses empty files", () => {
  const tokens = TokenSet.parse("  alpha  \r\n\n# comment\nbeta\n", "f");
  assert.equal(tokens.size, 2);
  assert.ok(tokens.matches("alpha") && tokens.matches("beta"));
  for (const wrong of ["", "alph", "alpha ", "ALPHA", "# comment", "alphabeta"]) {
    assert.ok(!tokens.matches(wrong), wrong);
  }
  assert.throws(
    () => TokenSet.parse("\n# only a comment\n", '--x "f"'),
    /--x "f": it holds no token/,
  );
  assert.throws(() => TokenSet.parse("good\nsecret value\n", "f"), (error: Error) => {
    assert.match(error.message, /line 2 holds a space inside a token/);
    assert.doesNotMatch(error.message, /secret/, "never quotes a line");
    return true;
  });
  assert.ok(tokens.overlaps(TokenSet.parse("beta\n", "g")));
  assert.ok(!tokens.overlaps(TokenSet.parse("gamma\n", "g")));
});

Deno.test("TokenFile rotates without a restart: new token in, old token out, bad edits ignored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-tokens-" });
  const path = join(dir, "read.tokens");
  const controller = new AbortController();
  const lines: string[] = [];
  const log = createLogger("test", { write: (line) => lines.push(line) });
  try {
    await Deno.writeTextFile(path, "old-token-1234567890\n");
    const file = await TokenFile.open(path, {
      flag: "read-token-file",
      log,
      signal: controller.signal,
      intervalMs: 50,
      check: (tokens) => tokens.matches("ingest-token") ? "holds the ingest token" : undefined,
    });
    assert.ok(file.matches("old-token-1234567890"));
    // Step 1 of a rotation: both in force.
    await Deno.writeTextFile(path, "old-token-1234567890\nnew-token-0987654321\n");
    await waitUntil(() => file.matches("new-token-0987654321"), 5_000, "the new token");
    assert.ok(file.matches("old-token-1234567890"));
    // Step 2: the old one out, by a rename over the file as editors and tools do.
    await Deno.writeTextFile(`${path}.tmp`, "new-token-0987654321\n");
    await Deno.rename(`${path}.tmp`, path);
    await waitUntil(() => !file.matches("old-token-1234567890"), 5_000, "the old token gone");
    assert.ok(file.matches("new-token-0987654321"));
    // An emptied file or one with the ingest token locks nobody out.
    await Deno.writeTextFile(path, "\n");
    await waitUntil(
      () => lines.some((line) => /holds no token; keeping the 1 tokens/.test(line)),
      5_000,
      "refusal",
    );
    await Deno.writeTextFile(path, "ingest-token\n");
    await waitUntil(
      () => lines.some((line) => /holds the ingest token; keeping/.test(line)),
      5_000,
      "refusal",
    );
    assert.ok(file.matches("new-token-0987654321"));
    assert.ok(!lines.join("\n").includes("token-0987654321"), "no token in the log");
    assert.ok(!lines.join("\n").includes("ingest-token\n"));
  } finally {
    controller.abort();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FailureLimiter holds an address back after ten failures in a minute, per address", () => {
  let now = 1_000_000;
  const limiter = new FailureLimiter({ now: () => now, maxAddresses: 3 });
  for (let i = 1; i <= 9; i++) {
    assert.equal(limiter.fail("10.0.0.1"), i);
    now += 1_000;
  }
  assert.equal(limiter.retryAfterMs("10.0.0.1"), 0, "nine: still allowed");
  limiter.fail("10.0.0.1"); // the tenth, at 1_009_000
  assert.equal(limiter.retryAfterMs("10.0.0.1"), 51_000, "until the first is a minute old");
  assert.equal(limiter.retryAfterMs("10.0.0.2"), 0, "another address is not affected");
  now = 1_060_000; // the first failure left the window
  assert.equal(limiter.retryAfterMs("10.0.0.1"), 0);
  assert.equal(limiter.fail("10.0.0.1"), 10, "nine in the window plus this one");
  assert.equal(limiter.retryAfterMs("10.0.0.1"), 1_000);
  now += 120_000;
  assert.equal(limiter.retryAfterMs("10.0.0.1"), 0, "all forgotten after a quiet minute");
  for (const address of ["a", "b", "c", "d"]) limiter.fail(address);
  assert.equal(limiter.size, 3, "bounded memory: the least recently failed is forgotten");
});

Deno.test("createHandler() with read tokens: none, wrong, valid, cross-use, /healthz open, 429 after ten", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-auth-" });
  const store = openStore(join(dir, "readings.db"));
  const lines: string[] = [];
  let now = 0;
  const handler = createHandler(sqliteStorage(store), {
    token: "ingest-token-abcdef",
    readTokens: TokenSet.parse("read-token-123456\n", "r"),
    limiter: new FailureLimiter({ now: () => now }),
    log: createLogger("server", { write: (line) => lines.push(line) }),
  });
  const from = (hostname: string) => ({
    remoteAddr: { transport: "tcp" as const, hostname, port: 1 },
  });
  const get = (path: string, token?: string, address = "10.0.0.1") =>
    handler(
      new Request(`http://127.0.0.1${path}`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      }),
      from(address),
    );
  const post = (token: string, address = "10.0.0.1") =>
    handler(
      new Request("http://127.0.0.1/api/data", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(apiReading()),
      }),
      from(address),
    );
  const status = async (response: Promise<Response>) => {
    const answer = await response;
    await answer.body?.cancel();
    return answer.status;
  };
  try {
    for (
      const path of ["/api/readings", "/api/sensors", "/api/series", "/api/thresholds", "/metrics"]
    ) {
      assert.equal(await status(get(path)), 401, `${path} without a token`);
      assert.equal(
        await status(get(path, "read-token-123456")),
        200,
        `${path} with the read token`,
      );
    }
    assert.equal(await status(get("/healthz")), 200, "/healthz stays open");
    assert.equal(await status(post("ingest-token-abcdef")), 200, "the ingest token writes");
    const crossRead = await get("/api/readings", "ingest-token-abcdef");
    assert.equal(crossRead.status, 403);
    assert.match((await crossRead.json()).error, /the ingest token cannot read/);
    const crossWrite = await post("read-token-123456");
    assert.equal(crossWrite.status, 403);
    assert.match((await crossWrite.json()).error, /a read token cannot write/);
    // Two failures so far; eight more wrong tokens from this address, then it is held back.
    for (let i = 0; i < 8; i++) assert.equal(await status(get("/api/sensors", `guess-${i}`)), 401);
    const held = await get("/api/sensors", "read-token-123456");
    assert.equal(held.status, 429, "even the right token, while held back");
    assert.equal(held.headers.get("retry-after"), "60");
    await held.body?.cancel();
    assert.equal(
      await status(get("/api/sensors", "read-token-123456", "10.0.0.2")),
      200,
      "others unaffected",
    );
    now += 60_001;
    assert.equal(await status(get("/api/sensors", "read-token-123456")), 200, "a minute later");
    const log = lines.join("\n");
    assert.match(
      log,
      /refused request address=10\.0\.0\.1 path=\/api\/sensors reason="wrong bearer token" failures_in_window=10/,
    );
    assert.match(log, /reason="the ingest token cannot read"/);
    assert.ok(!/guess-|read-token-123456|ingest-token-abcdef/.test(log), "no token in the log");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gateway permissions(): --ca is read for an https:// server, unless --certs already holds it", () => {
  const needs = (args: string[]) =>
    gatewayPermissions(parseGatewayConfig(args)).filter((need) => need.flag === "ca");
  assert.deepEqual(needs(["--server", "https://plant-server.lan:8080"]), []);
  assert.deepEqual(
    needs(["--server", "https://plant-server.lan:8080", "--ca", "/etc/vigia/ca.crt"]),
    [
      { kind: "read", path: "/etc/vigia/ca.crt", flag: "ca" },
    ],
  );
  assert.deepEqual(needs(["--ca", "/etc/vigia/ca.crt"]), [], "http:// verifies nothing");
});
