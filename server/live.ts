/**
 * `GET /api/live`: a WebSocket that pushes newly stored readings.
 *
 * The writer calls {@linkcode LiveHub.notify} after each commit (with
 * PostgreSQL, so does a commit of any instance sharing the database); the hub then
 * reads what was stored since its last message (by cursor, in storage order)
 * and sends one message to every client, at most one per `intervalMs`
 * (250 ms: at most 4 messages per second however heavy the load). One JSON
 * text is built per tick and shared by all clients:
 *
 * ```json
 * {"type": "readings", "cursor": 12345, "readings": [{"id": 7, "seq": 42, ...}]}
 * ```
 *
 * A client with more than `maxBufferedBytes` unsent is closed with 1008
 * instead of buffered without bound; it reconnects and fills the gap with
 * `GET /api/readings?after=<cursor>`.
 *
 * @module
 */

import { readingToJson } from "../protocol/mod.ts";
import type { Logger } from "../lib/log.ts";
import { LIVE_PROTOCOL } from "./auth.ts";
import { HttpError } from "./http.ts";
import type { Storage } from "./storage.ts";

/** Options of {@linkcode LiveHub}. */
export interface LiveOptions {
  /** Least time between two messages, in ms (default 250). */
  readonly intervalMs?: number;
  /** Unsent bytes after which a client is dropped (default 1 MiB). */
  readonly maxBufferedBytes?: number;
  /** Most readings in one message; more wait for the next tick (default 10,000). */
  readonly maxReadings?: number;
  /** Most clients at once; more are refused with 503 (default 100). */
  readonly maxClients?: number;
  readonly log?: Logger;
  /** Called when a slow client is dropped (metrics). */
  readonly onDrop?: () => void;
}

/** Close code for a client that does not keep up: "policy violation". */
export const CLOSE_TOO_SLOW = 1008;

/** The live clients and the push loop; see the module doc. */
export class LiveHub {
  #store: Storage;
  // Messages for a socket still opening wait here, so none is skipped.
  #clients = new Map<WebSocket, string[]>();
  /** The cursor of the last reading pushed. */
  #sent = 0;
  #ticking = false;
  /** A notify() came while a tick was reading: tick again after it. */
  #again = false;
  #lastTick = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #intervalMs: number;
  #maxBuffered: number;
  #maxReadings: number;
  #maxClients: number;
  #log: Logger | undefined;
  #onDrop: (() => void) | undefined;

  constructor(store: Storage, options: LiveOptions = {}) {
    this.#store = store;
    this.#intervalMs = options.intervalMs ?? 250;
    this.#maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.#maxReadings = options.maxReadings ?? 10_000;
    this.#maxClients = options.maxClients ?? 100;
    this.#log = options.log;
    this.#onDrop = options.onDrop;
  }

  /** Connected clients. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Upgrades `request` to a live WebSocket, or throws 400/503. */
  async accept(request: Request): Promise<Response> {
    if (this.#closed) throw new HttpError(503, "Cannot open live feed: server is shutting down");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(400, "Cannot open live feed: expected a WebSocket upgrade");
    }
    if (this.#clients.size >= this.#maxClients) {
      throw new HttpError(503, `Cannot open live feed: ${this.#maxClients} clients already`);
    }
    // Readings stored from now on reach this client; with none connected
    // before, the feed starts at the newest reading instead of the past.
    // Read before the upgrade: a reading stored once the client sees its
    // socket open is always after it.
    const start = this.#clients.size === 0 ? await this.#store.newestCursor() : undefined;
    if (this.#closed) throw new HttpError(503, "Cannot open live feed: server is shutting down");
    let upgrade: { socket: WebSocket; response: Response };
    try {
      // A client that offered `vigia.live` (the dashboard, sending its token
      // as a second subprotocol) gets it back; the token is never echoed.
      const offered = request.headers.get("sec-websocket-protocol")?.split(",")
        .some((protocol) => protocol.trim() === LIVE_PROTOCOL) ?? false;
      upgrade = Deno.upgradeWebSocket(request, {
        idleTimeout: 60,
        ...(offered ? { protocol: LIVE_PROTOCOL } : {}),
      });
    } catch {
      throw new HttpError(400, "Cannot open live feed: invalid WebSocket handshake");
    }
    const { socket, response } = upgrade;
    // Another client may have connected meanwhile: its cursor stands.
    if (start !== undefined && this.#clients.size === 0) this.#sent = start;
    this.#clients.set(socket, []);
    const forget = () => this.#clients.delete(socket);
    socket.addEventListener("open", () => {
      const waiting = this.#clients.get(socket) ?? [];
      this.#clients.set(socket, []);
      for (const message of waiting) socket.send(message);
    });
    socket.addEventListener("close", forget);
    socket.addEventListener("error", forget);
    return response;
  }

  /** New readings were stored: schedule a push (at most one per interval). */
  notify(): void {
    if (this.#clients.size === 0 || this.#timer !== undefined || this.#closed) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    const wait = Math.max(0, this.#lastTick + this.#intervalMs - performance.now());
    this.#timer = setTimeout(() => this.#tick(), wait);
  }

  /** Closes every client ("going away") and stops pushing. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const socket of this.#clients.keys()) {
      try {
        socket.close(1001, "server shutting down");
      } catch { /* already closing */ }
    }
    this.#clients.clear();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    this.#lastTick = performance.now();
    if (this.#clients.size === 0) return;
    this.#ticking = true;
    let page: Awaited<ReturnType<Storage["after"]>>;
    try {
      page = await this.#store.after(this.#sent, { limit: this.#maxReadings });
    } catch (error) {
      this.#log?.error("live feed cannot read the store", { error: (error as Error).message });
      this.#again = true;
      return;
    } finally {
      this.#ticking = false;
      if (this.#again) {
        this.#again = false;
        this.notify();
      }
    }
    const last = page.readings.at(-1);
    if (last === undefined || this.#closed) return;
    this.#sent = last.cursor;
    let message = `{"type":"readings","cursor":${last.cursor},"readings":[`;
    message += page.readings.map(readingToJson).join(",");
    message += "]}";
    for (const [socket, waiting] of this.#clients) {
      if (socket.readyState === WebSocket.CONNECTING) {
        waiting.push(message);
        continue;
      }
      if (socket.readyState !== WebSocket.OPEN) continue;
      if (socket.bufferedAmount > this.#maxBuffered) {
        this.#clients.delete(socket);
        this.#onDrop?.();
        this.#log?.warn("live client dropped: not keeping up", { buffered: socket.bufferedAmount });
        try {
          socket.close(CLOSE_TOO_SLOW, "not keeping up");
        } catch { /* already closing */ }
        continue;
      }
      socket.send(message);
    }
    // A full page means more is waiting: push it on the next tick.
    if (page.readings.length === this.#maxReadings) this.notify();
  }
}
