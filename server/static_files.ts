/**
 * The dashboard's files: whatever `static/` holds when the server starts,
 * plus Chart.js from the local npm copy at `/vendor/chart.umd.min.js`.
 *
 * The list of names is read once; a request is looked up in that list and
 * nothing else, so no path a client sends can reach another file. Content is
 * read per request, so editing a dashboard file needs no restart; adding
 * one does.
 *
 * @module
 */

import { extname, join, relative, sep } from "node:path";
import { HttpError } from "./http.ts";

/** Content types by extension: the only files served (web assets, not sources or configs). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

/** One file the server may serve. */
export interface StaticFile {
  readonly path: string;
  readonly contentType: string;
  readonly cacheControl: string;
}

/** Where the dashboard and Chart.js come from. */
export interface StaticOptions {
  /** The dashboard directory (default `static`). */
  readonly dir?: string;
  /** Chart.js's UMD bundle (default from node_modules). */
  readonly chartJs?: string;
}

/** URL path → file, fixed at start-up. */
export type StaticFiles = ReadonlyMap<string, StaticFile>;

/** The default Chart.js bundle: `deno install` puts it there. */
export const CHART_JS = "node_modules/chart.js/dist/chart.umd.min.js";

/**
 * Lists the files to serve. A missing `static/` or Chart.js is not an error
 * (`/` answers 404 until the dashboard exists); the returned warnings say
 * what is missing.
 */
export async function loadStaticFiles(
  options: StaticOptions = {},
): Promise<{ files: StaticFiles; warnings: string[] }> {
  const dir = options.dir ?? "static";
  const files = new Map<string, StaticFile>();
  const warnings: string[] = [];
  try {
    for (const path of await listFiles(dir)) {
      const name = relative(dir, path).split(sep).join("/");
      const contentType = CONTENT_TYPES[extname(path).toLowerCase()];
      if (contentType === undefined || !isServable(name)) continue;
      files.set(`/${name}`, {
        path,
        contentType,
        // Not fingerprinted: the browser revalidates (cheap, with the ETag).
        cacheControl: "no-cache",
      });
    }
  } catch (error) {
    warnings.push(`no dashboard: cannot read "${dir}": ${(error as Error).message}`);
  }
  const index = files.get("/index.html");
  if (index) files.set("/", index);
  const chartJs = options.chartJs ?? CHART_JS;
  try {
    // The npm copy is a symlink into node_modules/.deno; serve the real file.
    const path = await Deno.realPath(chartJs);
    files.set("/vendor/chart.umd.min.js", {
      path,
      contentType: CONTENT_TYPES[".js"]!,
      cacheControl: "public, max-age=86400",
    });
  } catch (error) {
    warnings.push(
      `no Chart.js: cannot read "${chartJs}" (run \`deno install\`): ${(error as Error).message}`,
    );
  }
  return { files, warnings };
}

// Tooling files that may sit beside the dashboard but are not part of it.
const NOT_SERVED = new Set(["deno.json", "deno.jsonc", "package.json", "tsconfig.json"]);

/** Dotfiles and tool configs stay private even inside static/. */
function isServable(name: string): boolean {
  const parts = name.split("/");
  return !parts.some((part) => part.startsWith(".")) && !NOT_SERVED.has(parts.at(-1)!);
}

async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    // Symlinks are skipped: they could point anywhere.
    const path = join(dir, entry.name);
    if (entry.isFile) found.push(path);
    else if (entry.isDirectory) found.push(...await listFiles(path));
  }
  return found;
}

/**
 * The dashboard loads nothing but its own files (no inline script, no CDN,
 * no external font), so the page may run under the strictest policy: a
 * reading that somehow carried markup could still not run script.
 */
const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; " +
  "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
  "frame-ancestors 'none'; form-action 'none'";

/** Answers a GET or HEAD for `file`, with an ETag so a revalidation costs a 304. */
export async function serveFile(request: Request, file: StaticFile): Promise<Response> {
  try {
    const info = await Deno.stat(file.path);
    const etag = `W/"${info.size.toString(16)}-${(info.mtime?.getTime() ?? 0).toString(16)}"`;
    const headers = {
      "content-type": file.contentType,
      "cache-control": file.cacheControl,
      "etag": etag,
      "x-content-type-options": "nosniff",
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "referrer-policy": "no-referrer",
    };
    if (request.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    const body = await Deno.readFile(file.path);
    return new Response(body as Uint8Array<ArrayBuffer>, { headers });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new HttpError(404, "Cannot find file");
    throw error;
  }
}
