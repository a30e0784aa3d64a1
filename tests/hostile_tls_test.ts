/**
 * Who may not come through the gateway's door, as a real gateway process on
 * 127.0.0.1: every kind of certificate an attacker on the plant network
 * could present, plaintext, and TLS 1.0/1.1 (spoken by `openssl s_client`,
 * since Deno's rustls client never offers them). Each is refused before a
 * frame is read, the gateway logs one line saying why, and a sensor with a
 * plant certificate is served throughout.
 *
 * gateway_security_test.ts already proves the ERROR codes of the framing
 * rules and that no certificate / another CA / plaintext fail at all; this
 * file adds the certificates it does not try, the protocol versions, and
 * the reason each refusal leaves in the log.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeReading, ERROR_CODES } from "../protocol/mod.ts";
import {
  closeQuietly,
  connectSensor,
  encodeReadings,
  errorCode,
  hasAck,
  readFrames,
  servedCheck,
  startGateway,
  waitUntil,
} from "./_link.ts";
import { testReading } from "./_reading.ts";
import { clientCert, datedCert, type Identity, openssl, testPki } from "./_pki.ts";
import { gatewayMetric, metricsPort } from "./_faults.ts";

/** Connects with `identity` and tries to get one reading ACKed; true if the gateway ever ACKs. */
async function tryReading(port: number, caCert: string, identity?: Identity): Promise<boolean> {
  let conn: Deno.TlsConn | undefined;
  try {
    conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [caCert],
      ...(identity ?? {}),
    });
    await conn.handshake();
    await conn.write(encodeReading(testReading(1, 1)));
    const { frames } = await readFrames(conn, (f) => hasAck(f, 1), 2_000);
    return hasAck(frames, 1);
  } catch {
    return false; // refused during or right after the handshake
  } finally {
    if (conn) closeQuietly(conn);
  }
}

