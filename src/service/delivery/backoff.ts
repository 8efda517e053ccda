/**
 * The wait before the next attempt at a durable notification: exponential
 * backoff with jitter, so that many parked-then-retried events, or many
 * instances, do not retry in step.
 *
 * @module
 */

/** The retry options of the `delivery` section of `nailgun.extensions`. */
export interface RetryOptions {
  /** The first retry waits about this long, in milliseconds; each later one twice as long. */
  readonly retryBaseMs: number;
  /** The longest wait, in milliseconds. */
  readonly retryMaxMs: number;
}

/**
 * How long to wait after failed attempt number `attempt`: `retryBaseMs`
 * doubled for each earlier attempt, at most `retryMaxMs`, then jittered into
 * its upper half ("equal jitter"), so the waits still grow with the attempts.
 *
 * @param attempt The attempt that just failed, from 1.
 * @param options The base and the longest wait.
 * @param random A number in [0, 1); default `Math.random()`.
 * @returns The wait in milliseconds, in `[d / 2, d]` where `d = min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1))`.
 * @throws {RangeError} When `attempt` is not a positive whole number.
 *
 * @example
 * ```ts
 * import { retryDelay } from "./backoff.ts";
 * import assert from "node:assert/strict";
 * const options = { retryBaseMs: 1000, retryMaxMs: 60_000 };
 * assert.equal(retryDelay(1, options, 0.999999), 1000);
 * assert.equal(retryDelay(3, options, 0), 2000);
 * assert.equal(retryDelay(20, options, 0.999999), 60_000);
 * ```
 */
export function retryDelay(attempt: number, options: RetryOptions, random = Math.random()): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(
      `Cannot compute the retry delay of attempt "${attempt}": an attempt is a whole number from 1: current value is ${attempt}`,
    );
  }
  const ceiling = Math.min(
    options.retryMaxMs,
    options.retryBaseMs * 2 ** Math.min(attempt - 1, 40),
  );
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
