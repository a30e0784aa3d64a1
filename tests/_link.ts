/**
 * Support for the sensor-link tests (gateway, sensor, end to end): raw
 * mutual-TLS clients that speak frames, gateway, sensor and server
 * processes wired to a test PKI and temporary files, and the server's
 * readings read back.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  encodeReading,
  type Frame,
  FrameDecoder,
  FrameError,
  type MeasuredReading,
  parseReadingJson,
  type Reading,
} from "../protocol/mod.ts";
import { type RunningProgram, startProgram } from "./_process.ts";
import type { TestPki } from "./_pki.ts";
import { testReading } from "./_reading.ts";

/** `parts` back to back in one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/** Frames of many readings back to back, as one write. */
export function encodeReadings(readings: readonly MeasuredReading[]): Uint8Array {
  return concatBytes(readings.map(encodeReading));
}

/** Options of {@linkcode connectSensor}: override any part of the client's identity. */
export interface ConnectOptions {
  readonly caCert?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Connects to the gateway as sensor `id` of `pki` (real mutual TLS). */
export async function connectSensor(
  port: number,
  pki: TestPki,
  id: number,
  options: ConnectOptions = {},
): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [options.caCert ?? await Deno.readTextFile(pki.caCert)],
    cert: options.cert ?? await Deno.readTextFile(pki.sensorCert(id)),
    key: options.key ?? await Deno.readTextFile(pki.sensorKey(id)),
  });
  await conn.handshake();
  return conn;
}

/** What a raw client saw from the gateway. */
export interface Received {
  readonly frames: Frame[];
  /** True when the gateway closed the connection (EOF or reset). */
  readonly closed: boolean;
}

/**
 * Reads frames until `done(frames)` is true, the peer closes, or
 * `timeoutMs` passes (then `closed` is false and the frames so far return).
 */
export async function readFrames(
  conn: Deno.Conn,
  done: (frames: readonly Frame[]) => boolean = () => false,
  timeoutMs = 5_000,
): Promise<Received> {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  const buffer = new Uint8Array(4096);
  const deadline = Date.now() + timeoutMs;
  while (!done(frames)) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { frames, closed: false };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), remaining);
    });
    let n: number | null | "timeout";
    try {
      n = await Promise.race([conn.read(buffer), timeout]);
    } catch {
      return { frames, closed: true };
    } finally {
      clearTimeout(timer);
    }
    if (n === "timeout") return { frames, closed: false };
    if (n === null) return { frames, closed: true };
    for (const item of decoder.push(buffer.subarray(0, n))) {
      if (item instanceof FrameError) throw item;
      frames.push(item);
    }
  }
  return { frames, closed: false };
}

/** Whether `frames` hold an ACK for `seq`. */
export function hasAck(frames: readonly Frame[], seq: number): boolean {
  return frames.some((f) => f.type === "ack" && f.seq === seq);
}

/** The code of the first ERROR in `frames`, or undefined when there is none. */
export function errorCode(frames: readonly Frame[]): number | undefined {
  const error = frames.find((f) => f.type === "error");
  return error?.type === "error" ? error.code : undefined;
}

/**
 * A check that sensor `sensorId` of `pki` is served: each call connects,
 * sends the next reading and asserts it is ACKed within 3 s.
 */
export function servedCheck(port: number, pki: TestPki, sensorId: number): () => Promise<void> {
  let seq = 0;
  return async () => {
    const conn = await connectSensor(port, pki, sensorId);
    try {
      const s = ++seq;
      await conn.write(encodeReading(testReading(sensorId, s)));
      const { frames } = await readFrames(conn, (f) => hasAck(f, s), 3_000);
      assert.ok(hasAck(frames, s), `sensor ${sensorId} is still served`);
    } finally {
      closeQuietly(conn);
    }
  };
}

