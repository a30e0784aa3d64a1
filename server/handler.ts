/**
 * The server's HTTP handler: a `Request` in, a `Response` out, with no
 * socket of its own, so tests call it directly (`await handler(new
 * Request(...))`) and `Deno.serve` runs the same function.
 *
 * Routes are a table of `URLPattern`s, each with its handler per method;
 * any other path is a file of the dashboard or 404. An {@linkcode HttpError}
 * becomes `{"error": ...}` JSON here and nowhere else; any other exception
 * is logged with its stack and answered with a bare 500 so no internal
 * detail leaves the server.
 *
 * Over 300 lines on purpose: every route is a closure over what the routes
 * share (store, writer, write queue, metrics, authorizer), so the whole
 * API reads in one place; what a route needs beyond that is in auth.ts,
 * ingest.ts, params.ts, series.ts, live.ts and http.ts.
 *
 * @module
 */

import { readingToJson } from "../protocol/mod.ts";
import { DEFAULT_THRESHOLDS, type Thresholds } from "../lib/thresholds.ts";
import type { Logger } from "../lib/log.ts";
import { errorResponse, HttpError, internalError, json, jsonText } from "./http.ts";
import { TokenSet } from "../lib/token_file.ts";
import { type Access, createAuthorizer, FailureLimiter, type TokenMatcher } from "./auth.ts";
import {
  assertJsonContentType,
  DEFAULT_LIMITS,
  type IngestLimits,
  parseReadings,
  readBody,
} from "./ingest.ts";
import type { LiveHub } from "./live.ts";
import { Metrics } from "./metrics.ts";
import { integerParam, sensorParam, timeParam } from "./params.ts";
import { seriesResponse } from "./series.ts";
import { serveFile, type StaticFiles } from "./static_files.ts";
import { type Storage, StoreUnavailableError } from "./storage.ts";
import type { Writer } from "./writer.ts";
import { WriteQueue } from "./write_queue.ts";

/** Options of {@linkcode createHandler}. */
export interface HandlerOptions {
  /** The ingest token (or tokens) `POST /api/data` requires. */
  readonly token: string | TokenMatcher;
  /** Tokens the read routes require (default: none, reads are open); see server/auth.ts. */
  readonly readTokens?: TokenMatcher | undefined;
  /** Failed attempts per client address (default: ten a minute, on the real clock). */
  readonly limiter?: FailureLimiter;
  /** The safe ranges served at `/api/thresholds` (default: the built-in ones). */
  readonly thresholds?: Thresholds;
  /** Dashboard files (default: none, `/` answers 404). */
  readonly staticFiles?: StaticFiles;
  /** The writer (default: the storage's own, committing in this thread). */
  readonly writer?: Writer;
  /** The live feed (default: none, `/api/live` answers 404). */
  readonly live?: LiveHub;
  /** Counters (default: a fresh set). */
  readonly metrics?: Metrics;
  /** Limits of write requests (default: those of docs/http-api.md). */
  readonly limits?: Partial<IngestLimits>;
  /** Aborted when the server shuts down: new writes and `/healthz` then answer 503. */
  readonly signal?: AbortSignal;
  /** Where unexpected errors go (with their stack). */
  readonly log?: Logger;
  /** The clock for `/api/series` defaults, epoch ms (tests pin it). */
  readonly now?: () => number;
}

/** A request handler as `Deno.serve` takes it; `info` gives the client address. */
export type Handler = (
  request: Request,
  info?: { readonly remoteAddr: Deno.Addr },
) => Promise<Response>;

interface Context {
  readonly request: Request;
  readonly url: URL;
  readonly store: Storage;
}

type RouteHandler = (context: Context) => Response | Promise<Response>;

interface Route {
  /** The `route` label of the metrics. */
  readonly name: string;
  readonly pattern: URLPattern;
  /** Who may use it (server/auth.ts). */
  readonly access: Access;
  readonly methods: Readonly<Partial<Record<"GET" | "POST", RouteHandler>>>;
}

/** Seconds a client is asked to wait after the database refused a write. */
const STORE_RETRY_AFTER_S = 5;

