/**
 * TLS on the gateway → server hop and readers with tokens, on real
 * processes and real sockets: HTTPS with the plant's server certificate
 * (TLS 1.2+, nothing in clear), verification against the plant CA only by
 * the gateway and the query client, the off-loopback refusal, and read
 * tokens — none, wrong, rotated out, valid, and each token used across its
 * scope — for the REST API and the WebSocket.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig as parseServerConfig } from "../server.ts";
import { serverClient } from "../lib/tls.ts";
import { apiReading } from "./_api.ts";
import { freePort, gatewayMetric, metricsPort } from "./_faults.ts";
import {
  closeQuietly,
  connectSensor,
  encodeReadings,
  hasAck,
  readFrames,
  startGateway,
  waitUntil,
} from "./_link.ts";
import { testReading } from "./_reading.ts";
import { openssl, type TestPki, testPki } from "./_pki.ts";
import { ROOT, type RunningProgram, startProgram } from "./_process.ts";

/** server.ts over HTTPS with `cert`'s PKI's server certificate and `pki`'s ingest token. */
function startHttpsServer(
  pki: TestPki,
  dir: string,
  options: { certPki?: TestPki; args?: readonly string[]; port?: number } = {},
): Promise<RunningProgram> {
  const certPki = options.certPki ?? pki;
  return startProgram("server.ts", [
    "--port",
    String(options.port ?? 0),
    "--db",
    join(dir, "readings.db"),
    "--token-file",
    pki.token,
    "--tls-cert",
    certPki.serverCert,
    "--tls-key",
    certPki.serverKey,
    ...(options.args ?? []),
  ], { allow: [`--allow-read=${pki.dir},${certPki.dir},${dir}`, `--allow-write=${dir}`] });
}

