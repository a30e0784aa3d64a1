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

/** A set of accepted tokens, as digests. */
export class TokenSet {
  readonly #digests: readonly Uint8Array[];

  private constructor(digests: readonly Uint8Array[]) {
    this.#digests = digests;
  }

  /**
   * Parses a token file's text. Throws a `SyntaxError` naming `source` when
   * it holds no token or a line holds a space inside a token (never quoting
   * the line: it may be a secret).
   */
  static parse(text: string, source: string): TokenSet {
    const digests: Uint8Array[] = [];
    const lines = text.split("\n");
    for (const [index, raw] of lines.entries()) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      if (/\s/.test(line)) {
        throw new SyntaxError(
          `Cannot use ${source}: line ${index + 1} holds a space inside a token`,
        );
      }
      digests.push(sha256(line));
    }
    if (digests.length === 0) throw new SyntaxError(`Cannot use ${source}: it holds no token`);
    return new TokenSet(digests);
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

/** Reads `path` into a {@linkcode TokenSet}; errors name the flag, the path and what to do. */
export async function readTokenFile(path: string, flag: string): Promise<TokenSet> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "no such file"
      : (error as Error).message;
    throw new Error(`Cannot read --${flag} "${path}": ${detail}`);
  }
  return TokenSet.parse(text, `--${flag} "${path}"`);
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
