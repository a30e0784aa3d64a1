// @ts-check
/**
 * The live feed: a WebSocket to `/api/live` that reconnects by itself and
 * never loses a reading across a disconnect.
 *
 * The feed remembers the storage cursor of the last reading it delivered.
 * After every (re)connect it first fills the gap with
 * `GET /api/readings?after=<cursor>` (page by page until a short page), and
 * holds the socket's messages meanwhile; held messages already covered by
 * the fill are dropped, so every reading is delivered once. Only then is the
 * feed "live". Reconnects wait an exponential backoff with equal jitter
 * (`shared/backoff.js`, the one the Deno programs use), and after
 * {@linkcode LiveOptions.offlineAfter} failed attempts the state says
 * "offline" while it keeps trying at the slowest pace.
 *
 * A socket can also die silently (a cable pulled between plant and server:
 * no close ever arrives). While no message has come for `watchdogMs`, the
 * feed asks the server for its cursor: an error, or a server twice in a row
 * ahead of what the socket delivered, means the socket is dead, and the feed
 * reconnects (and fills the gap).
 *
 * @module
 */

import { PAGE_LIMIT } from "./api.js";
import { backoffDelay } from "./shared/backoff.js";
import { liveProtocols } from "./token.js";

/** @typedef {import("./model.js").Reading} Reading */
/** @typedef {"connecting" | "live" | "reconnecting" | "offline"} LiveState */

/**
 * @typedef {{
 *   url: string | URL,
 *   fetchAfter: (cursor: number, signal: AbortSignal) => Promise<{readings: Reading[], cursor: number}>,
 *   fetchCursor: (signal: AbortSignal) => Promise<number>,
 *   parse: (value: unknown) => Reading | undefined,
 *   onReadings: (readings: Reading[]) => void,
 *   onState: (state: LiveState, detail: {attempt: number, retryAt: number}) => void,
 *   baseMs?: number,
 *   maxMs?: number,
 *   offlineAfter?: number,
 *   watchdogMs?: number,
 * }} LiveOptions
 */

/** @param {Reading} reading */
function keyOf(reading) {
  return `${reading.id}/${reading.seq}/${reading.t}`;
}

/** A self-healing subscription to `/api/live`. */
export class LiveFeed {
  #options;
  #cursor = 0;
  #running = false;
  /** Bumped on every connect and every give-up, so late events of an old socket are ignored. */
  #generation = 0;
  #attempt = 0;
  /** @type {WebSocket | undefined} */
  #socket;
  /** @type {AbortController | undefined} */
  #abort;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #retryTimer;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #watchdog;
  #lastMessageAt = 0;
  #behind = 0;
  /** @type {LiveState} */
  #state = "connecting";

  /** @param {LiveOptions} options */
  constructor(options) {
    this.#options = { baseMs: 500, maxMs: 30_000, offlineAfter: 5, watchdogMs: 20_000, ...options };
  }

  /** The storage cursor of the last reading delivered. */
  get cursor() {
    return this.#cursor;
  }

  get state() {
    return this.#state;
  }

  /**
   * Starts following from `cursor` (readings stored after it are delivered).
   * @param {number} cursor
   */
  start(cursor) {
    this.stop();
    this.#cursor = cursor;
    this.#running = true;
    this.#attempt = 0;
    this.#connect();
    this.#watchdog = setInterval(() => this.#check(), this.#options.watchdogMs);
  }

  /** Stops for good (until the next `start`). */
  stop() {
    this.#running = false;
    this.#generation++;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#watchdog);
    this.#abort?.abort();
    this.#socket?.close(1000);
    this.#socket = undefined;
  }

