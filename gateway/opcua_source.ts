/**
 * One OPC UA server of the `--opcua` file, as the gateway's client of it:
 * its own session and a subscription holding one monitored item per
 * configured node (sampling interval = publishing
 * interval). Each publish notification becomes readings by the rules of
 * `opcua_readings.ts`, handed to the sink (and so the spool).
 *
 * Faults (docs/opcua.md) are counted per server and kind, logged once when
 * they start and once when they clear, and never stop the other servers:
 * an unreachable server, a lost connection or session, or one that stops
 * publishing (not even keep-alives) is rebuilt from scratch (channel,
 * session, subscription) after a backoff with jitter of at most 30 s; a
 * server presenting another certificate than the pinned one gets no
 * session; a node that cannot be monitored is reported with its status
 * name while the other nodes go on.
 *
 * This module loads node-opcua (about 125 packages): gateway/opcua.ts imports
 * it only when `--opcua` is given.
 *
 * It runs past 300 lines because a server's life cycle (dial, check the pinned
 * certificate, open the session, subscribe, watch, rebuild) is one state
 * machine that reads best in one place; turning notifications into readings
 * is opcua_readings.ts.
 *
 * @module
 */

import * as ua from "node-opcua-client";
import { backoffDelay, sleep } from "../static/shared/backoff.js";
import type { Logger } from "../lib/log.ts";
import type { OpcuaServerConfig } from "./opcua_config.ts";
import { certificateFingerprint } from "./opcua_pem.ts";
import { type DataChange, OpcuaReadings } from "./opcua_readings.ts";
import { keyPairProvider, type OpcuaIdentity, PinningStore } from "./opcua_security.ts";
import type { OpcuaErrorKind, OpcuaMetrics } from "./opcua_metrics.ts";
import type { FaultReporter, SourceReading } from "./sources.ts";

/** Options of {@linkcode OpcuaServerSource}. */
export interface OpcuaServerSourceOptions {
  readonly identity: OpcuaIdentity;
  readonly log: Logger;
  readonly metrics: OpcuaMetrics;
  readonly faults: FaultReporter;
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
/** Publishing intervals without a change before the server sends a keep-alive. */
const KEEPALIVE_COUNT = 10;
const WATCHDOG_MIN_MS = 10_000;

// node-opcua writes its own warnings to the console; they go to our debug log.
let stackLog: Logger | undefined;
ua.setWarningLogger((...args) => stackLog?.debug(`node-opcua: ${args.join(" ").trim()}`));
ua.setErrorLogger((...args) => stackLog?.debug(`node-opcua: ${args.join(" ").trim()}`));

/** Keeps one server's subscription alive and turns its data changes into readings. */
export class OpcuaServerSource {
  readonly #config: OpcuaServerConfig;
  readonly #options: OpcuaServerSourceOptions;
  readonly #readings: OpcuaReadings;

