/**
 * HTTP plumbing shared by the routes: {@linkcode HttpError}, which the
 * handler turns into `{"error": ...}` JSON in one place, the bare 500 of
 * {@linkcode internalError} for anything else, and the JSON response
 * helpers with the headers every API answer carries.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";

/** A request the server refuses: the status and a message safe to show the client. */
export class HttpError extends Error {
  readonly status: number;
  /** Extra fields of the JSON body (`index` of a bad reading in a batch). */
  readonly fields: Readonly<Record<string, number | string>>;
  /** Extra response headers (`Allow`, `WWW-Authenticate`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    message: string,
    options: {
      fields?: Readonly<Record<string, number | string>>;
      headers?: Readonly<Record<string, string>>;
    } = {},
  ) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.fields = options.fields ?? {};
    this.headers = options.headers ?? {};
  }
}

/** Headers of every JSON answer: API data is never cached and never sniffed. */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/json",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

/** A JSON response from an already serialised body. */
export function jsonText(
  body: string,
  status = 200,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return new Response(body, { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** A JSON response from a value. */
export function json(
  value: unknown,
  status = 200,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return jsonText(JSON.stringify(value), status, headers);
}

/** The JSON answer for an {@linkcode HttpError}. */
export function errorResponse(error: HttpError): Response {
  return json({ error: error.message, ...error.fields }, error.status, error.headers);
}

/**
 * The answer to an unexpected failure: logged with its stack (and the
 * request's method and path when known), answered with a bare 500 so no
 * internal detail leaves the server. The one place such a failure becomes
 * a response, whether the handler or `Deno.serve` caught it.
 */
export function internalError(
  error: unknown,
  log: Logger | undefined,
  request?: { readonly method: string; readonly url: string },
): Response {
  log?.error("request failed", {
    ...(request && { method: request.method, path: safePath(request.url) }),
    stack: error instanceof Error ? error.stack : String(error),
  });
  return json({ error: "internal error" }, 500);
}

function safePath(url: string): string {
  try {
    return new URL(url).pathname.slice(0, 200);
  } catch {
    return "?";
  }
}