Deno.test("gateway refuses every certificate but a valid plant sensor's, TLS below 1.2 and plaintext, logging why", async (t) => {
  const pki = await testPki(3);
  const otherPki = await testPki(1);
  const caCert = await Deno.readTextFile(pki.caCert);
  const dir = await Deno.makeTempDir({ prefix: "vigia-hostile-tls-" });
  await using gateway = await startGateway(pki, dir, { args: ["--metrics-port", "0"] });
  const metrics = await metricsPort(gateway);
  const port = gateway.port;
  const assertServing = servedCheck(port, pki, 3);
  /** The log lines that appeared while `action` ran (and up to 3 s after, for `pattern`). */
  const loggedDuring = async (action: () => Promise<void>, pattern: RegExp) => {
    const before = gateway.lines().length;
    await action();
    await waitUntil(
      () => gateway.lines().slice(before).some((line) => pattern.test(line)),
      3_000,
      `a log line matching ${pattern}`,
    );
    return gateway.lines().slice(before).find((line) => pattern.test(line))!;
  };
  let refusals = 0;
  /** `openssl s_client` to the gateway over `version` with sensor 1's plant certificate. */
  const sClient = (version: string) => [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    `-${version}`,
    "-CAfile",
    pki.caCert,
    "-cert",
    pki.sensorCert(1),
    "-key",
    pki.sensorKey(1),
  ];
  /** Presents `identity`: never ACKed, one WARN line with a reason matching `why`. */
  const assertRefused = async (identity: Identity | undefined, why: RegExp) => {
    const line = await loggedDuring(async () => {
      assert.equal(await tryReading(port, caCert, identity), false, "no ACK for an intruder");
    }, /WARN rejected TLS connection/);
    assert.match(line, /peer=127\.0\.0\.1:\d+/);
    assert.match(line, why);
    refusals++;
    await assertServing();
  };

  try {
    await t.step("a plant sensor is served", assertServing);

    await t.step("no client certificate", async () => {
      await assertRefused(
        undefined,
        /reason=.*(no client certificate|PEER_DID_NOT_RETURN_A_CERTIFICATE)/,
      );
    });

    await t.step("a self-signed certificate claiming to be sensor 1", async () => {
      await assertRefused(
        await clientCert(dir, "sensor-1"),
        /reason="self-signed certificate \\"CN=sensor-1\\""/,
      );
    });

    await t.step("a sensor certificate from another CA", async () => {
      await assertRefused(
        {
          cert: await Deno.readTextFile(otherPki.sensorCert(1)),
          key: await Deno.readTextFile(otherPki.sensorKey(1)),
        },
        /reason=.*CN=sensor-1.*(not signed by its key|not by the plant CA)/,
      );
    });

    await t.step("a plant certificate that expired", async () => {
      const expired = await datedCert(pki, dir, "expired", {
        start: "20200101000000Z",
        end: "20200201000000Z",
      });
      await assertRefused(expired, /reason=.*CN=sensor-1.* expired on 2020-02-01T00:00:00\.000Z/);
    });

    await t.step("a plant certificate not yet valid", async () => {
      const future = await datedCert(pki, dir, "future", {
        start: "20990101000000Z",
        end: "20990201000000Z",
      });
      await assertRefused(
        future,
        /reason=.*CN=sensor-1.* not valid before 2099-01-01T00:00:00\.000Z/,
      );
    });

    await t.step("the gateway's own certificate (server auth only) used as a client", async () => {
      await assertRefused(
        {
          cert: await Deno.readTextFile(pki.gatewayCert),
          key: await Deno.readTextFile(pki.gatewayKey),
        },
        /reason=.*CN=vigia-gateway.*clientAuth/,
      );
    });

    await t.step("plaintext TCP carrying a valid frame", async () => {
      const line = await loggedDuring(async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          await conn.write(encodeReading(testReading(1, 1)));
          const buffer = new Uint8Array(256);
          while ((await conn.read(buffer).catch(() => null)) !== null) { /* until closed */ }
        } finally {
          closeQuietly(conn);
        }
      }, /WARN rejected TLS connection/);
      assert.match(line, /reason="not TLS \(plaintext or another protocol\)/);
      refusals++;
      await assertServing();
    });

    for (const version of ["tls1", "tls1_1"] as const) {
      await t.step(`openssl s_client -${version}: no handshake`, async () => {
        let output: Deno.CommandOutput | undefined;
        const line = await loggedDuring(async () => {
          // OpenSSL 3 refuses TLS < 1.2 itself at the default security level.
          output = await openssl([...sClient(version), "-cipher", "DEFAULT@SECLEVEL=0"]);
        }, /WARN rejected TLS connection/);
        const text = new TextDecoder().decode(output!.stdout) +
          new TextDecoder().decode(output!.stderr);
        assert.equal(output!.success, false, text);
        assert.match(text, /alert (handshake failure|protocol version)/, "the gateway said no");
        assert.match(text, /Cipher is \(NONE\)/, "no session was set up");
        assert.match(line, /reason="the client offers no TLS 1\.2 or 1\.3/);
        refusals++;
        await assertServing();
      });
    }

    await t.step(
      "openssl s_client -tls1_2 and -tls1_3 with a plant certificate get in",
      async () => {
        for (const version of ["tls1_2", "tls1_3"]) {
          const output = await new Deno.Command("openssl", {
            args: [...sClient(version), "-quiet"],
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          const writer = output.stdin.getWriter();
          await writer.write(encodeReading(testReading(1, 100 + version.length)));
          // Read the ACK, then hang up.
          const reader = output.stdout.getReader();
          const { value } = await Promise.race([
            reader.read(),
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error(`no ACK over ${version}`)), 5_000)
            ),
          ]);
          assert.equal(value?.[3], 0x02, `an ACK frame over ${version}`);
          await writer.close();
          reader.releaseLock();
          output.kill("SIGTERM");
          await output.output();
        }
      },
    );

    await t.step(
      "sensor 1's certificate sending sensor 2's readings: ERROR 2, logged",
      async () => {
        const line = await loggedDuring(async () => {
          const conn = await connectSensor(port, pki, 1);
          try {
            await conn.write(encodeReadings([testReading(2, 1)]));
            const { frames, closed } = await readFrames(conn, () => false, 3_000);
            assert.equal(errorCode(frames), ERROR_CODES.identity);
            assert.ok(closed);
            assert.ok(!frames.some((f) => f.type === "ack"), "nothing of sensor 2's is ACKed");
          } finally {
            closeQuietly(conn);
          }
        }, /WARN closing sensor connection/);
        assert.match(
          line,
          /sensor=1 .*error=2 .*reading for sensor 2 on a connection authorised for sensor 1/,
        );
      },
    );

    assert.ok((await gatewayMetric(metrics, "tls_rejected")) >= refusals);
  } finally {
    const status = await gateway.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, gateway.output());
  }
});
