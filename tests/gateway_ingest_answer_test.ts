import assert from "node:assert/strict";
import { MAX_RETRY_AFTER_MS, parseRetryAfter, readIngestAnswer } from "../gateway/ingest_answer.ts";

Deno.test("readIngestAnswer() reads a 2xx as stored, with the server's duplicates", async () => {
  assert.deepEqual(
    await readIngestAnswer(Response.json({ stored: 2, duplicates: 1 })),
    { kind: "stored", duplicates: 1 },
  );
  assert.deepEqual(
    await readIngestAnswer(new Response("not json", { status: 201 })),
    { kind: "stored", duplicates: 0 },
  );
});

Deno.test("readIngestAnswer() reads a 400 naming an index as one invalid reading", async () => {
  const response = Response.json({ error: "humidity out of range", index: 3 }, { status: 400 });
  assert.deepEqual(await readIngestAnswer(response), {
    kind: "invalid",
    index: 3,
    error: "humidity out of range",
  });
});

Deno.test("readIngestAnswer() retries a 400 without an index and any other status", async () => {
  assert.deepEqual(
    await readIngestAnswer(Response.json({ error: "not an array" }, { status: 400 })),
    { kind: "retry", reason: "HTTP 400: not an array", status: 400 },
  );
  assert.deepEqual(
    await readIngestAnswer(new Response("x".repeat(500), { status: 500 })),
    { kind: "retry", reason: `HTTP 500: ${"x".repeat(200)}`, status: 500 },
  );
  assert.deepEqual(
    await readIngestAnswer(new Response(null, { status: 401 })),
    { kind: "retry", reason: "HTTP 401", status: 401 },
  );
});

Deno.test("readIngestAnswer() honours Retry-After on 429 and 503 only, capped", async () => {
  const answer = (status: number, retryAfter: string) =>
    readIngestAnswer(
      Response.json({ error: "busy" }, { status, headers: { "retry-after": retryAfter } }),
    );
  assert.deepEqual(await answer(503, "1"), {
    kind: "retry",
    reason: "HTTP 503: busy",
    status: 503,
    retryAfterMs: 1_000,
  });
  const busy = await answer(429, "2");
  assert.equal(busy.kind === "retry" ? busy.retryAfterMs : undefined, 2_000);
  const longAway = await answer(503, "86400");
  assert.equal(longAway.kind === "retry" ? longAway.retryAfterMs : undefined, MAX_RETRY_AFTER_MS);
  const ignored = await answer(500, "2");
  assert.equal(ignored.kind === "retry" ? ignored.retryAfterMs : "not retry", undefined);
});

Deno.test("parseRetryAfter() takes seconds or an HTTP date, and nothing else", () => {
  assert.equal(parseRetryAfter(null, 60_000), undefined);
  assert.equal(parseRetryAfter(" 3 ", 60_000), 3_000);
  assert.equal(parseRetryAfter("0", 60_000), 0);
  assert.equal(parseRetryAfter("soon", 60_000), undefined);
  assert.equal(parseRetryAfter(new Date(Date.now() - 10_000).toUTCString(), 60_000), 0);
  const ahead = parseRetryAfter(new Date(Date.now() + 30_000).toUTCString(), 60_000)!;
  assert.ok(ahead > 28_000 && ahead <= 30_000, String(ahead));
});
