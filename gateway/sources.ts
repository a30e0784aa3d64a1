/**
 * Device sources: parts of the gateway that fetch readings themselves from
 * plant devices (Modbus TCP today, OPC UA next) instead of receiving them
 * from TLS sensors. Everything they share lives here, so every source
 * behaves the same:
 *
 * - {@linkcode ReadingSink}: gives each reading its durable per-sensor `seq`
 *   and queues it for the spool; the seq is committed in the same
 *   transaction as the reading, so it is never given twice, even across a
 *   kill -9 of the gateway.
 * - {@linkcode DeviceSources}: the set of sources of one gateway: the sensor
 *   ids they own (a TLS certificate naming one is refused with ERROR 2), one
 *   start/stop lifecycle, their metrics.
 * - {@linkcode FaultReporter}: a fault is logged once when it starts and once
 *   when it clears, not once per poll.
 *
 * Each source keeps its metrics in its own `MetricsRegistry` (lib/metrics.ts,
 * labelled: `vigia_modbus_errors_total{device="plc",kind="timeout"}`); the
 * gateway's `/metrics` renders them after its own.
 *
 * A source is any object with the {@linkcode DeviceSource} shape.
 *
 * @module
 */

import { UsageError } from "../lib/cli.ts";
import type { LogFields, Logger } from "../lib/log.ts";
import type { MetricsRegistry } from "../lib/metrics.ts";
import type { Reading } from "../protocol/mod.ts";
import type { CommitParty, Committer } from "./committer.ts";

/** A reading as a source makes it: the sink gives it its `seq`. */
export type SourceReading = Omit<Reading, "seq">;

/** One kind of device source with all its devices, as the gateway runs it. */
export interface DeviceSource {
  /** Short lower-case name of the kind (`"modbus"`): metric prefix and log tag. */
  readonly kind: string;
  /** Sensor ids only this source may produce readings for. */
  readonly sensorIds: ReadonlySet<number>;
  /** Starts fetching, handing every reading to `sink`. Returns at once. */
  start(sink: ReadingSink): void;
  /** Stops; resolves once nothing more will reach the sink. */
  stop(): Promise<void>;
  /** Its metrics, rendered after the gateway's own on `/metrics`. */
  readonly metrics: MetricsRegistry;
}

/** Outcome of {@linkcode ReadingSink.push}. */
export type PushResult = "queued" | "full";

/** Options of a {@linkcode ReadingSink}. */
export interface ReadingSinkOptions {
  /** The last seq given to each source sensor, from the spool (`Spool.sourceSeqs()`). */
  readonly lastSeqs: ReadonlyMap<number, number>;
  readonly log: Logger;
}

const SEQ_MODULUS = 2 ** 32;

/**
 * Where device sources put their readings: the same committer (so the same
 * spool, forwarder and guarantees) as the TLS sensors' readings.
 */
export class ReadingSink implements CommitParty {
  #committer: Committer;
  #seqs: Map<number, number>;
  #log: Logger;
  #lost = 0;

  constructor(committer: Committer, options: ReadingSinkOptions) {
    this.#committer = committer;
    this.#seqs = new Map(options.lastSeqs);
    this.#log = options.log;
  }

  /** Readings that were queued but whose commit failed (a device cannot resend them). */
  get lost(): number {
    return this.#lost;
  }

  /**
   * Gives `reading` the next seq of its sensor and queues it for the next
   * commit. `"full"` when the spool has no room: nothing is queued and no
   * seq is used; a device cannot be asked to keep it, so the caller counts it.
   */
  push(reading: SourceReading): PushResult {
    if (!this.#committer.hasRoom()) return "full";
    const seq = ((this.#seqs.get(reading.sensorId) ?? 0) + 1) % SEQ_MODULUS;
    this.#seqs.set(reading.sensorId, seq);
    this.#committer.add({ ...reading, seq }, this, true);
    return "queued";
  }

  /** Part of {@linkcode CommitParty}: nothing to acknowledge to a device. */
  committed(): void {}

  /** Part of {@linkcode CommitParty}: the readings of that batch are gone. */
  commitFailed(reason: string): void {
    this.#lost++;
    this.#log.error(`Cannot store device readings: ${reason}`);
  }
}

/**
 * The device sources of one gateway. Throws {@linkcode UsageError} when two
 * of them claim the same sensor id.
 */
export class DeviceSources {
  readonly #sources: readonly DeviceSource[];
  /** Every sensor id some source owns. */
  readonly sensorIds: ReadonlySet<number>;

  constructor(sources: readonly DeviceSource[]) {
    this.#sources = sources;
    const owner = new Map<number, string>();
    for (const source of sources) {
      for (const id of source.sensorIds) {
        const other = owner.get(id);
        if (other !== undefined) {
          throw new UsageError(
            `Cannot use sensor id ${id} in both the --${other} and the --${source.kind} file`,
          );
        }
        owner.set(id, source.kind);
      }
    }
    this.sensorIds = new Set(owner.keys());
  }

  /** Whether there is any source at all. */
  get empty(): boolean {
    return this.#sources.length === 0;
  }

  /** Starts every source. */
  start(sink: ReadingSink): void {
    for (const source of this.#sources) source.start(sink);
  }

  /** Stops every source; resolves once none will push again. */
  async stop(): Promise<void> {
    await Promise.all(this.#sources.map((source) => source.stop()));
  }

  /** The metrics of every source, Prometheus text. */
  toPrometheus(): string {
    return this.#sources.map((source) => source.metrics.render()).join("");
  }
}

/**
 * Faults of one device, each under a key (`"connect"`,
 * `"exception:holding:10"`): logged as a warning when it starts, and once
 * more when it clears, however many polls it lasts.
 */
export class FaultReporter {
  #log: Logger;
  #fields: LogFields;
  #active = new Map<string, string>();

  /** `fields` go on every line (`{ device: "boiler-plc" }`). */
  constructor(log: Logger, fields: LogFields) {
    this.#log = log;
    this.#fields = fields;
  }

  /** Keys of the faults active now. */
  get active(): ReadonlySet<string> {
    return new Set(this.#active.keys());
  }

  /** Reports fault `key`; logged only when it was not already active. Returns whether it was new. */
  fail(key: string, message: string, fields: LogFields = {}): boolean {
    if (this.#active.has(key)) return false;
    this.#active.set(key, message);
    this.#log.warn(message, { ...this.#fields, ...fields });
    return true;
  }

  /** Fault `key` is over: logged once when it was active. */
  clear(key: string): void {
    const message = this.#active.get(key);
    if (message === undefined) return;
    this.#active.delete(key);
    this.#log.info(`cleared: ${message}`, this.#fields);
  }

  /** Clears every active fault whose key passes `test`. */
  clearWhere(test: (key: string) => boolean): void {
    for (const key of [...this.#active.keys()]) if (test(key)) this.clear(key);
  }
}
