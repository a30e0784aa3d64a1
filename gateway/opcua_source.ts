/**
 * The gateway as an OPC UA client: one {@linkcode OpcuaServerSource} per
 * server of the `--opcua` file keeps a session and a subscription with one
 * monitored item per configured node, and turns each publish notification
 * into readings (docs/opcua.md):
 *
 * - a notification carrying changes for a sensor's nodes makes one reading
 *   for that sensor: changed quantities take their new values, the others
 *   their last known good value, a quantity never yet seen is `null`; its
 *   timestamp is the newest source timestamp among the changes (else the
 *   server's);
 * - a value whose status is not Good, or that is not a finite number in
 *   range, stops that sensor's readings until a good value arrives.
 *
 * Security: the server's certificate is pinned (exactly the file's
 * certificate is trusted for the endpoint, no trust on first use), the
 * gateway's own certificate and key are held in memory, so node-opcua
 * writes no PKI folder anywhere. A lost connection or session is rebuilt
 * from scratch (new channel, session, subscription) after a backoff with
 * jitter of at most 30 s.
 *
 * This module imports node-opcua (about 125 packages); the gateway imports
 * it only when `--opcua` is given.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { join } from "node:path";
import * as ua from "node-opcua-client";
import { backoffDelay, sleep } from "../lib/backoff.ts";
import type { Logger } from "../lib/log.ts";
import { QUANTITIES, type Quantity, toHundredths } from "../protocol/reading.ts";
import type { OpcuaPoint, OpcuaServerConfig } from "./opcua_config.ts";
import { certificateFingerprint, readCertificate } from "./opcua_pem.ts";

/** A reading made from OPC UA data changes, before the gateway gives it a `seq`. */
export interface SourceReading {
  readonly sensorId: number;
  /** Unix epoch ms. */
  readonly timestamp: number;
  /** Hundredths, `null` when never seen. */
  readonly temperature: number | null;
  readonly pressure: number | null;
  readonly humidity: number | null;
}

/** The `kind` label of `vigia_opcua_errors_total`. */
export const OPCUA_ERROR_KINDS = ["connect", "certificate", "node", "value", "session"] as const;
/** One of {@linkcode OPCUA_ERROR_KINDS}. */
export type OpcuaErrorKind = typeof OPCUA_ERROR_KINDS[number];

/** Counters of one server, for `/metrics`. */
export interface OpcuaServerStats {
  notifications: number;
  readonly errors: Record<OpcuaErrorKind, number>;
  up: boolean;
}

/** The gateway's OPC UA application instance: certificate, key, URI. */
export interface OpcuaIdentity {
  readonly certificate: Buffer;
  readonly privateKey: KeyObject;
  readonly applicationUri: string;
}

/** Reads `opcua/gateway.crt` and `opcua/gateway.key` under the certs folder. */
export async function loadOpcuaIdentity(certsDir: string): Promise<OpcuaIdentity> {
  const certPath = join(certsDir, "opcua", "gateway.crt");
  const certificate = await readCertificate(certPath);
  const privateKey = createPrivateKey(
    await Deno.readTextFile(join(certsDir, "opcua", "gateway.key")),
  );
  const uri = /URI:([^,\s]+)/.exec(new X509Certificate(certificate).subjectAltName ?? "")?.[1];
  if (uri === undefined) {
    throw new Error(`Cannot use ${certPath}: no application URI in its subject alternative name`);
  }
  return { certificate, privateKey, applicationUri: uri };
}

