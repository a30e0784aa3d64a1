/**
 * The sensors' door: a `node:tls` server demanding a client certificate
 * signed by the plant CA (`requestCert`, then `socket.authorized`), so no
 * certificate, a certificate from another CA, an expired one, or plaintext
 * never reaches a decoder, and the log says which it was (in the words of
 * refusal_reasons.ts).
 * `Deno.listenTls` cannot ask for client certificates; `node:tls` under
 * Deno can.
 *
 * Also enforced here: a certificate on the revocation list is refused right
 * after the handshake (Deno's `node:tls` ignores the `crl` option), and on
 * each reload of the list the sessions of certificates revoked since they
 * connected are ended; the certificate's CN must be `sensor-<id>` (decimal,
 * no leading zeros, a u32), a bound on simultaneous connections (counted
 * from the TCP accept, so half-open handshakes count too), a handshake
 * timeout, and the idle timeout (ERROR 5), checked by one sweep a second
 * rather than a timer per socket.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import type { Socket } from "node:net";
import type { Logger } from "../lib/log.ts";
import { encodeError, ERROR_CODES } from "../protocol/mod.ts";
import type { Committer } from "./committer.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { RoomGate } from "./room_gate.ts";
import { describeHandshakeError, describeRejectedCertificate } from "./refusal_reasons.ts";
import { describeRevocation, type RevocationList } from "./revocation.ts";
import { SensorSession } from "./session.ts";

/** Options of {@linkcode listenForSensors}. */
export interface ListenerOptions {
  readonly hostname: string;
  readonly port: number;
  /** PEM of the plant CA, the gateway's certificate and its key. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly committer: Committer;
  readonly gate: RoomGate;
  /**
   * Certificates refused although the CA signed them (default: none); after
   * each reload, the sessions of newly revoked ones are ended.
   */
  readonly revocation?: Pick<RevocationList, "check" | "onReload">;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** TCP connections at once (handshaking or established); beyond it new ones are closed at once. */
  readonly maxConnections: number;
  /** A session with no complete frame for this long gets ERROR 5. */
  readonly idleTimeoutMs: number;
  /** A TLS handshake not done within this is dropped. */
  readonly handshakeTimeoutMs: number;
  /** Uncommitted readings per connection before its socket is paused. */
  readonly maxPendingReadings: number;
  /** Bytes queued towards one peer before it counts as not reading. */
  readonly maxWriteBuffer: number;
  /** Sensor ids owned by device sources: a certificate naming one gets ERROR 2. */
  readonly reservedIds?: ReadonlySet<number>;
}

/** A listening gateway door. */
export interface SensorListener {
  readonly hostname: string;
  readonly port: number;
  /** Open sessions now. */
  readonly sessions: number;
  /** Stops accepting new connections (open ones go on). */
  stopAccepting(): void;
  /** Ends every session (no ERROR: a shutdown), waiting up to `graceMs` for them to close. */
  closeSessions(graceMs: number): Promise<void>;
}

const SENSOR_CN = /^sensor-(0|[1-9][0-9]{0,9})$/;

/**
 * The sensor id a certificate's subject CN authorises, or undefined when
 * the CN is not exactly `sensor-<id>` with a u32 `<id>` in decimal without
 * leading zeros.
 */
export function sensorIdFromCn(cn: unknown): number | undefined {
  if (typeof cn !== "string") return undefined;
  const match = SENSOR_CN.exec(cn);
  if (!match) return undefined;
  const id = Number(match[1]);
  return id <= 0xffff_ffff ? id : undefined;
}