  constructor(config: OpcuaServerConfig, options: OpcuaServerSourceOptions) {
    this.#config = config;
    this.#options = options;
    this.#readings = new OpcuaReadings(config.sensors, {
      faults: options.faults,
      onBadValue: () => this.#count("value"),
    });
    options.metrics.addServer(config.name);
    stackLog = options.log;
  }

  /** Connects, subscribes and reconnects until `signal` aborts; never throws. */
  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const wasUp = await this.#session(signal);
      this.#options.metrics.up.set(this.#config.name, 0);
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

  #count(kind: OpcuaErrorKind): void {
    this.#options.metrics.errors.add({ server: this.#config.name, kind });
  }

  /** One connection's life; resolves true when it was up at some point. */
  async #session(signal: AbortSignal): Promise<boolean> {
    const config = this.#config;
    const faults = this.#options.faults;
    const pinning = new PinningStore(config.serverCertificate?.value);
    const client = ua.OPCUAClient.create({
      applicationName: "Vigia gateway",
      applicationUri: this.#options.identity.applicationUri,
      clientName: `vigia-${config.name}`,
      securityMode: ua.MessageSecurityMode[config.security],
      securityPolicy: ua.SecurityPolicy[config.policy],
      certificateKeyPairProvider: keyPairProvider(this.#options.identity),
      clientCertificateManager: pinning as never,
      // Servers often advertise a host name of their own (their machine
      // name); the address in the file is the one that is reachable.
      endpointMustExist: false,
      // We rebuild lost connections ourselves, from scratch.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
    });
    const ended = Promise.withResolvers<string>();
    client.on("connection_lost", () => ended.resolve("connection lost"));
    client.on("close", () => ended.resolve("connection closed"));
    const abort = () => ended.resolve("shutting down");
    // Each step of building the session is bounded, and given up at once
    // when the connection drops or the gateway stops.
    const interrupted = ended.promise.then((why) => Promise.reject(new Error(why)));
    interrupted.catch(() => {});
    const step = <T>(promise: Promise<T>, what: string) =>
      Promise.race([withTimeout(promise, CONNECT_TIMEOUT_MS, what), interrupted]);
    signal.addEventListener("abort", abort, { once: true });
    let watchdog: ReturnType<typeof setInterval> | undefined;
    let up = false;
    try {
      try {
        await step(client.connect(config.endpoint), "connect");
      } catch (error) {
        if (signal.aborted) return false;
        await this.#connectFailed(pinning, error);
        return false;
      }
      faults.clear("certificate");
      let session: ua.ClientSession;
      try {
        session = await step(
          client.createSession(
            config.user
              ? {
                type: ua.UserTokenType.UserName,
                userName: config.user.name,
                password: config.user.passwordFile.value ?? "",
              }
              : { type: ua.UserTokenType.Anonymous },
          ),
          "create session",
        );
      } catch (error) {
        if (signal.aborted) return false;
        this.#count("session");
        faults.fail("link", `cannot open a session on ${config.endpoint}: ${reason(error)}`);
        return false;
      }
      session.on("session_closed", () => ended.resolve("session closed"));
      const subscription = await step(
        session.createSubscription2({
          requestedPublishingInterval: config.publishingIntervalMs,
          requestedLifetimeCount: 6 * KEEPALIVE_COUNT,
          requestedMaxKeepAliveCount: KEEPALIVE_COUNT,
          maxNotificationsPerPublish: 0,
          publishingEnabled: true,
          priority: 10,
        }),
        "create subscription",
      );
      subscription.on("terminated", () => ended.resolve("subscription terminated"));
      // Every publish response, data or keep-alive, shows the session is
      // alive; a silent one (half-open TCP, a stuck server) is rebuilt.
      let lastPublish = Date.now();
      const silentMs = Math.max(WATCHDOG_MIN_MS, 3 * KEEPALIVE_COUNT * config.publishingIntervalMs);
      watchdog = setInterval(() => {
        if (Date.now() - lastPublish > silentMs) {
          ended.resolve(`no publish response for ${Math.round(silentMs / 1000)} s`);
        }
      }, 1_000);
      // The first values may be published before the create-monitored-items
      // call has returned the handles they carry: hold them until it has.
      const handles = new Map<number, number>();
      let early: ua.NotificationMessage[] | undefined = [];
      subscription.on("raw_notification", (message) => {
        lastPublish = Date.now();
        if (early) early.push(message);
        else this.#onNotification(message, handles);
      });
      await step(this.#monitor(subscription, handles), "create monitored items");
      for (const message of early) this.#onNotification(message, handles);
      early = undefined;
      up = true;
      this.#options.metrics.up.set(config.name, 1);
      faults.clear("link");
      this.#options.log.info(`opcua: subscribed to ${config.endpoint}`, {
        server: config.name,
        nodes: handles.size,
        security: config.security,
      });
      const why = await ended.promise;
      if (!signal.aborted) {
        this.#count("session");
        faults.fail("link", `lost ${config.endpoint}: ${why}`);
      }
      return true;
    } catch (error) {
      if (signal.aborted) return up;
      this.#count("session");
      faults.fail("link", `session with ${config.endpoint} failed: ${reason(error)}`);
      return up;
    } finally {
      signal.removeEventListener("abort", abort);
      clearInterval(watchdog);
      await withTimeout(client.disconnect(), DISCONNECT_TIMEOUT_MS, "disconnect").catch(() => {});
    }
  }

  async #connectFailed(pinning: PinningStore, error: unknown): Promise<void> {
    const config = this.#config;
    const pinned = config.serverCertificate;
    if (pinning.rejected && pinned?.value) {
      this.#count("certificate");
      const expected = await certificateFingerprint(pinned.value);
      const got = await certificateFingerprint(pinning.rejected);
      this.#options.faults.fail(
        "certificate",
        `${config.endpoint} presented a certificate other than ${pinned.path}: no session ` +
          `(pinned sha256=${expected}, presented sha256=${got})`,
      );
      return;
    }
    this.#count("connect");
    this.#options.faults.fail("link", `cannot connect to ${config.endpoint}: ${reason(error)}`);
  }

  /** Creates one monitored item per point; `handles` maps the stack's client handles to ours. */
  async #monitor(subscription: ua.ClientSubscription, handles: Map<number, number>): Promise<void> {
    const points = [...this.#readings.points];
    const group = await subscription.monitorItems(
      points.map(([, { point }]) => ({ nodeId: point.node, attributeId: ua.AttributeIds.Value })),
      { samplingInterval: this.#config.publishingIntervalMs, queueSize: 1, discardOldest: true },
      ua.TimestampsToReturn.Both,
    );
    group.monitoredItems.forEach((item, i) => {
      const [handle, { point, sensor }] = points[i]!;
      const key = `node:${point.node}`;
      const status = (item as unknown as { statusCode: ua.StatusCode }).statusCode;
      if (status.isGood()) {
        handles.set(item.monitoringParameters.clientHandle, handle);
        this.#options.faults.clear(key);
      } else {
        this.#count("node");
        const id = this.#config.sensors[sensor]!.id;
        this.#options.faults.fail(
          key,
          `node ${point.node} of sensor ${id} cannot be monitored: ${status.name}`,
        );
      }
    });
  }

  #onNotification(message: ua.NotificationMessage, handles: Map<number, number>): void {
    const changes: DataChange[] = [];
    for (const data of message.notificationData ?? []) {
      if (!(data instanceof ua.DataChangeNotification)) continue;
      this.#options.metrics.notifications.add({ server: this.#config.name });
      for (const item of data.monitoredItems ?? []) {
        const handle = handles.get(item.clientHandle);
        if (handle === undefined) continue;
        const value = item.value;
        changes.push({
          handle,
          value: value.value?.value,
          status: value.statusCode.isGood() ? "Good" : value.statusCode.name,
          source: value.sourceTimestamp?.getTime(),
          server: value.serverTimestamp?.getTime(),
        });
      }
    }
    if (changes.length === 0) return;
    const publishTime = message.publishTime?.getTime() ?? Date.now();
    for (const reading of this.#readings.assemble(changes, publishTime)) {
      this.#options.onReading(reading);
    }
  }
}

/**
 * What an engineer needs of a node-opcua error: its innermost cause (the
 * stack wraps them as `… (err =cause)`), else its first line, with the
 * status name when it is buried further down.
 */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = message.lastIndexOf("(err =");
  if (cause !== -1) {
    return message.slice(cause + "(err =".length).replace(/[\s)]+$/, "").split("\n")[0]!.trim();
  }
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