/** Limits of `GET /api/readings`. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 10_000;

/** Creates the handler; see the module doc and docs/http-api.md. */
export function createHandler(store: Storage, options: HandlerOptions): Handler {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const metrics = options.metrics ?? new Metrics();
  const writer: Writer = options.writer ?? store.createWriter({
    onCommit: (info) => metrics.commit(info.stored, info.duplicates, info.seconds),
  });
  const authorize = createAuthorizer({
    ingest: typeof options.token === "string"
      ? TokenSet.parse(options.token, "the ingest token")
      : options.token,
    read: options.readTokens,
    limiter: options.limiter ?? new FailureLimiter({ now: Date.now }),
    log: options.log,
  });
  const thresholdsJson = JSON.stringify(options.thresholds ?? DEFAULT_THRESHOLDS);
  const staticFiles: StaticFiles = options.staticFiles ?? new Map();
  const now = options.now ?? Date.now;
  const shuttingDown = () => options.signal?.aborted ?? false;
  const queue = new WriteQueue(limits.writeQueueMs);

  /**
   * A write the database refuses (disk full, read-only file, I/O error) is
   * not the client's fault nor a bug: 503 with Retry-After, so the gateway
   * keeps the readings and tries again, and one log line with the cause.
   */
  const write = async (readings: Parameters<Writer["write"]>[0]) => {
    queue.enter(readings.length, performance.now());
    let written = false;
    try {
      const result = await writer.write(readings);
      written = true;
      return result;
    } catch (error) {
      const cause = error instanceof Error ? error.message : String(error);
      options.log?.error("cannot store readings; answering 503", {
        readings: readings.length,
        error: cause.split("\n")[0],
      });
      throw new HttpError(503, "Cannot store readings: the database is unavailable", {
        headers: { "retry-after": String(STORE_RETRY_AFTER_S) },
      });
    } finally {
      queue.leave(readings.length, performance.now(), written);
    }
  };

  const postData: RouteHandler = async ({ request }) => {
    try {
      assertJsonContentType(request);
      if (shuttingDown()) {
        throw new HttpError(503, "Cannot store readings: server is shutting down");
      }
      const body = await readBody(request, limits);
      const received = performance.now();
      // Checked before the parse: under overload the parse is the work worth saving.
      if (!queue.admits()) throw busy(queue.waitMs());
      const readings = parseReadings(body, limits.maxBatch);
      const result = readings.length === 0 ? { stored: 0, duplicates: 0 } : await write(readings);
      metrics.observeFreshness(readings, Date.now());
      // The server's own share of the client's round trip (queue, parse, commit): a gateway
      // tells from it how far away the server is (gateway/admission.ts).
      const ms = (performance.now() - received).toFixed(1);
      return json(result, 200, { "server-timing": `store;dur=${ms}` });
    } catch (error) {
      if (error instanceof HttpError && error.status !== 503) metrics.rejected++;
      throw error;
    }
  };

  const getReadings: RouteHandler = async ({ url, store }) => {
    const params = url.searchParams;
    const filter = {
      limit: integerParam(params, "limit", { min: 1, max: MAX_PAGE }) ?? DEFAULT_PAGE,
      sensor: sensorParam(params),
      since: timeParam(params, "since"),
      until: timeParam(params, "until"),
    };
    const after = integerParam(params, "after", { min: 0, max: Number.MAX_SAFE_INTEGER });
    const { readings, cursor } = after === undefined
      ? await store.latestPage(filter)
      : await store.after(after, filter);
    return jsonText(`[${readings.map(readingToJson).join(",")}]`, 200, {
      "x-vigia-cursor": String(cursor),
    });
  };

  const getSensors: RouteHandler = async ({ store }) => {
    const iso = (ms: number) => new Date(ms).toISOString();
    const items = (await store.sensors()).map((sensor) =>
      `{"id":${sensor.id},"readings":${sensor.readings},"first_seen":"${
        iso(sensor.firstSeen)
      }","last_seen":"${iso(sensor.lastSeen)}","last":${
        sensor.last ? readingToJson(sensor.last) : "null"
      }}`
    );
    return jsonText(`[${items.join(",")}]`);
  };

  const getHealth: RouteHandler = async ({ store }) => {
    if (shuttingDown()) {
      return json({ status: "unavailable", error: "server is shutting down" }, 503);
    }
    try {
      await store.check();
      // Reads still work when the writer thread has died; health means both.
      if (writer.failure) throw writer.failure;
    } catch (error) {
      options.log?.error("health check failed", { error: (error as Error).message });
      return json({ status: "unavailable", error: "database unavailable" }, 503);
    }
    return json({ status: "ok" });
  };

  const getMetrics: RouteHandler = async ({ store }) =>
    new Response(
      metrics.render({
        databaseBytes: await store.sizeBytes(),
        liveClients: options.live?.clients ?? 0,
        newestCursor: await store.newestCursor(),
        writeQueue: { readings: queue.queued, waitSeconds: queue.waitMs() / 1000 },
      }),
      {
        headers: {
          "content-type": "text/plain; version=0.0.4; charset=utf-8",
          "cache-control": "no-store",
        },
      },
    );

  const getLive: RouteHandler = ({ request }) => {
    if (!options.live) throw new HttpError(404, "Cannot open live feed: not enabled");
    return options.live.accept(request);
  };

  const routes: readonly Route[] = [
    {
      name: "/api/data",
      access: "write",
      pattern: new URLPattern({ pathname: "/api/data" }),
      methods: { POST: postData },
    },
    {
      name: "/api/readings",
      access: "read",
      pattern: new URLPattern({ pathname: "/api/readings" }),
      methods: { GET: getReadings },
    },
    {
      name: "/api/sensors",
      access: "read",
      pattern: new URLPattern({ pathname: "/api/sensors" }),
      methods: { GET: getSensors },
    },
    {
      name: "/api/series",
      access: "read",
      pattern: new URLPattern({ pathname: "/api/series" }),
      methods: {
        GET: async ({ url, store }) =>
          jsonText(await seriesResponse(store, url.searchParams, now())),
      },
    },
    {
      name: "/api/thresholds",
      access: "read",
      pattern: new URLPattern({ pathname: "/api/thresholds" }),
      methods: { GET: () => jsonText(thresholdsJson) },
    },
    {
      name: "/api/live",
      access: "read",
      pattern: new URLPattern({ pathname: "/api/live" }),
      methods: { GET: getLive },
    },
    {
      name: "/healthz",
      access: "open",
      pattern: new URLPattern({ pathname: "/healthz" }),
      methods: { GET: getHealth },
    },
    {
      name: "/metrics",
      access: "read",
      pattern: new URLPattern({ pathname: "/metrics" }),
      methods: { GET: getMetrics },
    },
  ];

  return async (request, info) => {
    const started = performance.now();
    let routeName = "other";
    let response: Response;
    try {
      const url = new URL(request.url);
      const route = routes.find((candidate) => candidate.pattern.test(url));
      // HEAD is GET without the body (Deno.serve drops it).
      const method = request.method === "HEAD" ? "GET" : request.method;
      if (route === undefined) {
        const file = staticFiles.get(url.pathname);
        if (file === undefined) {
          throw new HttpError(404, `Cannot find ${JSON.stringify(url.pathname.slice(0, 100))}`);
        }
        routeName = "static";
        if (method !== "GET") throw methodNotAllowed(["GET", "HEAD"]);
        response = await serveFile(request, file);
      } else {
        routeName = route.name;
        const handle = route.methods[method as "GET" | "POST"];
        if (handle === undefined) {
          throw methodNotAllowed(
            Object.keys(route.methods).flatMap((m) => m === "GET" ? ["GET", "HEAD"] : [m]),
          );
        }
        try {
          authorize(request, route.access, addressOf(info?.remoteAddr));
        } catch (error) {
          if (route.access === "write") metrics.rejected++;
          throw error;
        }
        response = await handle({ request, url, store });
      }
    } catch (error) {
      if (error instanceof HttpError) {
        response = errorResponse(error);
      } else if (error instanceof StoreUnavailableError) {
        options.log?.error("cannot read the store; answering 503", { error: error.message });
        response = errorResponse(
          new HttpError(503, "Cannot read readings: the database is unavailable", {
            headers: { "retry-after": String(STORE_RETRY_AFTER_S) },
          }),
        );
      } else {
        response = internalError(error, options.log, request);
      }
    }
    options.log?.debug("request", {
      method: request.method,
      route: routeName,
      status: response.status,
      ms: Math.round((performance.now() - started) * 100) / 100,
    });
    metrics.request(
      routeName,
      metricMethod(request.method),
      response.status,
      (performance.now() - started) / 1000,
    );
    return response;
  };
}

/**
 * The writer is busy: what is queued ahead would take longer than the
 * budget. 503 with the wait rounded up to whole seconds, so a client that
 * honours Retry-After comes back once the queue has drained.
 */
function busy(waitMs: number): HttpError {
  return new HttpError(503, "Cannot store readings now: the write queue is full", {
    headers: { "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))) },
  });
}

function addressOf(address: Deno.Addr | undefined): string {
  return address !== undefined && "hostname" in address ? address.hostname : "unknown";
}

function methodNotAllowed(allowed: string[]): HttpError {
  return new HttpError(405, `Cannot answer this method: allowed ${allowed.join(", ")}`, {
    headers: { allow: allowed.join(", ") },
  });
}

function metricMethod(method: string): string {
  return ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].includes(method)
    ? method
    : "other";
}