/** Closes a connection that may already be closed. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** Starts gateway.ts on port 0 (unless `port` is given) with the test PKI and a spool in `dir`. */
export function startGateway(
  pki: TestPki,
  dir: string,
  options: {
    args?: readonly string[];
    server?: string;
    port?: number;
    waitFor?: RegExp | null;
    /** More permission flags (`--allow-env` for `--opcua`). */
    allow?: readonly string[];
  } = {},
): Promise<RunningProgram> {
  return startProgram("gateway.ts", [
    "--port",
    String(options.port ?? 0),
    "--certs",
    pki.dir,
    "--spool",
    join(dir, "spool.db"),
    "--server",
    options.server ?? "http://127.0.0.1:9",
    "--stats-interval",
    "0",
    ...(options.args ?? []),
  ], {
    allow: [`--allow-read=${pki.dir},${dir}`, `--allow-write=${dir}`, ...(options.allow ?? [])],
    ...(options.waitFor === undefined ? {} : { waitFor: options.waitFor }),
  });
}

/** sensor.ts's flags, each given one as `--kebab-case value` in this order (`ackTimeout: 1` → `--ack-timeout 1`). */
export interface SensorFlags {
  readonly sensors?: number;
  readonly interval?: number;
  readonly count?: number;
  readonly seed?: number;
  readonly ackTimeout?: number;
  readonly buffer?: number;
  readonly window?: number;
  readonly statsInterval?: number;
}

/** Starts sensor.ts against the gateway on `port` with `flags`; resolves once its first line is out. */
export function startSensors(
  pki: TestPki,
  port: number,
  flags: SensorFlags,
): Promise<RunningProgram> {
  return startProgram("sensor.ts", [
    "--gateway",
    `127.0.0.1:${port}`,
    "--certs",
    pki.dir,
    "--stats-interval",
    "0",
    ...Object.entries(flags).flatMap(([name, value]) => [
      `--${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`,
      String(value),
    ]),
  ], { allow: [`--allow-read=${pki.dir}`], waitFor: /sending to/ });
}

/**
 * Starts server.ts on port 0 (unless `port` is given) with its database
 * `db` (default `readings.db`) in `dir` and the PKI's ingest token.
 */
export function startServer(
  pki: TestPki,
  dir: string,
  options: { port?: number; db?: string; args?: readonly string[] } = {},
): Promise<RunningProgram> {
  return startProgram("server.ts", [
    "--port",
    String(options.port ?? 0),
    "--db",
    join(dir, options.db ?? "readings.db"),
    "--token-file",
    pki.token,
    ...(options.args ?? []),
  ], { allow: [`--allow-read=${pki.dir},${dir}`, `--allow-write=${dir}`] });
}

/** The numeric fields of a `summary` (or `stats`) log line. */
export function parseSummary(line: string): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const [, key, value] of line.matchAll(/ (\w+)=(-?\d+(?:\.\d+)?)(?= |$)/g)) {
    fields[key!] = Number(value);
  }
  return fields;
}

/** Waits for sensor.ts to exit, asserts it exited 0, and returns its `summary` line's fields. */
export async function finishedSummary(sensors: RunningProgram): Promise<Record<string, number>> {
  assert.equal((await sensors.status).code, 0, sensors.output());
  return parseSummary(await sensors.waitForLine(/summary/));
}

/** Every reading the server holds, walked with the storage cursor (`after`). */
export async function fetchAllReadings(serverPort: number): Promise<Reading[]> {
  const readings: Reading[] = [];
  let cursor = 0;
  for (;;) {
    const response = await fetch(
      `http://127.0.0.1:${serverPort}/api/readings?after=${cursor}&limit=10000`,
    );
    if (!response.ok) throw new Error(`GET /api/readings: HTTP ${response.status}`);
    const page = await response.json() as unknown[];
    readings.push(...page.map(parseReadingJson));
    cursor = Number(response.headers.get("x-vigia-cursor"));
    if (page.length < 10_000) return readings;
  }
}

/** Polls `condition` every 50 ms until true, or throws after `timeoutMs`. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