  /** Skips the wait before the next attempt (e.g. when the network comes back). */
  retryNow() {
    if (!this.#running || this.#socket) return;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  #connect() {
    const generation = ++this.#generation;
    this.#setState(this.#attempt === 0 ? "connecting" : this.#failingState(), 0);
    const abort = new AbortController();
    this.#abort = abort;
    /** @type {WebSocket} */
    let socket;
    try {
      socket = new WebSocket(this.#options.url, liveProtocols());
    } catch {
      this.#giveUp(generation);
      return;
    }
    this.#socket = socket;
    /** @type {{cursor: number, readings: Reading[]}[] | undefined} */
    let held = [];
    socket.onmessage = (event) => {
      if (generation !== this.#generation) return;
      this.#lastMessageAt = Date.now();
      const message = this.#parseMessage(event.data);
      if (!message) return;
      if (held) held.push(message);
      else this.#deliver(message.cursor, message.readings);
    };
    socket.onclose = () => this.#giveUp(generation);
    socket.onopen = async () => {
      if (generation !== this.#generation) return;
      this.#lastMessageAt = Date.now();
      try {
        const seen = await this.#fillGap(generation, abort.signal);
        if (generation !== this.#generation || !held) return;
        for (const message of held) {
          if (message.cursor <= this.#cursor) continue;
          this.#deliver(message.cursor, message.readings.filter((r) => !seen.has(keyOf(r))));
        }
        held = undefined;
        this.#attempt = 0;
        this.#behind = 0;
        this.#setState("live", 0);
      } catch {
        this.#giveUp(generation);
      }
    };
  }

  /**
   * Delivers every reading stored after the cursor; returns their keys.
   * @param {number} generation
   * @param {AbortSignal} signal
   */
  async #fillGap(generation, signal) {
    /** @type {Set<string>} */
    const seen = new Set();
    while (true) {
      const page = await this.#options.fetchAfter(this.#cursor, signal);
      if (generation !== this.#generation) return seen;
      for (const reading of page.readings) seen.add(keyOf(reading));
      this.#deliver(page.cursor, page.readings);
      if (page.readings.length < PAGE_LIMIT) return seen;
    }
  }

  /**
   * @param {number} cursor
   * @param {Reading[]} readings
   */
  #deliver(cursor, readings) {
    if (cursor > this.#cursor) this.#cursor = cursor;
    if (readings.length > 0) this.#options.onReadings(readings);
  }

  /**
   * Drops the current socket (if it still belongs to `generation`) and
   * schedules the next attempt.
   * @param {number} generation
   */
  #giveUp(generation) {
    if (!this.#running || generation !== this.#generation) return;
    this.#generation++;
    this.#abort?.abort();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
    const delay = backoffDelay(this.#attempt, this.#options);
    this.#attempt++;
    this.#setState(this.#failingState(), Date.now() + delay);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  /** @returns {LiveState} */
  #failingState() {
    return this.#attempt > this.#options.offlineAfter ? "offline" : "reconnecting";
  }

  async #check() {
    if (this.#state !== "live" || !this.#socket) return;
    if (Date.now() - this.#lastMessageAt < this.#options.watchdogMs) return;
    const generation = this.#generation;
    try {
      const cursor = await this.#options.fetchCursor(AbortSignal.timeout(10_000));
      this.#behind = cursor > this.#cursor ? this.#behind + 1 : 0;
      if (this.#behind < 2) return;
    } catch { /* the server is unreachable: so is the socket, whatever it says */ }
    this.#behind = 0;
    this.#giveUp(generation);
  }

  /**
   * @param {unknown} data
   * @returns {{cursor: number, readings: Reading[]} | undefined}
   */
  #parseMessage(data) {
    if (typeof data !== "string") return undefined;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return undefined;
    }
    if (message?.type !== "readings" || !Number.isSafeInteger(message.cursor)) return undefined;
    /** @type {Reading[]} */
    const readings = [];
    for (const item of Array.isArray(message.readings) ? message.readings : []) {
      const reading = this.#options.parse(item);
      if (reading) readings.push(reading);
    }
    return { cursor: message.cursor, readings };
  }

  /**
   * @param {LiveState} state
   * @param {number} retryAt
   */
  #setState(state, retryAt) {
    this.#state = state;
    this.#options.onState(state, { attempt: this.#attempt, retryAt });
  }
}