/** What an {@linkcode OpcuaServerSource} needs besides its configuration. */
export interface OpcuaSourceOptions {
  readonly identity: OpcuaIdentity;
  readonly log: Logger;
  /** Called once per reading, synchronously, in notification order. */
  readonly onReading: (reading: SourceReading) => void;
  /** Randomness of the backoff jitter; tests pass a seeded one. */
  readonly random?: () => number;
  /** Longest wait between reconnection attempts, in ms (default 30 s). */
  readonly maxBackoffMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;
const DISCONNECT_TIMEOUT_MS = 2_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Publishing intervals without any change before the server sends a keep-alive. */
const KEEPALIVE_COUNT = 10;
const WATCHDOG_MIN_MS = 10_000;

// node-opcua writes its own warnings to the console; they go to our debug log.
let stackLog: Logger | undefined;
ua.setWarningLogger((...args) => stackLog?.debug(`node-opcua: ${args.join(" ").trim()}`));
ua.setErrorLogger((...args) => stackLog?.debug(`node-opcua: ${args.join(" ").trim()}`));

interface SensorState {
  readonly id: number;
  readonly last: Record<Quantity, number | null>;
  /** Quantities whose latest value was not usable. */
  readonly bad: Set<Quantity>;
}

interface Monitored {
  readonly sensor: SensorState;
  readonly quantity: Quantity;
  readonly point: OpcuaPoint;
}

/** A fault's "logged once when it starts, once when it clears" state, per key. */
class Faults {
  readonly #active = new Map<string, number>();
  constructor(readonly log: Logger, readonly fields: Record<string, string>) {}
  start(key: string, message: string): void {
    const count = this.#active.get(key);
    this.#active.set(key, (count ?? 0) + 1);
    if (count === undefined) this.log.warn(message, this.fields);
  }
  clear(key: string, message: string): void {
    const count = this.#active.get(key);
    if (count === undefined) return;
    this.#active.delete(key);
    this.log.info(`${message} (after ${count} failures)`, this.fields);
  }
}

/** Keeps one server's subscription alive and turns its data changes into readings. */
export class OpcuaServerSource {
  /** Counters for `/metrics`. */
  readonly stats: OpcuaServerStats = {
    notifications: 0,
    errors: { connect: 0, certificate: 0, node: 0, value: 0, session: 0 },
    up: false,
  };
  readonly #config: OpcuaServerConfig;
  readonly #options: OpcuaSourceOptions;
  readonly #faults: Faults;
  readonly #sensors: SensorState[];

