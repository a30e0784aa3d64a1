/**
 * `deno task certs --sign CSR` as a plant uses it: the sensor's key made on
 * the "device" with openssl, only the CSR handed to certs.ts (through the
 * launcher, so with exactly the permissions its flags name), and a real
 * gateway serving the sensor with the signed certificate and the device's
 * key. CSRs with a subject the gateway would not take, or whose signature
 * does not verify, are refused and nothing is written.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeReading } from "../protocol/mod.ts";
import { closeQuietly, connectSensor, hasAck, readFrames, startGateway } from "./_link.ts";
import { openssl, runCerts, testPki } from "./_pki.ts";
import { testReading } from "./_reading.ts";

const decoder = new TextDecoder();

/** A sensor "device": its own key (PKCS#8, as docs/deploy.md makes it) and a CSR for `subject`. */
async function device(dir: string, subject: string): Promise<{ key: string; csr: string }> {
  await Deno.mkdir(dir, { recursive: true });
  const key = join(dir, "sensor.key");
  const csr = join(dir, "sensor.csr");
  for (
    const args of [
      ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
      ["req", "-new", "-key", key, "-subj", subject, "-out", csr],
    ]
  ) {
    const output = await openssl(args);
    assert.ok(output.success, decoder.decode(output.stderr));
  }
  return { key, csr };
}

/** The extensions and validity of a certificate file, as openssl prints them. */
async function profile(cert: string): Promise<string> {
  const output = await openssl([
    "x509",
    "-in",
    cert,
    "-noout",
    "-ext",
    "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName",
    "-issuer",
    "-startdate",
    "-enddate",
  ]);
  assert.ok(output.success, decoder.decode(output.stderr));
  // Dates to the day: the two certificates are made seconds apart.
  return decoder.decode(output.stdout).replace(/\d\d:\d\d:\d\d /g, "");
}

Deno.test("certs --sign: a CSR made on the device is signed and the gateway serves that sensor", async () => {
  const pki = await testPki(1);
  const deviceDir = await Deno.makeTempDir({ prefix: "vigia-device-" });
  const spoolDir = await Deno.makeTempDir({ prefix: "vigia-sign-gw-" });
  try {
    const { key, csr } = await device(deviceDir, "/CN=sensor-42");
    const output = await runCerts(pki.dir, ["--sign", csr]);
    const stderr = decoder.decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(stderr, /signed .*sensor\.csr: .*sensors\/sensor-42\.crt for sensor 42/);
    const cert = pki.sensorCert(42);
    assert.equal((await Deno.stat(cert)).mode! & 0o777, 0o644);
    await assert.rejects(Deno.stat(pki.sensorKey(42)), Deno.errors.NotFound);
    assert.equal(await profile(cert), await profile(pki.sensorCert(1)));

    await using gateway = await startGateway(pki, spoolDir);
    const conn = await connectSensor(gateway.port, pki, 42, {
      cert: await Deno.readTextFile(cert),
      key: await Deno.readTextFile(key),
    });
    try {
      await conn.write(encodeReading(testReading(42, 1)));
      const { frames } = await readFrames(conn, (f) => hasAck(f, 1), 5_000);
      assert.ok(hasAck(frames, 1), `the gateway acknowledges sensor 42: ${gateway.output()}`);
    } finally {
      closeQuietly(conn);
    }

    // Where --sign writes it is where --revoke looks for it.
    const revoked = await runCerts(pki.dir, ["--revoke", "42"]);
    assert.equal(revoked.code, 0, decoder.decode(revoked.stderr));
  } finally {
    await Deno.remove(deviceDir, { recursive: true });
    await Deno.remove(spoolDir, { recursive: true });
  }
});

Deno.test("certs --sign refuses a CSR the gateway would not take, and writes nothing", async (t) => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-device-" });
  const refused = async (csr: string, message: RegExp, args: string[] = []) => {
    const before = [...Deno.readDirSync(pki.sensorsDir)].map((entry) => entry.name).sort();
    const output = await runCerts(pki.dir, ["--sign", csr, ...args]);
    const stderr = decoder.decode(output.stderr);
    assert.equal(output.code, 1, stderr);
    assert.match(stderr, message);
    const after = [...Deno.readDirSync(pki.sensorsDir)].map((entry) => entry.name).sort();
    assert.deepEqual(after, before);
  };
  try {
    for (
      const [index, subject] of [
        "/CN=sensor-007",
        "/CN=gateway",
        "/O=Plant/CN=sensor-5",
        "/CN=sensor-4294967296",
      ].entries()
    ) {
      await t.step(`subject ${subject}`, async () => {
        const { csr } = await device(join(dir, `subject-${index}`), subject);
        await refused(csr, /Cannot sign ".*": its subject must be exactly CN=sensor-<id>/);
      });
    }

    await t.step("a signature that does not verify", async () => {
      const { csr } = await device(join(dir, "forged"), "/CN=sensor-9");
      const der = await openssl(["req", "-in", csr, "-outform", "DER"]);
      const bytes = der.stdout.slice();
      bytes[bytes.length - 5]! ^= 1; // inside the signature
      const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${
        bytes.toBase64().replace(/.{64}/g, "$&\n")
      }\n-----END CERTIFICATE REQUEST-----\n`;
      await Deno.writeTextFile(csr, pem);
      await refused(csr, /Cannot sign ".*": its signature does not verify/);
    });

    await t.step("not a CSR, or no such file", async () => {
      const { key } = await device(join(dir, "key"), "/CN=sensor-9");
      await refused(key, /not a PEM certificate signing request/);
      await refused(join(dir, "missing.csr"), /Cannot sign ".*missing\.csr": no such file/);
    });

    await t.step("a key made by certs.ts beside the certificate it would replace", async () => {
      const { csr } = await device(join(dir, "one"), "/CN=sensor-1");
      await refused(csr, /sensor-1\.key is beside .*sensor-1\.crt/);
    });

    await t.step("--force with --sign: exit 2, the CA untouched", async () => {
      const { csr } = await device(join(dir, "force"), "/CN=sensor-8");
      const ca = await Deno.readTextFile(pki.caCert);
      const output = await runCerts(pki.dir, ["--sign", csr, "--force"]);
      assert.equal(output.code, 2);
      assert.match(decoder.decode(output.stderr), /Cannot combine --sign with --force/);
      assert.equal(await Deno.readTextFile(pki.caCert), ca);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