async function withTempDir(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-https-" });
  try {
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function statusOf(response: Promise<Response>): Promise<number> {
  const answer = await response;
  await answer.body?.cancel();
  return answer.status;
}

Deno.test("server over HTTPS: TLS 1.2+ only, plaintext gets nothing, clients trust the plant CA only", async () => {
  const pki = await testPki(1);
  const other = await testPki(2); // an unrelated CA
  await withTempDir(async (dir) => {
    await using server = await startHttpsServer(pki, dir);
    const url = new URL(`https://127.0.0.1:${server.port}`);
    const plant = serverClient(url, await Deno.readTextFile(pki.caCert));
    const foreign = serverClient(url, await Deno.readTextFile(other.caCert));
    try {
      assert.equal(await statusOf(plant.fetch(`${url.origin}/healthz`)), 200);
      assert.equal(await statusOf(plant.fetch(`${url.origin}/api/readings`)), 200);
      await assert.rejects(foreign.fetch(`${url.origin}/healthz`), "a CA that did not sign it");
      await assert.rejects(fetch(`${url.origin}/healthz`), "no CA: Deno's public roots refuse it");
      await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`), "plain HTTP");

      // Plaintext byte for byte: no HTTP answer comes back in clear.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      try {
        await conn.write(new TextEncoder().encode("GET /api/readings HTTP/1.1\r\nHost: x\r\n\r\n"));
        const buffer = new Uint8Array(4096);
        const n = await conn.read(buffer).catch(() => null);
        const answer = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
        assert.doesNotMatch(answer, /HTTP\/1\.[01] \d{3}|"id"/, "nothing readable in clear");
      } finally {
        closeQuietly(conn);
      }

      const handshake = async (version: string) =>
        await openssl([
          "s_client",
          "-connect",
          `127.0.0.1:${server.port}`,
          version,
          "-cipher",
          "DEFAULT@SECLEVEL=0",
          "-CAfile",
          pki.caCert,
          "-verify_return_error",
        ]);
      assert.notEqual((await handshake("-tls1_1")).code, 0, "TLS 1.1 refused");
      assert.equal((await handshake("-tls1_2")).code, 0, "TLS 1.2 accepted");
      assert.equal((await handshake("-tls1_3")).code, 0, "TLS 1.3 accepted");
    } finally {
      plant.close();
      foreign.close();
    }
    assert.equal((await server.stop()).code, 0, server.output());
  });
});

Deno.test("gateway refuses a server certificate from another CA, keeps the readings spooled, delivers once it is right", async () => {
  const pki = await testPki(1);
  const other = await testPki(2);
  await withTempDir(async (dir) => {
    let server = await startHttpsServer(pki, dir, { certPki: other });
    const port = server.port;
    try {
      await using gateway = await startGateway(pki, dir, {
        server: `https://127.0.0.1:${port}`,
        args: ["--metrics-port", "0"],
      });
      const metrics = await metricsPort(gateway);
      const sensor = await connectSensor(gateway.port, pki, 1);
      try {
        await sensor.write(encodeReadings([1, 2, 3, 4, 5].map((seq) => testReading(1, seq))));
        const { frames } = await readFrames(sensor, (f) => hasAck(f, 5));
        assert.ok(hasAck(frames, 5), "ACKed: they are on the gateway's disk");
      } finally {
        closeQuietly(sensor);
      }
      const refused = await gateway.waitForLine(/cannot forward to the server/, 10_000);
      assert.match(refused, /the server's certificate is not trusted \(BadSignature\)/);
      assert.equal(await gatewayMetric(metrics, "spool_depth"), 5, "kept in the spool");
      assert.match(server.output(), /listening/);
      assert.doesNotMatch(server.output(), /stored/, "nothing reached the impostor");

      // The right certificate on the same port: the spool drains, each reading once.
      assert.equal((await server.stop()).code, 0);
      server = await startHttpsServer(pki, dir, { port });
      await waitUntil(
        async () => (await gatewayMetric(metrics, "spool_depth")) === 0,
        20_000,
        "drain",
      );
      const client = serverClient(
        new URL(`https://127.0.0.1:${port}`),
        await Deno.readTextFile(pki.caCert),
      );
      try {
        const response = await client.fetch(`https://127.0.0.1:${port}/api/readings?limit=100`);
        const readings = await response.json() as { seq: number }[];
        assert.deepEqual(readings.map((r) => r.seq).sort(), [1, 2, 3, 4, 5]);
      } finally {
        client.close();
      }
      assert.equal((await gateway.stop()).code, 0, gateway.output());
    } finally {
      await server.stop();
    }
  });
});

Deno.test("gateway says why it cannot forward: http:// to an HTTPS server, a server that is down", async () => {
  const pki = await testPki(1);
  await withTempDir(async (dir) => {
    await using server = await startHttpsServer(pki, dir);
    const down = await freePort();
    for (
      const [url, reason] of [
        [`http://127.0.0.1:${server.port}`, /\(is it an https:\/\/ server\?\)/],
        [`http://127.0.0.1:${down}`, /reason="Connection refused/],
      ] as const
    ) {
      const spool = await Deno.makeTempDir({ dir });
      await using gateway = await startGateway(pki, spool, { server: url });
      const sensor = await connectSensor(gateway.port, pki, 1);
      try {
        await sensor.write(encodeReadings([testReading(1, 1)]));
        await readFrames(sensor, (f) => hasAck(f, 1));
      } finally {
        closeQuietly(sensor);
      }
      const line = await gateway.waitForLine(/cannot forward to the server/, 10_000);
      assert.match(line, reason);
      assert.doesNotMatch(line, /reason="fetch failed"/);
      assert.equal((await gateway.stop()).code, 0, gateway.output());
    }
  });
});

Deno.test("read tokens on a real server: none, wrong, rotated out and valid, for REST and WebSocket", async () => {
  const pki = await testPki(1);
  await withTempDir(async (dir) => {
    const tokenFile = join(dir, "read.token");
    const [oldToken, newToken] = ["old-read-token-1234567890", "new-read-token-0987654321"];
    await Deno.writeTextFile(tokenFile, `${oldToken}\n`);
    await using server = await startHttpsServer(pki, dir, {
      args: ["--read-token-file", tokenFile],
    });
    const base = `https://127.0.0.1:${server.port}`;
    const client = serverClient(new URL(base), await Deno.readTextFile(pki.caCert));
    const httpClient = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.caCert)] });
    const get = (path: string, token?: string) =>
      statusOf(client.fetch(`${base}${path}`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      }));
    /** Whether a WebSocket to /api/live opens, with the token as a subprotocol or header. */
    const live = (token: string | undefined, via: "protocol" | "header" = "protocol") =>
      new Promise<string | false>((resolve) => {
        const protocols = [
          "vigia.live",
          ...(token && via === "protocol" ? [`vigia.token.${token}`] : []),
        ];
        const headers = token && via === "header" ? { authorization: `Bearer ${token}` } : {};
        const socket = new WebSocket(`wss://127.0.0.1:${server.port}/api/live`, {
          protocols,
          headers,
          client: httpClient,
        } as unknown as string[]);
        socket.onopen = () => {
          const protocol = socket.protocol;
          socket.onclose = () => resolve(protocol);
          socket.close();
        };
        socket.onerror = () => resolve(false);
      });
    try {
      for (const path of ["/api/readings", "/api/sensors", "/api/thresholds", "/metrics"]) {
        assert.equal(await get(path), 401, `${path}: no token`);
        assert.equal(await get(path, oldToken), 200, `${path}: valid token`);
      }
      assert.equal(await get("/api/sensors", "wrong-token"), 401, "wrong token");
      assert.equal(await get("/healthz"), 200, "/healthz stays open");
      assert.equal(await get("/"), 200, "the dashboard's page loads, to ask for the token");
      assert.equal(await live(undefined), false, "live feed: no token");
      assert.equal(await live("wrong-token"), false, "live feed: wrong token");
      assert.equal(await live(oldToken), "vigia.live", "live feed: the token as a subprotocol");
      assert.equal(
        await live(oldToken, "header"),
        "vigia.live",
        "live feed: the token as a header",
      );

      // Cross-use: the ingest token cannot read, a read token cannot write.
      assert.equal(await get("/api/readings", pki.tokenValue), 403);
      const write = (token: string) =>
        statusOf(client.fetch(`${base}/api/data`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(apiReading()),
        }));
      assert.equal(await write(oldToken), 403);
      assert.equal(await write(pki.tokenValue), 200);

      // Rotation without a restart: both, then only the new one.
      await Deno.writeTextFile(tokenFile, `${oldToken}\n${newToken}\n`);
      await server.waitForLine(/reloaded --read-token-file .*tokens=2/, 10_000);
      assert.equal(await get("/api/readings", newToken), 200);
      assert.equal(await get("/api/readings", oldToken), 200);
      await Deno.writeTextFile(tokenFile, `${newToken}\n`);
      await server.waitForLine(/reloaded --read-token-file .*tokens=1/, 10_000);
      assert.equal(await get("/api/readings", oldToken), 401, "rotated out");
      assert.equal(await live(oldToken), false, "rotated out of the live feed too");
      assert.equal(await get("/api/readings", newToken), 200);
      assert.equal(await live(newToken), "vigia.live");

      const log = server.output();
      assert.match(
        log,
        /refused request address=127\.0\.0\.1 path=\/api\/sensors reason="wrong bearer token"/,
      );
      assert.match(log, /reason="the ingest token cannot read"/);
      assert.match(log, /reason="a read token cannot write"/);
      for (const token of [oldToken, newToken, pki.tokenValue, "wrong-token"]) {
        assert.ok(!log.includes(token), "no token in the log");
      }
    } finally {
      client.close();
      httpClient.close();
    }
    assert.equal((await server.stop()).code, 0, server.output());
  });
});

