/**
 * The chaos run: sensors stream through a real gateway to a real server
 * while, at seeded random moments, one of them is killed with SIGKILL,
 * restarted gracefully, or the server goes away long enough for the
 * gateway's spool to hit its bound (sensors then get ERROR 4). At the end
 * every process is back, the sensors finish their count, the spool drains,
 * and the server's readings are tallied against what the sensors measured.
 *
 * Used by tests/faults_chaos_test.ts (a short run in the suite) and by
 * bench/chaos.ts (`deno run -A bench/chaos.ts --minutes 3`).
 *
 * @module
 */

import { join } from "node:path";
import { parseSummary, startGateway, startSensors, startServer } from "./_link.ts";
import type { RunningProgram } from "./_process.ts";
import { testPki } from "./_pki.ts";
import {
  delay,
  freePort,
  integrityCheck,
  metricsPort,
  settle,
  spoolDrained,
  type Tally,
} from "./_faults.ts";
import { randomInt, seededRandom } from "./_random.ts";

/** The faults a chaos run injects. */
export const FAULT_KINDS = [
  "gateway SIGKILL",
  "gateway SIGTERM",
  "server SIGKILL",
  "server outage",
] as const;

/** One kind of fault. */
export type FaultKind = typeof FAULT_KINDS[number];

/** Options of {@linkcode runChaos}. */
export interface ChaosOptions {
  /** How long sensors measure while faults are injected, in seconds. */
  readonly seconds: number;
  readonly seed: number;
  /** Sensors in the sensor process (default 4). */
  readonly sensors?: number;
  /** Seconds between readings per sensor (default 0.005: 200 per second each). */
  readonly interval?: number;
  /** The gateway's `--spool-max` (default 2,000: an outage of a few seconds reaches it). */
  readonly spoolMax?: number;
  /** Shortest and longest server outage, in seconds (default 2 to 6). */
  readonly outageSeconds?: readonly [number, number];
  /** Called with a line per fault, for a live log. */
  readonly onFault?: (line: string) => void;
}

/** What a chaos run did and found. */
export interface ChaosResult extends Tally {
  readonly seed: number;
  readonly seconds: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** Readings sent for the first time, sent again after a reconnect, ACKed. */
  readonly sent: number;
  readonly resent: number;
  readonly acknowledged: number;
  /** Readings the sensors had to drop (their buffer bound): never ACKed, not a loss of the system. */
  readonly dropped: number;
  /** ERROR 4 refusals the sensors heard (spool full). */
  readonly refused: number;
  /** The server's `integrity_check` after each of its crashes and at the end. */
  readonly integrity: readonly string[];
  /** Whether the sensors finished their count. */
  readonly finished: boolean;
}

/** The result as one line: `sent=… stored=… lost=… duplicated=…`. */
export function formatChaos(result: ChaosResult): string {
  const faults = FAULT_KINDS.map((kind) => `${kind.replace(" ", "_")}=${result.faults[kind]}`);
  const bad = result.integrity.filter((check) => check !== "ok").length;
  return `seed=${result.seed} seconds=${result.seconds} ${faults.join(" ")} ` +
    `sent=${result.sent} resent=${result.resent} acknowledged=${result.acknowledged} ` +
    `refused=${result.refused} dropped=${result.dropped} expected=${result.expected} ` +
    `stored=${result.stored} lost=${result.lost} duplicated=${result.duplicated} ` +
    `wrong=${result.wrong} integrity_checks=${result.integrity.length} integrity_failures=${bad}` +
    (result.finished ? "" : " UNFINISHED");
}