  constructor(config: OpcuaServerConfig, options: OpcuaSourceOptions) {
    this.#config = config;
    this.#options = options;
    this.#faults = new Faults(options.log, { server: config.name });
    this.#sensors = config.sensors.map((sensor) => ({
      id: sensor.id,
      last: { temperature: null, pressure: null, humidity: null },
      bad: new Set(),
    }));
    stackLog = options.log;
  }

  /** Connects, subscribes and reconnects until `signal` aborts; never throws. */
  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const wasUp = await this.#session(signal);
      this.stats.up = false;
      if (signal.aborted) break;
      attempt = wasUp ? 0 : attempt + 1;
      const delay = backoffDelay(attempt, {
        baseMs: BACKOFF_BASE_MS,
        maxMs: this.#options.maxBackoffMs ?? BACKOFF_MAX_MS,
        ...(this.#options.random ? { random: this.#options.random } : {}),
      });
      await sleep(delay, signal);
    }
  }

  /** One connection's life; resolves true when it was up at some point. */
  async #session(signal: AbortSignal): Promise<boolean> {
    const config = this.#config;
    const pinning = new PinningStore(config.serverCertificate?.der);
    const identity = this.#options.identity;
    const client = ua.OPCUAClient.create({
      applicationName: "Vigia gateway",
      applicationUri: identity.applicationUri,
      clientName: `vigia-${config.name}`,
      securityMode: ua.MessageSecurityMode[config.security],
      securityPolicy: ua.SecurityPolicy[config.policy],
      certificateKeyPairProvider: {
        getCertificate: () => identity.certificate,
        getCertificateChain: () => [identity.certificate],
        getPrivateKey: () => ({ hidden: identity.privateKey }) as never,
      },
      clientCertificateManager: pinning as never,
      // Servers often advertise a host name of their own (their machine
      // name); the address in the file is the one that is reachable.
      endpointMustExist: false,
      // We rebuild connections ourselves: a lost one is given up at once.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
    });
    const ended = Promise.withResolvers<string>();
    client.on("connection_lost", () => ended.resolve("connection lost"));
    client.on("close", () => ended.resolve("connection closed"));
    const abort = () => ended.resolve("shutting down");
    signal.addEventListener("abort", abort, { once: true });
    let up = false;
    let watchdog: ReturnType<typeof setInterval> | undefined;
    try {
      try {
        await withTimeout(client.connect(config.endpoint), CONNECT_TIMEOUT_MS, "connect");
      } catch (error) {
        await this.#connectFailed(pinning, error);
        return false;
      }
      this.#faults.clear("certificate", `server certificate matches the pinned one`);
      let session: ua.ClientSession;
      try {
        session = await withTimeout(
          client.createSession(
            config.user
              ? {
                type: ua.UserTokenType.UserName,
                userName: config.user.name,
                password: config.user.password,
              }
              : { type: ua.UserTokenType.Anonymous },
          ),
          CONNECT_TIMEOUT_MS,
          "create session",
        );
      } catch (error) {
        this.stats.errors.session++;
        this.#faults.start("link", `cannot open a session on ${config.endpoint}: ${reason(error)}`);
        return false;
      }
      session.on("session_closed", () => ended.resolve("session closed"));
      const subscription = await session.createSubscription2({
        requestedPublishingInterval: config.publishingIntervalMs,
        requestedLifetimeCount: 60,
        requestedMaxKeepAliveCount: KEEPALIVE_COUNT,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      });
      subscription.on("terminated", () => ended.resolve("subscription terminated"));
      const monitored = new Map<number, Monitored>();
      // Every publish response, data or keep-alive, proves the session is
      // alive; a silent one (half-open TCP, a stuck publish loop) is rebuilt.
      let lastPublish = Date.now();
      const silentMs = Math.max(WATCHDOG_MIN_MS, 3 * KEEPALIVE_COUNT * config.publishingIntervalMs);
      watchdog = setInterval(() => {
        if (Date.now() - lastPublish > silentMs) {
          ended.resolve(`no publish response for ${Math.round(silentMs / 1000)} s`);
        }
      }, 1_000);
      // The first values may be published before the create-monitored-items
      // call has returned the handles they carry: hold them until it has.
      let early: ua.NotificationMessage[] | undefined = [];
      subscription.on("raw_notification", (message) => {
        lastPublish = Date.now();
        if (early) early.push(message);
        else this.#onNotification(message, monitored);
      });
      await this.#monitor(subscription, monitored);
      for (const message of early) this.#onNotification(message, monitored);
      early = undefined;
      up = true;
      this.stats.up = true;
      this.#faults.clear("link", `session up on ${config.endpoint}`);
      this.#options.log.info(`subscribed to ${config.endpoint}`, {
        server: config.name,
        nodes: monitored.size,
        security: config.security,
      });
      const why = await ended.promise;
      if (!signal.aborted) {
        this.stats.errors.session++;
        this.#faults.start("link", `lost ${config.endpoint}: ${why}`);
      }
      return true;
    } catch (error) {
      this.stats.errors.session++;
      this.#faults.start("link", `session with ${config.endpoint} failed: ${reason(error)}`);
      return up;
    } finally {
      signal.removeEventListener("abort", abort);
      clearInterval(watchdog);
      await withTimeout(client.disconnect(), DISCONNECT_TIMEOUT_MS, "disconnect").catch(() => {});
    }
  }

  async #connectFailed(pinning: PinningStore, error: unknown): Promise<void> {
    const config = this.#config;
    const presented = pinning.rejected;
    if (presented && config.serverCertificate) {
      this.stats.errors.certificate++;
      const expected = await certificateFingerprint(config.serverCertificate.der);
      const got = await certificateFingerprint(presented);
      this.#faults.start(
        "certificate",
        `server ${config.endpoint} presented a certificate other than ${config.serverCertificate.path}: no session ` +
          `(pinned sha256=${expected}, presented sha256=${got})`,
      );
      return;
    }
    this.stats.errors.connect++;
    this.#faults.start("link", `cannot connect to ${config.endpoint}: ${reason(error)}`);
  }

  async #monitor(
    subscription: ua.ClientSubscription,
    monitored: Map<number, Monitored>,
  ): Promise<void> {
    const points: Monitored[] = [];
    this.#config.sensors.forEach((sensor, i) => {
      for (const quantity of QUANTITIES) {
        const point = sensor.points[quantity];
        if (point) points.push({ sensor: this.#sensors[i]!, quantity, point });
      }
    });
    const group = await subscription.monitorItems(
      points.map(({ point }) => ({ nodeId: point.node, attributeId: ua.AttributeIds.Value })),
      {
        samplingInterval: this.#config.publishingIntervalMs,
        queueSize: 1,
        discardOldest: true,
      },
      ua.TimestampsToReturn.Both,
    );
    group.monitoredItems.forEach((item, i) => {
      const entry = points[i]!;
      const key = `node ${entry.point.node}`;
      const status = (item as unknown as { statusCode: ua.StatusCode }).statusCode;
      if (status.isGood()) {
        monitored.set(item.monitoringParameters.clientHandle, entry);
        this.#faults.clear(key, `node ${entry.point.node} subscribed`);
      } else {
        this.stats.errors.node++;
        this.#faults.start(
          key,
          `node ${entry.point.node} of sensor ${entry.sensor.id} cannot be subscribed: ${status.name}`,
        );
      }
    });
  }

  #onNotification(message: ua.NotificationMessage, monitored: Map<number, Monitored>): void {
    const changes = new Map<
      SensorState,
      { values: Map<Quantity, number>; source: number; server: number }
    >();
    for (const data of message.notificationData ?? []) {
      if (!(data instanceof ua.DataChangeNotification)) continue;
      this.stats.notifications++;
      for (const item of data.monitoredItems ?? []) {
        const entry = monitored.get(item.clientHandle);
        if (!entry) continue;
        const change = changes.get(entry.sensor) ??
          { values: new Map<Quantity, number>(), source: -Infinity, server: -Infinity };
        changes.set(entry.sensor, change);
        const value = this.#usable(entry, item.value);
        if (value === undefined) continue;
        change.values.set(entry.quantity, value);
        change.source = Math.max(change.source, item.value.sourceTimestamp?.getTime() ?? -Infinity);
        change.server = Math.max(change.server, item.value.serverTimestamp?.getTime() ?? -Infinity);
      }
    }
    const publishTime = message.publishTime?.getTime() ?? Date.now();
    for (const [sensor, change] of changes) {
      for (const [quantity, value] of change.values) sensor.last[quantity] = value;
      if (change.values.size === 0 || sensor.bad.size > 0) continue;
      const timestamp = Number.isFinite(change.source)
        ? change.source
        : Number.isFinite(change.server)
        ? change.server
        : publishTime;
      this.#options.onReading({ sensorId: sensor.id, timestamp, ...sensor.last });
    }
  }

  /** The value in hundredths, or undefined (counted, logged once) when it is not usable. */
  #usable(entry: Monitored, dataValue: ua.DataValue): number | undefined {
    const { sensor, quantity, point } = entry;
    const key = `value ${point.node}`;
    const raw = dataValue.value?.value;
    let problem: string | undefined;
    let hundredths: number | undefined;
    if (!dataValue.statusCode.isGood()) {
      problem = `status ${dataValue.statusCode.name}`;
    } else if (typeof raw !== "number" || !Number.isFinite(raw)) {
      problem = `not a finite number (${JSON.stringify(String(raw)).slice(0, 40)})`;
    } else {
      try {
        hundredths = toHundredths(raw * point.scale + point.offset);
      } catch {
        problem = `out of range (${raw})`;
      }
    }
    if (hundredths === undefined) {
      this.stats.errors.value++;
      sensor.bad.add(quantity);
      this.#faults.start(
        key,
        `node ${point.node} (sensor ${sensor.id} ${quantity}) value unusable: ${problem}`,
      );
      return undefined;
    }
    sensor.bad.delete(quantity);
    this.#faults.clear(
      key,
      `node ${point.node} (sensor ${sensor.id} ${quantity}) value good again`,
    );
    return hundredths;
  }
}

