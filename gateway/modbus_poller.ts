/**
 * One Modbus TCP device polled on its own interval until stopped, its
 * registers turned into readings for the sink (and so the spool).
 *
 * Per device: the points of all its sensors are planned into as few reads
 * as possible (`planReads`), sent one after another on one connection. A
 * sensor makes a reading in a poll in which every one of its points was
 * read and gave a storable value; its timestamp is when the poll's last
 * response arrived. A poll still running when the next is due makes that
 * next one skipped and counted (`overrun`): polls never pile up.
 *
 * Faults (see docs/modbus.md) are counted per device and kind, logged once
 * when they start and once when they clear, and never stop other devices:
 * a lost or refused connection is retried with backoff and jitter (at most
 * 30 s apart); a timeout, a mismatched response or garbage reopens the
 * connection; an exception fails only the points of its read. A merged read
 * refused with "illegal data address" (the device lacks a register in a
 * gap read through) is split into one read per point for good.
 *
 * @module
 */

import { backoffDelay } from "../static/shared/backoff.js";
import type { Logger } from "../lib/log.ts";
import { type Quantity, toHundredths } from "../protocol/mod.ts";
import { decodeValue, type PlannedRead, planReads, REGISTER_TYPES } from "../modbus/mod.ts";
import { ModbusClient, ModbusError } from "./modbus_client.ts";
import type { ModbusDevice, ModbusPoint } from "./modbus_config.ts";
import { FaultReporter, type ReadingSink, type SourceReading } from "./sources.ts";
import type { ModbusErrorKindName, ModbusMetrics } from "./modbus_metrics.ts";

/** Reconnect pacing: first retry within 0.5 s, never more than 30 s apart. */
const RECONNECT = { baseMs: 500, maxMs: 30_000 } as const;

/** One point of one sensor, as the poller tracks it. */
interface TrackedPoint {
  readonly sensor: number;
  readonly quantity: Quantity;
  readonly point: ModbusPoint;
  /** Key of its exception and value faults. */
  readonly key: string;
}

/** What a poller reports to. */
export interface PollerOptions {
  readonly sink: ReadingSink;
  readonly metrics: ModbusMetrics;
  readonly log: Logger;
}

/** Polls one device until stopped. */
export class DevicePoller {
  #device: ModbusDevice;
  #options: PollerOptions;
  #client: ModbusClient;
  #faults: FaultReporter;
  #points: TrackedPoint[];
  #reads: PlannedRead[];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextAt = 0;
  #polling: Promise<void> | undefined;
  #stopped = false;
  #retryAt = 0;
  #connectFailures = 0;
  /** A tick came while the current poll ran. */
  #overran = false;

