/**
 * Hostile HTTP against a real server process on a real socket: malformed
 * and ill-typed bodies, NaN/Infinity, huge numbers, huge and deeply nested
 * bodies, wrong content types and tokens, injection-looking strings in
 * every query parameter of every route, path traversal sent byte for byte
 * over raw TCP (no client normalising the path first), and a flood.
 *
 * Every answer must carry the status docs/http-api.md documents, as JSON
 * `{"error": ...}` without a stack trace; never a 500, never a file outside
 * `static/`, never the ingest token; the data already stored is intact at
 * the end. server_api_test.ts covers each rule once in-process; this is the
 * crowd, through the network stack an attacker would use.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fetchAllReadings, startServer } from "./_link.ts";
import { testPki } from "./_pki.ts";
import { ROOT } from "./_process.ts";
import { apiReading } from "./_api.ts";

/** What must never appear in an answer. */
const STACK = /\n\s+at |file:\/\/|\.ts:\d+|\bstack\b/;
const FOREIGN_CONTENT = [
  /"tasks"/, // the repository's deno.json
  /root:x?:0:0/, // /etc/passwd
  /\[core\]/, // .git/config
  /^import /m, // a module's source
  /SQLite format 3/, // a database
  /-----BEGIN/, // a key or certificate
];

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

const counts = new Map<string, number>();
function count(kind: string): void {
  counts.set(kind, (counts.get(kind) ?? 0) + 1);
}

/** Asserts an error answer as docs/http-api.md describes it. */
function assertError(answer: Answer, status: number, label: string, token: string): void {
  assert.equal(answer.status, status, `${label}: ${answer.body.slice(0, 200)}`);
  assert.match(answer.headers.get("content-type") ?? "", /^application\/json/, label);
  const body = JSON.parse(answer.body);
  assert.equal(typeof body.error, "string", label);
  assertClean(answer, label, token);
}

function assertClean(answer: Answer, label: string, token: string): void {
  assert.notEqual(answer.status, 500, label);
  assert.doesNotMatch(answer.body, STACK, label);
  assert.ok(!answer.body.includes(token), `${label}: the token is never echoed`);
}

async function send(url: string, init?: RequestInit): Promise<Answer> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/**
 * Sends `head` (and `body`) over a plain TCP connection exactly as written
 * and reads the whole answer (the request says `Connection: close`).
 */
async function raw(port: number, head: string, body?: Uint8Array): Promise<Answer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new TextEncoder().encode(head);
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    if (body) {
      for (let offset = 0; offset < body.length;) offset += await conn.write(body.subarray(offset));
    }
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65_536);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = new TextDecoder().decode(
      chunks.reduce((all, chunk) => {
        const joined = new Uint8Array(all.length + chunk.length);
        joined.set(all);
        joined.set(chunk, all.length);
        return joined;
      }, new Uint8Array()),
    );
    const [headText = "", ...rest] = text.split("\r\n\r\n");
    const [statusLine = "", ...headerLines] = headText.split("\r\n");
    const headers = new Headers();
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    return {
      status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0),
      headers,
      body: rest.join("\r\n\r\n"),
    };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

/** Every file under `dir`, recursively. */
async function* walkFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walkFiles(path);
    else if (entry.isFile) yield path;
  }
}

/** Strings that look like attacks on whatever might parse them. */
const INJECTIONS = [
  "' OR '1'='1",
  "1 OR 1=1",
  "1; DROP TABLE readings; --",
  "1' UNION SELECT name, sql FROM sqlite_master --",
  "1) OR (1=1",
  "<script>alert(1)</script>",
  '"><img src=x onerror=alert(1)>',
  "../../../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "\u0000",
  "1\u0000",
  "${7*7}",
  "{{7*7}}",
  "$(id)",
  "`id`",
  "%s%s%s%n",
  "1e3",
  "0x10",
  "\uff11\uff12", // fullwidth digits
  "NaN",
  "Infinity",
  "-Infinity",
  "9".repeat(400),
  "x".repeat(8_000),
  "[object Object]",
  "null",
  "1,2",
  " 1",
  "2026-11-24T10:00:00Z' OR 1=1 --",
  "\u202e1",
];

const PARAMETERS: Record<string, readonly string[]> = {
  "/api/readings": ["limit", "sensor", "since", "until", "after"],
  "/api/series": ["since", "until", "bucket", "sensor"],
};