Deno.test("server.ts refuses plain HTTP off loopback unless --plaintext, in one line, exit 2", async () => {
  await using refused = await startProgram("server.ts", ["--host", "0.0.0.0", "--port", "0"], {
    waitFor: null,
  });
  assert.equal((await refused.status).code, 2, refused.output());
  assert.match(
    refused.output(),
    /Cannot listen on "0\.0\.0\.0" in plain HTTP: .*--tls-cert certs\/server\.crt --tls-key certs\/server\.key .*--plaintext/,
  );
  assert.doesNotThrow(() => parseServerConfig(["--host", "0.0.0.0", "--plaintext"]));
  assert.doesNotThrow(() =>
    parseServerConfig(["--host", "10.0.0.5", "--tls-cert", "c", "--tls-key", "k"])
  );
  assert.doesNotThrow(() => parseServerConfig(["--host", "127.0.0.2"]), "loopback needs neither");
  assert.doesNotThrow(() => parseServerConfig(["--host", "::1"]));
  assert.throws(() => parseServerConfig(["--host", "::"]), /plain HTTP/);
  assert.throws(() => parseServerConfig(["--host", "plant-server"]), /plain HTTP/);
  assert.throws(
    () => parseServerConfig(["--tls-cert", "c"]),
    /--tls-cert and --tls-key go together/,
  );
});