  constructor(device: ModbusDevice, options: PollerOptions) {
    this.#device = device;
    this.#options = options;
    this.#client = new ModbusClient({
      hostname: device.host,
      port: device.port,
      unit: device.unit,
      timeoutMs: device.timeoutMs,
    });
    this.#faults = new FaultReporter(options.log, { device: device.name });
    this.#points = device.sensors.flatMap((sensor, index) =>
      Object.entries(sensor.points).map(([quantity, point]) => ({
        sensor: index,
        quantity: quantity as Quantity,
        point,
        key: `${point.table}:${point.address}`,
      }))
    );
    this.#reads = planReads(this.#points.map(({ point }) => ({
      table: point.table,
      address: point.address,
      count: REGISTER_TYPES[point.type],
    })));
    options.metrics.addDevice(device.name);
  }

  start(): void {
    this.#nextAt = performance.now();
    this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#client.close();
    await this.#polling;
    this.#client.close(); // a connect that was under way when stopping has finished now
  }

  #tick = (): void => {
    if (this.#stopped) return;
    const now = performance.now();
    if (this.#polling !== undefined) {
      this.#overran = true;
      this.#count("overrun");
      this.#faults.fail("overrun", "poll skipped: the previous poll is still running", {
        interval_ms: this.#device.intervalMs,
      });
    } else if (now >= this.#retryAt) {
      this.#polling = this.#poll().finally(() => (this.#polling = undefined));
    }
    // Fixed rate; after a stall longer than an interval, start afresh rather than catch up.
    this.#nextAt += this.#device.intervalMs;
    if (this.#nextAt < now) this.#nextAt = now + this.#device.intervalMs;
    this.#timer = setTimeout(this.#tick, this.#nextAt - now);
  };

  async #poll(): Promise<void> {
    const { metrics, sink } = this.#options;
    const name = this.#device.name;
    const started = performance.now();
    metrics.polls.add({ device: name });
    this.#overran = false;
    const registers = new Map<number, { values: Uint16Array; start: number }>();
    const failed = new Set<number>();
    let up = true;
    for (let i = 0; i < this.#reads.length && !this.#stopped; i++) {
      const read = this.#reads[i]!;
      try {
        const values = await this.#client.read(read.table, read.address, read.count);
        this.#connected();
        for (const index of read.points) {
          registers.set(index, { values, start: read.address });
          this.#faults.clear(`exception:${this.#points[index]!.key}`);
        }
      } catch (error) {
        if (!(error instanceof ModbusError)) throw error;
        if (this.#stopped) return; // our own close at shutdown, not the device's fault
        if (error.kind !== "exception") {
          up = false;
          this.#transportFailed(error);
          break;
        }
        this.#connected();
        if (error.exceptionCode === 2 && read.points.length > 1) {
          this.#reads.splice(i, 1, ...this.#splitRead(read));
          i--;
          continue;
        }
        this.#count("exception", read.points.length);
        for (const index of read.points) {
          failed.add(index);
          const { point, key } = this.#points[index]!;
          this.#faults.fail(`exception:${key}`, `exception response: ${error.message}`, {
            table: point.table,
            address: point.address,
            exception: error.message,
          });
        }
      }
    }
    // Cleared only by a poll that fitted its interval, not by every poll that starts.
    if (!this.#overran) this.#faults.clear("overrun");
    metrics.up.set(name, up ? 1 : 0);
    metrics.pollSeconds.set(name, (performance.now() - started) / 1000);
    if (!up || this.#stopped) return;
    const timestamp = Date.now();
    for (let s = 0; s < this.#device.sensors.length; s++) {
      const reading = this.#reading(s, timestamp, registers);
      if (reading === undefined) continue;
      if (sink.push(reading) === "full") {
        this.#faults.fail("full", "readings dropped: the spool is full");
        continue;
      }
      this.#faults.clear("full");
      metrics.readings.add({ device: name });
    }
  }

  /** The reading of sensor `s`, or undefined when a point of it failed. */
  #reading(
    s: number,
    timestamp: number,
    registers: Map<number, { values: Uint16Array; start: number }>,
  ): SourceReading | undefined {
    const sensor = this.#device.sensors[s]!;
    const reading: Record<Quantity, number | null> = {
      temperature: null,
      pressure: null,
      humidity: null,
    };
    let complete = true;
    for (let index = 0; index < this.#points.length; index++) {
      const tracked = this.#points[index]!;
      if (tracked.sensor !== s) continue;
      const read = registers.get(index);
      if (read === undefined) {
        complete = false;
        continue;
      }
      const { point } = tracked;
      const raw = decodeValue(read.values, point.address - read.start, point.type, point.order);
      const value = raw * point.scale + point.offset;
      const faultKey = `value:${sensor.id}:${tracked.quantity}`;
      try {
        reading[tracked.quantity] = toHundredths(value);
        this.#faults.clear(faultKey);
      } catch {
        complete = false;
        this.#count("value");
        this.#faults.fail(faultKey, `cannot store value ${value}: not a finite 32-bit hundredths`, {
          sensor: sensor.id,
          quantity: tracked.quantity,
          table: point.table,
          address: point.address,
        });
      }
    }
    if (!complete) return undefined;
    return { sensorId: sensor.id, timestamp, ...reading };
  }

  #splitRead(read: PlannedRead): PlannedRead[] {
    return read.points.map((index) => {
      const { point } = this.#points[index]!;
      return {
        table: point.table,
        address: point.address,
        count: REGISTER_TYPES[point.type],
        points: [index],
      };
    });
  }

  #connected(): void {
    this.#connectFailures = 0;
    this.#faults.clear("connect");
    this.#faults.clear("timeout");
    this.#faults.clear("mismatch");
  }

  #transportFailed(error: ModbusError): void {
    const kind = error.kind as "connect" | "timeout" | "mismatch";
    this.#count(kind);
    const { host, port } = this.#device;
    const what = {
      connect: "device unreachable",
      timeout: "no response in time",
      mismatch: "response dropped",
    }[kind];
    this.#faults.fail(kind, `${what}: ${error.message}`, { address: `${host}:${port}` });
    if (kind === "connect") {
      this.#retryAt = performance.now() + backoffDelay(this.#connectFailures++, RECONNECT);
    }
  }

  #count(kind: ModbusErrorKindName, by = 1): void {
    this.#options.metrics.errors.add({ device: this.#device.name, kind }, by);
  }
}
