/**
 * Who waits for room in a full spool. Refusing a sender (ERROR 4) makes
 * its sensor reconnect, a TLS handshake at both ends, only to find a spool
 * that had room again a few milliseconds later while the server drained it.
 * So while the spool is draining, a sender that finds it full is held
 * instead, and goes on, oldest first, as readings leave the spool, or after
 * {@linkcode MAX_HOLD_MS} regardless. When the spool is not draining (an
 * outage), nobody is held: refusing is right.
 *
 * First come, first served: while anyone is held, a sender whose chunk
 * would fit queues behind them all the same. Otherwise the senders still
 * streaming take each bit of room as it frees, and with many sensors a
 * held one can wait past its sensor's ACK timeout, which makes it
 * reconnect and send everything again.
 *
 * "Full" while draining is the admission limit ({@linkcode Admission}): a
 * fraction of a second of forwarding, far below `--spool-max`. The limit
 * only holds senders back: a sender whose hold runs out while the spool
 * still drains is held on (its readings fit `--spool-max`, so letting it in
 * would only grow the backlog), and goes on when the spool stops draining
 * (an outage fills it up to `--spool-max`). Only the hard bound refuses:
 * a sender whose readings do not fit `--spool-max` goes on when its hold
 * runs out, and is refused as without a hold.
 *
 * @module
 */

import type { Admission } from "./admission.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { Spool } from "./spool.ts";

/** Longest a sender is held for room before it is refused (ERROR 4) as without a hold. */
export const MAX_HOLD_MS = 2_000;

/** A sender held for room. */
export interface HeldSender {
  /** Whether what it holds fits now (true as well when it no longer needs room). */
  fits(): boolean;
  /** Whether what it holds is past the spool's hard bound (`--spool-max`), not just the limit. */
  overBound(): boolean;
  /**
   * Go on with what was held: called once, when it fits or when the hold
   * ran out (then readings past the bound are refused as without a hold).
   */
  resume(): void;
}

/** Options of a {@linkcode RoomGate}. */
export interface RoomGateOptions {
  /** Whether the server is taking the spool's rows now (the forwarder knows). */
  readonly drain: { readonly draining: boolean };
  /** How many readings the spool takes before senders wait. */
  readonly admission: Admission;
  readonly metrics: GatewayMetrics;
}

/** Holds senders while a full spool drains. */
export class RoomGate {
  #drain: { readonly draining: boolean };
  #admission: Admission;
  #spool: Spool;
  #metrics: GatewayMetrics;
  /** Held senders, oldest first. */
  #held: { sender: HeldSender; since: number }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(spool: Spool, options: RoomGateOptions) {
    this.#drain = options.drain;
    this.#admission = options.admission;
    this.#spool = spool;
    this.#metrics = options.metrics;
    spool.on("removed", this.#roomFreed);
  }

  /** Whether the spool, with `pending` readings on their way to it, is under the admission limit. */
  hasRoom(pending: number): boolean {
    const depth = this.#spool.depth;
    return depth + pending < this.#admission.limit(depth);
  }

  /** Senders held now. */
  get held(): number {
    return this.#held.length;
  }

  /**
   * Holds `sender` if the spool is draining; returns false (holding
   * nothing) when it is not, and the caller refuses.
   */
  hold(sender: HeldSender): boolean {
    if (!this.#drain.draining) return false;
    this.#held.push({ sender, since: performance.now() });
    this.#timer ??= setTimeout(this.#expire, MAX_HOLD_MS);
    this.#metrics.values.room_holds++;
    return true;
  }

  /** Lets every held sender go (shutdown): what it held was never ACKed, so its sensor resends. */
  releaseAll(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const { sender } of this.#held.splice(0)) sender.resume();
  }

  /** Readings left the spool: held senders go on, oldest first, while theirs fit. */
  #roomFreed = (): void => {
    while (this.#held.length > 0 && this.#held[0]!.sender.fits()) {
      this.#held.shift()!.sender.resume();
    }
    if (this.#held.length === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  };

  #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    // Held on in place, so those waiting longest still go first when room frees.
    this.#held = this.#held.filter((entry) => {
      if (now - entry.since < MAX_HOLD_MS) return true;
      if (this.#drain.draining && !entry.sender.overBound()) {
        entry.since = now;
        return true;
      }
      entry.sender.resume();
      return false;
    });
    if (this.#held.length > 0) {
      const next = Math.min(...this.#held.map((entry) => entry.since));
      this.#timer = setTimeout(this.#expire, MAX_HOLD_MS - (now - next));
    }
  };
}
