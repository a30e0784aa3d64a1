/**
 * Reloading a secret or a list without a restart: calls back when a file
 * changes and on SIGHUP, the signal operators and service managers
 * (`systemctl reload`) use for "read your files again".
 *
 * Changes are found by polling the file's status once a second rather than
 * with `Deno.watchFs`: tools replace such files by writing a new one and
 * renaming it over the old (as `deno task certs` does), which an inotify
 * watch on the old file never sees; a `stat` every second costs nothing and
 * sees every replacement, whichever way it is made.
 *
 * @module
 */

/** Options of {@linkcode watchFile}. */
export interface WatchOptions {
  /** Stops the watch. */
  readonly signal: AbortSignal;
  /** Time between two checks of the file, ms (default 1,000). */
  readonly intervalMs?: number;
}

/**
 * Calls `reload` whenever `path` is created, replaced, changed or removed,
 * and on every SIGHUP, until `signal` aborts. Calls never overlap: a change
 * during a reload triggers one more reload after it. `reload` reports its
 * own errors; one that throws anyway is ignored, and the watch goes on.
 */
export function watchFile(
  path: string,
  reload: () => Promise<void> | void,
  options: WatchOptions,
): void {
  const { signal } = options;
  if (signal.aborted) return;
  let last = fingerprint(path);
  let running: Promise<void> | undefined;
  let again = false;
  const trigger = () => {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await reload();
        } catch {
          // reload logs what went wrong; a watch must outlive one bad file
        }
      } while (again && !signal.aborted);
      running = undefined;
    })();
  };
  const timer = setInterval(() => {
    const now = fingerprint(path);
    if (now !== last) {
      last = now;
      trigger();
    }
  }, options.intervalMs ?? 1_000);
  const onHangup = () => {
    last = fingerprint(path);
    trigger();
  };
  Deno.addSignalListener("SIGHUP", onHangup);
  signal.addEventListener("abort", () => {
    clearInterval(timer);
    Deno.removeSignalListener("SIGHUP", onHangup);
  }, { once: true });
}

/** What changes when a file is written or replaced: inode, size and modification time. */
function fingerprint(path: string): string {
  try {
    const info = Deno.statSync(path);
    return `${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? "missing" : `error:${(error as Error).name}`;
  }
}