Deno.test("query.ts verifies an https:// server with --ca and reads with --token-file", async () => {
  const pki = await testPki(1);
  const other = await testPki(2);
  await withTempDir(async (dir) => {
    await using server = await startHttpsServer(pki, dir, {
      args: ["--read-token-file", pki.readToken],
    });
    const query = async (args: readonly string[]) => {
      const program = await startProgram("query.ts", [
        "--server",
        `https://127.0.0.1:${server.port}`,
        "--once",
        ...args,
      ], { waitFor: null, allow: [`--allow-read=${pki.dir},${other.dir}`] });
      const status = await program.status;
      return { code: status.code, output: program.output() };
    };
    const good = await query(["--ca", pki.caCert, "--token-file", pki.readToken]);
    assert.equal(good.code, 0, good.output);
    const noToken = await query(["--ca", pki.caCert]);
    assert.equal(noToken.code, 1, noToken.output);
    assert.match(noToken.output, /401 .*\(this server needs a read token: --token-file FILE\)/);
    const ingestToken = await query(["--ca", pki.caCert, "--token-file", pki.token]);
    assert.equal(ingestToken.code, 1, ingestToken.output);
    assert.match(ingestToken.output, /403 .*--token-file must hold a read token/);
    const wrongCa = await query(["--ca", other.caCert, "--token-file", pki.readToken]);
    assert.equal(wrongCa.code, 1, wrongCa.output);
    assert.match(wrongCa.output, /the server's certificate is not trusted \(BadSignature\)/);
    const readToken = (await Deno.readTextFile(pki.readToken)).trim();
    assert.ok(![good, noToken, wrongCa].some((run) => run.output.includes(readToken)));
    // A plain-HTTP client at the TLS port is told what is likely wrong.
    const plain = await startProgram("query.ts", [
      "--server",
      `http://127.0.0.1:${server.port}`,
      "--once",
      "--token-file",
      pki.readToken,
    ], { waitFor: null, allow: [`--allow-read=${pki.dir}`] });
    assert.equal((await plain.status).code, 1, plain.output());
    assert.match(plain.output(), /is it an https:\/\/ server\?/);
    assert.equal((await server.stop()).code, 0, server.output());
  });
});

Deno.test("a SIGHUP to the launcher reaches the server: token files read again, still serving", async () => {
  const pki = await testPki(1);
  await withTempDir(async (dir) => {
    // As the systemd unit runs it (deploy/vigia-server.service), `systemctl reload` included.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-env=VIGIA_*",
        `--allow-run=${Deno.execPath()}`,
        "launch.ts",
        "server",
        "--port",
        "0",
        "--db",
        join(dir, "readings.db"),
        "--token-file",
        pki.token,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    let output = "";
    const decoder = new TextDecoder();
    const reading = Promise.all([child.stdout, child.stderr].map(async (stream) => {
      for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
    }));
    try {
      await waitUntil(() => /listening on 127\.0\.0\.1:\d+/.test(output), 20_000, "listening");
      const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(output)![1]);
      Deno.kill(child.pid, "SIGHUP");
      await waitUntil(() => /reloaded --token-file/.test(output), 10_000, "the reload");
      assert.equal(await statusOf(fetch(`http://127.0.0.1:${port}/healthz`)), 200);
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await reading;
      assert.equal(status.code, 0, output);
    }
  });
});