/** Runs one chaos run; resolves with its figures (it asserts nothing itself). */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const random = seededRandom(options.seed);
  const sensorCount = options.sensors ?? 4;
  const interval = options.interval ?? 0.005;
  const count = Math.round(options.seconds / interval);
  const pki = await testPki(sensorCount);
  const dir = await Deno.makeTempDir({ prefix: "vigia-chaos-" });
  const db = join(dir, "readings.db");
  const serverPort = freePort();
  const serverUrl = `http://127.0.0.1:${serverPort}`;
  const gatewayArgs = ["--spool-max", String(options.spoolMax ?? 2_000), "--metrics-port", "0"];
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<
    FaultKind,
    number
  >;
  const integrity: string[] = [];
  const note = (line: string) => options.onFault?.(line);

  let server: RunningProgram | undefined;
  let gateway: RunningProgram | undefined;
  let sensors: RunningProgram | undefined;
  try {
    server = await startServer(pki, dir, { port: serverPort });
    gateway = await startGateway(pki, dir, { server: serverUrl, args: gatewayArgs });
    const gatewayPort = gateway.port;
    const restartGateway = async () => {
      gateway = await startGateway(pki, dir, {
        server: serverUrl,
        port: gatewayPort,
        args: gatewayArgs,
      });
    };
    const since = Date.now();
    sensors = await startSensors(pki, gatewayPort, {
      sensors: sensorCount,
      interval,
      count,
      seed: options.seed,
      ackTimeout: 1,
    });

    const ends = since + options.seconds * 1000;
    while (Date.now() < ends - 500) {
      await delay(Math.min(randomInt(random, 500, 3_000), Math.max(0, ends - Date.now())));
      const kind = FAULT_KINDS[randomInt(random, 0, FAULT_KINDS.length - 1)]!;
      faults[kind]++;
      const at = ((Date.now() - since) / 1000).toFixed(1);
      switch (kind) {
        case "gateway SIGKILL": {
          await gateway.stop("SIGKILL");
          const down = randomInt(random, 0, 1_000);
          await delay(down);
          await restartGateway();
          note(`${at} s: gateway SIGKILL, back after ${down} ms`);
          break;
        }
        case "gateway SIGTERM": {
          const status = await gateway.stop("SIGTERM");
          if (status.code !== 0) throw new Error(`gateway exited ${status.code} on SIGTERM`);
          await restartGateway();
          note(`${at} s: gateway SIGTERM and restart`);
          break;
        }
        case "server SIGKILL": {
          await server.stop("SIGKILL");
          integrity.push(integrityCheck(db));
          const down = randomInt(random, 0, 1_000);
          await delay(down);
          server = await startServer(pki, dir, { port: serverPort });
          note(
            `${at} s: server SIGKILL, integrity_check ${integrity.at(-1)}, back after ${down} ms`,
          );
          break;
        }
        case "server outage": {
          await server.stop(random() < 0.5 ? "SIGTERM" : "SIGKILL");
          const [shortest, longest] = options.outageSeconds ?? [2, 6];
          const down = randomInt(random, shortest * 1000, longest * 1000);
          await delay(down);
          server = await startServer(pki, dir, { port: serverPort });
          note(`${at} s: server away for ${down} ms`);
          break;
        }
      }
    }

    // Everything is up again: the sensors finish, the spool drains.
    const finishBy = Date.now() + 90_000;
    const exit = await Promise.race([sensors.status, delay(90_000).then(() => undefined)]);
    if (exit === undefined) await sensors.stop("SIGTERM");
    const summaryLine = await sensors.waitForLine(
      /summary/,
      Math.max(1_000, finishBy - Date.now()),
    );
    const summary = parseSummary(summaryLine);
    const refused = Number(/errors=\S*?\b4:(\d+)/.exec(summaryLine)?.[1] ?? 0);
    const metrics = await metricsPort(gateway);
    await spoolDrained(metrics, 60_000).catch(() => {}); // the tally says what is missing
    const tally = await settle(serverPort, {
      sensors: Array.from({ length: sensorCount }, (_, i) => i + 1),
      count,
      seed: options.seed,
      since,
      until: Date.now(),
    }, 10_000);

    const gatewayExit = await gateway.stop("SIGTERM");
    const serverExit = await server.stop("SIGTERM");
    if (gatewayExit.code !== 0) throw new Error(`gateway exited ${gatewayExit.code} at the end`);
    if (serverExit.code !== 0) throw new Error(`server exited ${serverExit.code} at the end`);
    integrity.push(integrityCheck(db));
    return {
      ...tally,
      seed: options.seed,
      seconds: options.seconds,
      faults,
      sent: summary.sent ?? 0,
      resent: summary.resent ?? 0,
      acknowledged: summary.acknowledged ?? 0,
      dropped: summary.dropped ?? 0,
      refused,
      integrity,
      finished: exit !== undefined && exit.code === 0,
    };
  } finally {
    await sensors?.stop("SIGKILL");
    await gateway?.stop("SIGKILL");
    await server?.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
}
