/**
 * A streaming frame decoder: feed it chunks as a socket delivers them (a
 * frame split anywhere, many frames in one chunk) and iterate the frames
 * they complete, or the {@linkcode FrameError}s they prove.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeAck } from "./frame.ts";
 * import { FrameDecoder } from "./frame_decoder.ts";
 *
 * const bytes = encodeAck(7, 42);
 * const decoder = new FrameDecoder();
 * assert.deepEqual([...decoder.push(bytes.subarray(0, 5))], []);
 * assert.deepEqual([...decoder.push(bytes.subarray(5))], [
 *   { type: "ack", sensorId: 7, seq: 42 },
 * ]);
 * ```
 *
 * @module
 */

import { type DecodedFrame, decodeFrame, type Frame, FrameError, MAX_FRAME_SIZE } from "./frame.ts";

/**
 * Decodes a byte stream into frames, holding at most one incomplete frame
 * (never more than {@linkcode MAX_FRAME_SIZE} bytes) between chunks.
 *
 * A frame with a bad CRC yields a `FrameError` whose `boundaryKnown` is true
 * and decoding goes on after it. An error that loses the frame boundary
 * (bad magic, version, or length) is final: the decoder drops what it holds
 * and yields that same error for every later chunk, so nothing after it can
 * be mistaken for a frame.
 */
export class FrameDecoder {
  #pending = new Uint8Array(MAX_FRAME_SIZE);
  #pendingLength = 0;
  #lost: FrameError | undefined;

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.#pendingLength;
  }

  /** The error that lost the frame boundary, once one has. */
  get lostBoundary(): FrameError | undefined {
    return this.#lost;
  }

  /**
   * Appends `chunk` and yields each frame or error it completes, in stream
   * order. Frames never reference `chunk`, so the caller may reuse it.
   */
  *push(chunk: Uint8Array): Generator<Frame | FrameError, void, undefined> {
    if (this.#lost) {
      yield this.#lost;
      return;
    }
    let offset = 0;
    if (this.#pendingLength > 0) {
      const taken = Math.min(chunk.length, MAX_FRAME_SIZE - this.#pendingLength);
      this.#pending.set(chunk.subarray(0, taken), this.#pendingLength);
      const held = this.#pendingLength;
      const result = this.#decodeAt(this.#pending.subarray(0, held + taken), 0);
      if (result === undefined) {
        this.#pendingLength = held + taken;
        return;
      }
      this.#pendingLength = 0;
      if (result instanceof FrameError && !result.boundaryKnown) {
        yield result;
        return;
      }
      // The pending bytes were the start of this frame; the rest came from `chunk`.
      offset = (result instanceof FrameError ? result.byteLength! : result.byteLength) - held;
      yield result instanceof FrameError ? result : result.frame;
    }
    while (offset < chunk.length) {
      const result = this.#decodeAt(chunk, offset);
      if (result === undefined) {
        this.#pending.set(chunk.subarray(offset), 0);
        this.#pendingLength = chunk.length - offset;
        return;
      }
      if (result instanceof FrameError) {
        yield result;
        if (!result.boundaryKnown) return;
        offset += result.byteLength!;
      } else {
        yield result.frame;
        offset += result.byteLength;
      }
    }
  }

  /** Decodes at `offset`, turning a thrown FrameError into a value and recording a lost boundary. */
  #decodeAt(bytes: Uint8Array, offset: number): DecodedFrame | FrameError | undefined {
    try {
      return decodeFrame(bytes, offset);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      if (!error.boundaryKnown) {
        this.#lost = error;
        this.#pendingLength = 0;
      }
      return error;
    }
  }
}
