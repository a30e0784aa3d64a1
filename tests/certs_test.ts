import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import * as tls from "node:tls";
import { certsPaths, OPCUA_APPLICATION_URI } from "../certs.ts";
import { ROOT } from "./_process.ts";
import { runCerts as runCertsProcess } from "./_pki.ts";

/** Runs `deno task certs` as a process, allowed to write only `dir`. */
async function runCerts(dir: string, args: string[]) {
  const output = await runCertsProcess(dir, args);
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

async function withTempDir(test: (dir: string) => Promise<void>): Promise<void> {
  const parent = await Deno.makeTempDir({ prefix: "vigia-certs-test-" });
  try {
    await test(join(parent, "certs"));
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
}

async function readCert(path: string): Promise<X509Certificate> {
  return new X509Certificate(await Deno.readTextFile(path));
}

Deno.test("certs.ts creates the CA, gateway and sensor certificates, the token, keys mode 0600", async () => {
  await withTempDir(async (dir) => {
    const { code, stderr } = await runCerts(dir, ["--sensors", "3"]);
    assert.equal(code, 0, stderr);
    const paths = certsPaths(dir);
    const ca = await readCert(paths.caCert);
    const gateway = await readCert(paths.gatewayCert);
    assert.ok(ca.ca);
    assert.ok(gateway.checkIssued(ca) && gateway.verify(ca.publicKey));
    assert.match(gateway.subjectAltName ?? "", /DNS:localhost/);
    assert.match(gateway.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.ok(!gateway.ca);
    for (const id of [1, 2, 3]) {
      const sensor = await readCert(paths.sensorCert(id));
      assert.equal(sensor.subject, `CN=sensor-${id}`);
      assert.ok(sensor.checkIssued(ca) && sensor.verify(ca.publicKey));
      assert.ok(!sensor.ca);
    }
    for (const key of [paths.caKey, paths.gatewayKey, paths.sensorKey(1), paths.token]) {
      assert.equal((await Deno.stat(key)).mode! & 0o777, 0o600, key);
    }
    const token = (await Deno.readTextFile(paths.token)).trim();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url
    assert.ok(!stderr.includes(token), "the token must never be logged");
  });
});

Deno.test("certs.ts marks sensor certificates for client auth and the gateway's for server auth", async () => {
  await withTempDir(async (dir) => {
    assert.equal((await runCerts(dir, ["--sensors", "1"])).code, 0);
    const paths = certsPaths(dir);
    const text = async (path: string) => {
      const output = await new Deno.Command("openssl", {
        args: ["x509", "-in", path, "-noout", "-text"],
      })
        .output();
      return new TextDecoder().decode(output.stdout);
    };
    assert.match(await text(paths.sensorCert(1)), /TLS Web Client Authentication/);
    assert.doesNotMatch(await text(paths.sensorCert(1)), /TLS Web Server Authentication/);
    assert.match(await text(paths.gatewayCert), /TLS Web Server Authentication/);
  });
});

Deno.test("certs.ts makes the gateway's OPC UA application certificate: self-signed RSA with its URI", async () => {
  await withTempDir(async (dir) => {
    assert.equal((await runCerts(dir, ["--sensors", "1"])).code, 0);
    const paths = certsPaths(dir);
    const cert = await readCert(paths.opcuaCert);
    assert.match(cert.subjectAltName ?? "", new RegExp(`URI:${OPCUA_APPLICATION_URI}`));
    assert.equal(cert.publicKey.asymmetricKeyType, "rsa");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.ok(cert.issuer === cert.subject && cert.verify(cert.publicKey), "self-signed");
    assert.equal((await Deno.stat(paths.opcuaKey)).mode! & 0o777, 0o600);
  });
});

Deno.test("certs.ts is idempotent, adds only missing sensors, and regenerates all with --force", async () => {
  await withTempDir(async (dir) => {
    const paths = certsPaths(dir);
    assert.equal((await runCerts(dir, ["--sensors", "2"])).code, 0);
    const caBefore = await Deno.readTextFile(paths.caCert);
    const sensorBefore = await Deno.readTextFile(paths.sensorCert(2));
    const tokenBefore = await Deno.readTextFile(paths.token);

    const again = await runCerts(dir, ["--sensors", "2"]);
    assert.equal(again.code, 0);
    assert.match(again.stderr, /nothing to do/);
    assert.equal(await Deno.readTextFile(paths.caCert), caBefore);

    const more = await runCerts(dir, ["--sensors", "4"]);
    assert.match(more.stderr, /created 2 sensor certificates/);
    assert.equal(await Deno.readTextFile(paths.sensorCert(2)), sensorBefore);
    const ca = await readCert(paths.caCert);
    assert.ok((await readCert(paths.sensorCert(4))).verify(ca.publicKey));

    assert.equal((await runCerts(dir, ["--sensors", "1", "--force"])).code, 0);
    assert.notEqual(await Deno.readTextFile(paths.caCert), caBefore);
    assert.notEqual(await Deno.readTextFile(paths.token), tokenBefore);
    await assert.rejects(Deno.stat(paths.sensorCert(4)), Deno.errors.NotFound);
  });
});

Deno.test("certs.ts refuses to make a new CA while certificates of the old one remain", async () => {
  await withTempDir(async (dir) => {
    assert.equal((await runCerts(dir, ["--sensors", "1"])).code, 0);
    await Deno.remove(certsPaths(dir).caCert);
    const { code, stderr } = await runCerts(dir, ["--sensors", "1"]);
    assert.equal(code, 2);
    assert.match(stderr, /--force/);
  });
});

Deno.test("certs.ts started by hand without access to --out fails at start, naming the permission", async () => {
  const elsewhere = await Deno.makeTempDir({ prefix: "vigia-certs-denied-" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-run=openssl", "certs.ts", "--out", elsewhere],
      cwd: ROOT,
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.match(stderr, new RegExp(`--allow-write=${elsewhere}`));
  } finally {
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("certs.ts exits 2 with a hint for a bad flag", async () => {
  await withTempDir(async (dir) => {
    const { code, stderr } = await runCerts(dir, ["--sensors", "many"]);
    assert.equal(code, 2);
    assert.match(stderr, /Cannot parse --sensors: expected an integer, got "many"/);
    assert.match(stderr, /--help/);
  });
});

Deno.test("certs.ts certificates pass a real mutual-TLS handshake and carry the sensor's CN", async () => {
  await withTempDir(async (dir) => {
    assert.equal((await runCerts(dir, ["--sensors", "2"])).code, 0);
    const paths = certsPaths(dir);
    const read = (path: string) => Deno.readTextFileSync(path);
    const peer = Promise.withResolvers<string>();
    const server = tls.createServer({
      key: read(paths.gatewayKey),
      cert: read(paths.gatewayCert),
      ca: read(paths.caCert),
      requestCert: true,
      rejectUnauthorized: true,
    }, (socket) => {
      // A subject field may repeat (string[]) in the type; a sensor certificate has one CN.
      peer.resolve(String(socket.getPeerCertificate().subject.CN));
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const connection = await Deno.connectTls({
        hostname: "127.0.0.1",
        port,
        caCerts: [read(paths.caCert)],
        cert: read(paths.sensorCert(2)),
        key: read(paths.sensorKey(2)),
      });
      await connection.handshake();
      assert.equal(await peer.promise, "sensor-2");
      connection.close();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