/**
 * A certificate store that trusts exactly one certificate: the pinned
 * server certificate. node-opcua asks it about the certificate the server
 * presents in its endpoints; anything else is refused and remembered, so
 * the log can name what was presented.
 */
class PinningStore {
  referenceCounter = 0;
  rejected: Buffer | undefined;
  readonly #pinned: Uint8Array | undefined;
  constructor(pinned: Uint8Array | undefined) {
    this.#pinned = pinned;
  }
  initialize(): Promise<void> {
    return Promise.resolve();
  }
  dispose(): Promise<void> {
    return Promise.resolve();
  }
  #trusts(certificate: Buffer | Buffer[]): boolean {
    const leaf = Array.isArray(certificate) ? certificate[0] : certificate;
    return leaf !== undefined && this.#pinned !== undefined &&
      Buffer.compare(leaf, this.#pinned) === 0;
  }
  /** What node-opcua asks about the server's certificate. */
  checkCertificate(certificate: Buffer | Buffer[]): Promise<ua.StatusCode> {
    if (this.#trusts(certificate)) return Promise.resolve(ua.StatusCodes.Good);
    this.rejected = Array.isArray(certificate) ? certificate[0] : certificate;
    return Promise.resolve(ua.StatusCodes.BadCertificateUntrusted);
  }
  /** Also asked about the gateway's own certificate at start; "untrusted" is expected there. */
  verifyCertificate(certificate: Buffer | Buffer[]): Promise<string> {
    return Promise.resolve(this.#trusts(certificate) ? "Good" : "BadCertificateUntrusted");
  }
  getTrustStatus(certificate: Buffer | Buffer[]): Promise<ua.StatusCode> {
    return this.checkCertificate(certificate);
  }
  trustCertificate(): Promise<void> {
    return Promise.resolve();
  }
  rejectCertificate(): Promise<void> {
    return Promise.resolve();
  }
  addIssuer(): Promise<void> {
    return Promise.resolve();
  }
  addRevocationList(): Promise<void> {
    return Promise.resolve();
  }
}

function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // node-opcua wraps causes in long multi-line messages; the status name is what an engineer needs.
  const status = /\b(Bad[A-Za-z]+)\b/.exec(message)?.[1];
  const first = message.split("\n").map((line) => line.trim()).find((line) => line !== "") ??
    message;
  return status && !first.includes(status) ? `${first} (${status})` : first;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
