/**
 * The gateway's own credentials from its `--certs` directory: the plant CA,
 * its certificate and key for the sensors' TLS, and the ingest token it
 * posts with. A file that cannot be read names itself and what to run.
 *
 * @module
 */

import { join } from "node:path";
import { parseTokenLines } from "../lib/token_file.ts";

/** PEM texts and the token, as the listener and the forwarder take them. */
export interface Credentials {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly token: string;
}

/** Reads `ca.crt`, `gateway.crt`, `gateway.key` and `ingest.token` from `dir`. */
export async function readCredentials(dir: string): Promise<Credentials> {
  const read = async (name: string) => {
    try {
      return await Deno.readTextFile(join(dir, name));
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new Error(`Cannot read ${join(dir, name)}: ${detail} (run \`deno task certs\`)`);
    }
  };
  const [ca, cert, key, token] = await Promise.all(
    ["ca.crt", "gateway.crt", "gateway.key", "ingest.token"].map(read),
  ) as [string, string, string, string];
  // The last token of the file: a rotation appends the new one (see README).
  const tokens = parseTokenLines(token, join(dir, "ingest.token"));
  return { ca, cert, key, token: tokens.at(-1)! };
}