/** Binds the mutual-TLS listener and resolves once it is listening. */
export async function listenForSensors(options: ListenerOptions): Promise<SensorListener> {
  const { metrics, log } = options;
  const values = metrics.values;
  const sessions = new Set<SensorSession>();
  metrics.readGauge("connections_active", () => sessions.size);
  /** The certificate serial number of each session, for revocations that come later. */
  const serials = new Map<SensorSession, string>();
  let sockets = 0;

  const plantCa = new X509Certificate(options.ca);
  const server = tls.createServer({
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    requestCert: true,
    // The chain is still verified by the TLS layer and `socket.authorized`
    // decides (see "secureConnection"); with `true`, Deno's node:tls drops an
    // untrusted certificate as a bare "socket hang up", so the log could not
    // say why a sensor was refused.
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
    handshakeTimeout: options.handshakeTimeoutMs,
  });

  server.on("connection", (socket: Socket) => {
    if (sockets >= options.maxConnections) {
      values.connections_refused++;
      log.debug("refusing connection: --max-connections reached", {
        peer: `${socket.remoteAddress}:${socket.remotePort}`,
      });
      socket.destroy();
      return;
    }
    sockets++;
    socket.once("close", () => sockets--);
  });

  server.on("tlsClientError", (error: Error & { code?: string }, socket: tls.TLSSocket) => {
    values.tls_rejected++;
    log.warn("rejected TLS connection", {
      peer: peerOf(socket),
      reason: describeHandshakeError(error),
    });
    // Deno's node:tls reports a handshake timeout but leaves the TCP socket
    // open; close both layers so a silent client cannot hold a slot.
    socket.destroy();
    (socket as unknown as { _parent?: Socket })._parent?.destroy();
  });

  server.on("secureConnection", (socket: tls.TLSSocket) => {
    const peer = peerOf(socket);
    socket.on("error", () => {}); // reported through the session, or irrelevant once closing
    if (!socket.authorized) {
      // Refused before a byte of it is read: no session, no decoder.
      values.tls_rejected++;
      const raw = (socket.getPeerCertificate(true) as { raw?: Uint8Array } | null)?.raw;
      log.warn("rejected TLS connection", {
        peer,
        reason: describeRejectedCertificate(raw, plantCa, socket.authorizationError),
      });
      socket.destroy();
      return;
    }
    const certificate = socket.getPeerCertificate();
    const cn = certificate?.subject?.CN;
    const serial = String(certificate?.serialNumber ?? "");
    const revoked = options.revocation?.check(serial);
    if (revoked !== undefined) {
      values.tls_rejected++;
      log.warn("rejected revoked sensor certificate", {
        peer,
        sensor: typeof cn === "string" ? cn : null,
        reason: describeRevocation(revoked),
      });
      socket.destroy();
      return;
    }
    const sensorId = sensorIdFromCn(cn);
    const reserved = sensorId !== undefined && options.reservedIds?.has(sensorId) === true;
    if (sensorId === undefined || reserved) {
      values.identity_rejected++;
      const reason = reserved
        ? `sensor ${sensorId} belongs to a device source (--modbus/--opcua file), not to a TLS sensor`
        : `certificate CN ${JSON.stringify(cn ?? null)} does not name a sensor ` +
          `(expected sensor-<id>)`;
      log.warn("rejected sensor certificate", { peer, reason });
      socket.end(encodeError(ERROR_CODES.identity, reason));
      const timer = setTimeout(() => socket.destroy(), 2_000);
      socket.once("close", () => clearTimeout(timer));
      return;
    }
    values.connections_accepted++;
    const session = new SensorSession(socket, sensorId, {
      committer: options.committer,
      gate: options.gate,
      metrics,
      log,
      maxPendingReadings: options.maxPendingReadings,
      maxWriteBuffer: options.maxWriteBuffer,
      onClose: (closed) => {
        sessions.delete(closed);
        serials.delete(closed);
        log.debug("sensor disconnected", { sensor: closed.sensorId, peer: closed.peer });
      },
    });
    sessions.add(session);
    serials.set(session, serial);
    log.debug("sensor connected", { sensor: sensorId, peer });
  });

  // Sessions whose certificate is revoked since they connected: what they
  // sent is committed and ACKed first, then ERROR 2 and the socket closes.
  options.revocation?.onReload(() => {
    for (const [session, serial] of serials) {
      const revoked = options.revocation?.check(serial);
      if (revoked === undefined || session.closing) continue;
      log.warn("dropping revoked sensor", {
        sensor: session.sensorId,
        peer: session.peer,
        reason: describeRevocation(revoked),
      });
      session.fail(ERROR_CODES.identity, "certificate revoked");
    }
  });

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const session of sessions) {
      if (!session.closing && session.idleFor(now) > options.idleTimeoutMs) {
        values.idle_timeouts++;
        session.fail(
          ERROR_CODES.idle,
          `nothing received for ${options.idleTimeoutMs / 1000} s`,
        );
      }
    }
  }, Math.min(1_000, options.idleTimeoutMs / 2));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error: Error) => log.error(`listener error: ${error.message}`));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;

  let closed: Promise<void> | undefined;
  return {
    hostname: options.hostname,
    port,
    get sessions() {
      return sessions.size;
    },
    stopAccepting() {
      closed ??= new Promise((resolve) => server.close(() => resolve()));
    },
    async closeSessions(graceMs: number) {
      clearInterval(sweep);
      for (const session of sessions) session.end();
      const deadline = Date.now() + graceMs;
      while (sessions.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const session of sessions) session.destroy();
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 500))]);
    },
  };
}

/**
 * `address:port` of a TLS socket's peer. Before the handshake completes,
 * Deno's `node:tls` has the address only on the wrapped TCP socket.
 */
function peerOf(socket: tls.TLSSocket): string {
  const tcp = (socket as unknown as { _parent?: Socket })._parent;
  const address = socket.remoteAddress ?? tcp?.remoteAddress ?? "unknown";
  const port = socket.remotePort ?? tcp?.remotePort ?? 0;
  return `${address}:${port}`;
}
