/**
 * Bearer tokens read from a file, one per line, so a token is rotated
 * without downtime: add the new line, move the clients over, delete the old
 * line. The file is read again when it changes and on SIGHUP (see
 * {@linkcode watchFile}); a reload that finds the file missing, unreadable
 * or empty keeps the tokens in force and logs why.
 *
 * Blank lines and lines starting with `#` are ignored; leading and trailing
 * spaces are not part of a token. Tokens are kept only as SHA-256 digests
 * and compared in constant time; no token is ever logged.
 *
 * ```ts
 * import { TokenSet } from "./token_file.ts";
 * import assert from "node:assert/strict";
 * const tokens = TokenSet.parse("# rotated on Monday\nold-token\nnew-token\n", "tokens.txt");
 * assert.equal(tokens.size, 2);
 * assert.ok(tokens.matches("new-token"));
 * assert.ok(!tokens.matches("new-toke"));
 * ```
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { Logger } from "./log.ts";
import { watchFile } from "./watched_file.ts";

function sha256(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/**
 * The tokens of a token file's text, in file order. Throws a `SyntaxError`
 * naming `source` when it holds none or a line holds a space inside a token
 * (never quoting the line: it may be a secret).
 */
export function parseTokenLines(text: string, source: string): string[] {
  const tokens: string[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (/\s/.test(line)) {
      throw new SyntaxError(`Cannot use ${source}: line ${index + 1} holds a space inside a token`);
    }
    tokens.push(line);
  }
  if (tokens.length === 0) throw new SyntaxError(`Cannot use ${source}: it holds no token`);
  return tokens;
}

/** A set of accepted tokens, as digests. */
export class TokenSet {
  readonly #digests: readonly Uint8Array[];

  private constructor(digests: readonly Uint8Array[]) {
    this.#digests = digests;
  }

  /** Parses a token file's text; see {@linkcode parseTokenLines}. */
  static parse(text: string, source: string): TokenSet {
    return new TokenSet(parseTokenLines(text, source).map(sha256));
  }

  /** How many tokens are accepted. */
  get size(): number {
    return this.#digests.length;
  }

  /**
   * Whether `candidate` is one of the tokens. Takes the same time whatever
   * the guess: the candidate is hashed first and compared with every token.
   */
  matches(candidate: string): boolean {
    const given = sha256(candidate);
    let found = false;
    for (const digest of this.#digests) found = timingSafeEqual(given, digest) || found;
    return found;
  }

  /** Whether any token is also in `other` (an ingest token must not read, nor a read token write). */
  overlaps(other: TokenSet): boolean {
    return this.#digests.some((digest) =>
      other.#digests.some((theirs) => timingSafeEqual(digest, theirs))
    );
  }
}

/** Reads `path` into a {@linkcode TokenSet}; errors name the flag and the path. */
export async function readTokenFile(path: string, flag: string): Promise<TokenSet> {
  return TokenSet.parse(await readText(path, flag), `--${flag} "${path}"`);
}

/**
 * The token a client sends: the file's last one, so a rotation appends the
 * new token to a file the server and the client may share, and removes the
 * old one once every client has moved.
 */
export async function readClientToken(path: string, flag: string): Promise<string> {
  return parseTokenLines(await readText(path, flag), `--${flag} "${path}"`).at(-1)!;
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "no such file; run `deno task certs` to create it"
      : (error as Error).message;
    throw new Error(`Cannot read --${flag} "${path}": ${detail}`);
  }
}

/** Options of {@linkcode TokenFile.open}. */
export interface TokenFileOptions {
  /** The flag that named the file, for messages (`read-token-file`). */
  readonly flag: string;
  readonly log: Logger;
  /** Stops watching the file. */
  readonly signal: AbortSignal;
  /** Refuses a reload whose tokens this says are unacceptable (returns why). */
  readonly check?: (tokens: TokenSet) => string | undefined;
  /** Time between two checks of the file, ms (default 1,000). */
  readonly intervalMs?: number;
}

/** A token file kept current: {@linkcode TokenFile.matches} always uses the latest good content. */
export class TokenFile {
  #tokens: TokenSet;

  private constructor(tokens: TokenSet) {
    this.#tokens = tokens;
  }

  /** Reads `path` (throwing when it is unusable) and watches it until `signal` aborts. */
  static async open(path: string, options: TokenFileOptions): Promise<TokenFile> {
    const file = new TokenFile(await readTokenFile(path, options.flag));
    const problem = options.check?.(file.#tokens);
    if (problem !== undefined) {
      throw new Error(`Cannot use --${options.flag} "${path}": ${problem}`);
    }
    watchFile(path, async () => {
      try {
        const tokens = await readTokenFile(path, options.flag);
        const problem = options.check?.(tokens);
        if (problem !== undefined) throw new Error(`Cannot use --${options.flag}: ${problem}`);
        file.#tokens = tokens;
        options.log.info(`reloaded --${options.flag}`, { path, tokens: tokens.size });
      } catch (error) {
        options.log.error(
          `${(error as Error).message}; keeping the ${file.#tokens.size} tokens in force`,
        );
      }
    }, options);
    return file;
  }

  /** The tokens in force now. */
  get tokens(): TokenSet {
    return this.#tokens;
  }

  /** Whether `candidate` is a token in force, in constant time (see {@linkcode TokenSet.matches}). */
  matches(candidate: string): boolean {
    return this.#tokens.matches(candidate);
  }
}