Deno.test("server answers hostile HTTP with the documented status, never a 500, a stack or a foreign file", async (t) => {
  const pki = await testPki(1);
  const token = pki.tokenValue;
  const dir = await Deno.makeTempDir({ prefix: "vigia-hostile-http-" });
  await using server = await startServer(pki, dir);
  const base = `http://127.0.0.1:${server.port}`;
  const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const post = (body: BodyInit, headers: Record<string, string> = auth) =>
    send(`${base}/api/data`, { method: "POST", headers, body });
  try {
    // Something stored first, to prove nothing below touches it.
    const seeded = Array.from({ length: 50 }, (_, i) => apiReading({ seq: i + 1 }));
    assert.equal((await post(JSON.stringify(seeded))).status, 200);

    await t.step("tokens: missing, wrong, near misses, elsewhere → 401", async () => {
      const cases: Record<string, string>[] = [
        { "content-type": "application/json" },
        { ...auth, authorization: "Bearer" },
        { ...auth, authorization: "Bearer wrong" },
        { ...auth, authorization: `Bearer ${token}x` },
        { ...auth, authorization: `Bearer ${token.slice(0, -1)}` },
        { ...auth, authorization: `Bearer ${token.toUpperCase()}` },
        { ...auth, authorization: `Basic ${btoa(`vigia:${token}`)}` },
        { ...auth, authorization: `Bearer ${token} ${token}` },
        { ...auth, authorization: `Token ${token}` },
        { ...auth, authorization: `Bearer ${"A".repeat(10_000)}` },
        { "content-type": "application/json", cookie: `token=${token}` },
      ];
      for (const headers of cases) {
        assertError(await post(JSON.stringify(apiReading()), headers), 401, "token", token);
        count("token");
      }
      const inQuery = await send(`${base}/api/data?token=${token}&access_token=${token}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(apiReading()),
      });
      assertError(inQuery, 401, "token in the query string", token);
      count("token");
    });

    await t.step("content types → 415", async () => {
      for (
        const type of [
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/json; charset=latin1",
          "application/json, text/plain",
          "application/jsonp",
          "text/json",
          "",
        ]
      ) {
        assertError(
          await post(JSON.stringify(apiReading()), { ...auth, "content-type": type }),
          415,
          `content type ${JSON.stringify(type)}`,
          token,
        );
        count("content type");
      }
    });

    await t.step("malformed JSON, wrong types, NaN/Infinity, huge numbers → 400", async () => {
      const bodies = [
        "",
        "{",
        "[1,",
        "nul",
        "{'id': 7}",
        '{"id": 7,}',
        JSON.stringify(apiReading()).replace("21.5", "NaN"),
        JSON.stringify(apiReading()).replace("21.5", "Infinity"),
        JSON.stringify(apiReading()).replace("21.5", "-Infinity"),
        JSON.stringify(apiReading()).replace("21.5", "1e999"),
        JSON.stringify(apiReading()).replace('"id":7', '"id":1e999'),
        JSON.stringify(apiReading()).replace("21.5", "0x10"),
        JSON.stringify(apiReading()).replace("21.5", "+1"),
        JSON.stringify(apiReading()).replace("21.5", ".5"),
        JSON.stringify(apiReading()).replace("21.5", "01"),
        "42",
        "null",
        "true",
        '"reading"',
        "[[]]",
        "[null]",
        '{"__proto__": ' + JSON.stringify(apiReading()) + "}",
        '{"constructor": {"prototype": {"id": 7}}}',
      ];
      const fields: [string, unknown][] = [
        ["id", "7"],
        ["id", true],
        ["id", [7]],
        ["id", { n: 7 }],
        ["id", -1],
        ["id", 1.5],
        ["id", 4_294_967_296],
        ["id", 1e20],
        ["seq", 9_007_199_254_740_993],
        ["seq", -0.5],
        ["timestamp", {}],
        ["timestamp", "yesterday"],
        ["timestamp", "2026-11-24T10:00:00"],
        ["timestamp", "+275760-09-13T00:00:00.001Z"],
        ["timestamp", 8.64e15 + 1],
        ["timestamp", -8.64e15 - 1],
        ["timestamp", 1.5],
        ["timestamp", "1; DROP TABLE readings"],
        ["temperature", "21.5"],
        ["id", null],
        ["temperature", [21.5]],
        ["temperature", 1e300],
        ["temperature", 21_474_836.48],
        ["pressure", -21_474_836.49],
        ["humidity", true],
        ["humidity", { valueOf: 1 }],
      ];
      for (const [field, value] of fields) {
        bodies.push(JSON.stringify([apiReading({ seq: 1000 }), apiReading({ [field]: value })]));
      }
      // One quantity may be null (not measured), never all three.
      bodies.push(
        JSON.stringify(apiReading({ temperature: null, pressure: null, humidity: null })),
      );
      const missing = apiReading();
      delete missing.humidity;
      bodies.push(JSON.stringify(missing));
      for (const body of bodies) {
        assertError(await post(body), 400, `body ${body.slice(0, 80)}`, token);
        count("bad body");
      }
      // Not UTF-8 at all.
      assertError(
        await post(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
        400,
        "latin-1 bytes",
        token,
      );
      count("bad body");
      // The boundaries themselves are fine.
      const edges = await post(JSON.stringify([
        apiReading({ seq: 2000, temperature: 21_474_836.47, pressure: -21_474_836.48 }),
        apiReading({ seq: 2001, id: 4_294_967_295, timestamp: 8.64e15 }),
        apiReading({ seq: 2002, id: 0, timestamp: -8.64e15 }),
      ]));
      assert.equal(edges.status, 200, edges.body);
    });

    await t.step("huge and deeply nested bodies → 413 or 400", async () => {
      const big = new Uint8Array(5 * 1024 * 1024).fill(0x20);
      assertError(await post(big), 413, "5 MiB with Content-Length", token);
      count("huge body");
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 8 * 1024 * 1024) return controller.close();
          sent += 256 * 1024;
          controller.enqueue(new Uint8Array(256 * 1024).fill(0x5b)); // "["
        },
      });
      assertError(await post(stream), 413, "8 MiB streamed without Content-Length", token);
      count("huge body");
      const batch = JSON.stringify(
        Array.from({ length: 10_001 }, (_, i) => apiReading({ seq: 10_000 + i })),
      );
      assertError(await post(batch), 413, "10,001 readings", token);
      count("huge body");
      // Nesting far past any recursion limit, still under the 4 MiB body limit.
      for (const depth of [1_000, 100_000, 600_000]) {
        assertError(
          await post("[".repeat(depth) + "]".repeat(depth)),
          400,
          `arrays ${depth} deep`,
          token,
        );
        assertError(
          await post('{"a":'.repeat(depth / 2) + "1" + "}".repeat(depth / 2)),
          400,
          `objects ${depth} deep`,
          token,
        );
        count("deep nesting");
        count("deep nesting");
      }
    });

    await t.step("methods → 405 with Allow", async () => {
      for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
        const answer = await send(`${base}/api/data`, { method, headers: auth });
        assertError(answer, 405, `${method} /api/data`, token);
        assert.equal(answer.headers.get("allow"), "POST");
        count("method");
      }
      for (const path of ["/api/readings", "/api/sensors", "/", "/index.html"]) {
        assertError(
          await send(base + path, { method: "POST", headers: auth, body: "{}" }),
          405,
          `POST ${path}`,
          token,
        );
        count("method");
      }
    });

    await t.step("injection-looking strings in every query parameter → 400", async () => {
      for (const [path, names] of Object.entries(PARAMETERS)) {
        for (const name of names) {
          for (const value of INJECTIONS) {
            const answer = await send(`${base}${path}?${name}=${encodeURIComponent(value)}`);
            assertError(
              answer,
              400,
              `${path}?${name}=${JSON.stringify(value.slice(0, 40))}`,
              token,
            );
            assert.match(JSON.parse(answer.body).error, new RegExp(`"${name}"`));
            count("query parameter");
          }
        }
      }
      // Routes without parameters ignore them.
      for (const path of ["/api/sensors", "/api/thresholds", "/healthz", "/metrics"]) {
        for (const value of INJECTIONS.slice(0, 8)) {
          const answer = await send(`${base}${path}?q=${encodeURIComponent(value)}&${value}=1`);
          assert.equal(answer.status, 200, path);
          assertClean(answer, path, token);
          count("query parameter");
        }
      }
    });

    await t.step(
      "path traversal, byte for byte over TCP → 404 (or 400), never a foreign file",
      async () => {
        const staticContents = new Set<string>();
        for await (const file of walkFiles(`${ROOT}static`)) {
          staticContents.add(await Deno.readTextFile(file));
        }
        const paths = [
          "/../deno.json",
          "/../../../../etc/passwd",
          "/..%2fdeno.json",
          "/%2e%2e/deno.json",
          "/%2e%2e%2fdeno.json",
          "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
          "/.%2e/deno.json",
          "/%252e%252e/deno.json",
          "/..\\deno.json",
          "/%5c..%5cdeno.json",
          "/static/../deno.json",
          "/vendor/../../deno.json",
          "/vendor/chart.umd.min.js/../../deno.json",
          "/index.html/../../deno.json",
          "/index.html%00.js",
          "/index.html%2500",
          "//etc/passwd",
          "/%2fetc%2fpasswd",
          "/etc/passwd",
          "/deno.json",
          "/server.ts",
          "/server/handler.ts",
          "/.git/config",
          "/data/readings.db",
          "/certs/ingest.token",
          "/static/index.html",
          "/node_modules/chart.js/package.json",
          "/%c0%ae%c0%ae/deno.json", // overlong UTF-8 dots
          "/..;/deno.json",
          "/ ../deno.json",
        ];
        for (const path of paths) {
          const answer = await raw(
            server.port,
            `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
          );
          // A path the URL parser folds back into static/ may serve that file, nothing else.
          if (answer.status === 200) {
            assert.ok(staticContents.has(answer.body), `${path}: 200 with a file not in static/`);
          } else {
            assert.ok([400, 404].includes(answer.status), `${path}: ${answer.status}`);
            for (const marker of FOREIGN_CONTENT) assert.doesNotMatch(answer.body, marker, path);
          }
          assertClean(answer, path, token);
          count("path traversal");
        }
        // The absolute form of the request target, and HEAD.
        for (
          const head of [
            `GET http://127.0.0.1/../deno.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
            `HEAD /../deno.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
            `GET /../deno.json HTTP/1.0\r\n\r\n`,
          ]
        ) {
          const answer = await raw(server.port, head);
          const label = head.split("\r\n")[0]!;
          if (answer.status === 200) {
            // HEAD has no body; a GET folded into static/ may serve that file only.
            assert.ok(
              head.startsWith("HEAD") || staticContents.has(answer.body),
              `${label}: 200 with a file not in static/`,
            );
          } else {
            assert.ok([400, 404].includes(answer.status), `${label}: ${answer.status}`);
            for (const marker of FOREIGN_CONTENT) assert.doesNotMatch(answer.body, marker, label);
          }
          count("path traversal");
        }
        // What is in static/ is still served.
        const index = await raw(
          server.port,
          "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        assert.equal(index.status, 200);
        assert.equal(index.body, await Deno.readTextFile(`${ROOT}static/index.html`));
      },
    );

    await t.step("a flood of mixed requests: only documented statuses, still healthy", async () => {
      const kinds: [string, () => Promise<Answer>, number][] = [
        ["readings", () => send(`${base}/api/readings?limit=5`), 200],
        ["sensors", () => send(`${base}/api/sensors`), 200],
        ["bad param", () => send(`${base}/api/readings?limit=x`), 400],
        ["no token", () => post("{}", { "content-type": "application/json" }), 401],
        ["bad json", () => post("{"), 400],
        ["missing", () => send(`${base}/nope`), 404],
        ["write", () => post(JSON.stringify(apiReading({ seq: 5000 }))), 200],
      ];
      const total = 3_000;
      let next = 0;
      const started = performance.now();
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (next < total) {
          const [name, request, status] = kinds[next++ % kinds.length]!;
          const answer = await request();
          assert.equal(answer.status, status, `${name}: ${answer.body.slice(0, 200)}`);
          assertClean(answer, name, token);
          count("flood");
        }
      }));
      const seconds = (performance.now() - started) / 1000;
      const health = await send(`${base}/healthz`);
      assert.equal(health.status, 200);
      await Deno.stderr.write(
        new TextEncoder().encode(
          `flood: ${total} requests from 64 clients in ${seconds.toFixed(1)} s ` +
            `(${Math.round(total / seconds)}/s), all answered as documented\n`,
        ),
      );
    });

    // What was stored before is all there, plus the three boundary readings and the flood's
    // one, and every answer reads back (the extreme timestamps in ISO 8601's expanded form).
    const stored = await fetchAllReadings(server.port);
    assert.equal(stored.length, seeded.length + 4);
    assert.deepEqual(
      stored.filter((r) => Math.abs(r.timestamp) === 8.64e15).map((r) => r.timestamp).sort(),
      [-8.64e15, 8.64e15],
    );
    assert.doesNotMatch(server.output(), new RegExp(token), "the token never reaches the log");
    assert.doesNotMatch(server.output(), /\n\s+at /, "no stack in the log");
    const figures = [...counts].map(([kind, n]) => `${kind}=${n}`).join(" ");
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    await Deno.stderr.write(
      new TextEncoder().encode(`hostile HTTP: ${total} requests: ${figures}\n`),
    );
  } finally {
    const status = await server.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, server.output());
  }
});
