/**
 * A circuit breaker per extension: after `failures` consecutive faults it
 * opens (the extension is suspended) for `cooldownMs`; then one call probes
 * it: a success closes it, a fault opens it again for another cool-down.
 *
 * @module
 */
import { DEFAULT_BREAKER_COOLDOWN_MS, DEFAULT_BREAKER_FAILURES } from "./defaults.ts";

/** Options of {@linkcode CircuitBreaker} (`breaker` in `nailgun.extensions`). */
export interface BreakerOptions {
  /** Consecutive failures or timeouts after which the extension is suspended; default 3. */
  failures?: number;
  /** How long it stays suspended before one call probes it, in milliseconds; default 30 000. */
  cooldownMs?: number;
}

/** Where a breaker stands: closed (calls run), open (calls skipped), probing (one call runs). */
export type BreakerState = "closed" | "open" | "probing";

/** What a call may do: run, run as the probe of an open breaker, or be skipped. */
export type Admission = "run" | "probe" | "skip";

/**
 * Counts consecutive faults and decides whether a call may run. It reads the
 * clock only when it opens and while it is open, never for a call through a
 * closed breaker.
 *
 * @example Suspend after three faults, probe after the cool-down
 * ```ts
 * import { CircuitBreaker } from "./circuit_breaker.ts";
 * import assert from "node:assert/strict";
 * let now = 0;
 * const breaker = new CircuitBreaker({ failures: 3, cooldownMs: 1_000 }, () => now);
 * breaker.fault();
 * breaker.fault();
 * assert.equal(breaker.fault(), "open");
 * assert.equal(breaker.admit(), "skip");
 * now = 1_000;
 * assert.equal(breaker.admit(), "probe");
 * assert.equal(breaker.admit(), "skip", "one probe at a time");
 * assert.equal(breaker.success(), "closed");
 * assert.equal(breaker.admit(), "run");
 * ```
 */
export class CircuitBreaker {
  readonly #failures: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #state: BreakerState = "closed";
  #consecutive = 0;
  #openedAt = 0;

  /**
   * Makes a closed breaker.
   *
   * @param options The number of faults and the cool-down.
   * @param now The clock, in milliseconds; default `performance.now`.
   * @throws {RangeError} When `failures` is not a positive integer or `cooldownMs` is negative.
   */
  constructor(options: BreakerOptions = {}, now: () => number = () => performance.now()) {
    const failures = options.failures ?? DEFAULT_BREAKER_FAILURES;
    const cooldownMs = options.cooldownMs ?? DEFAULT_BREAKER_COOLDOWN_MS;
    if (!Number.isInteger(failures) || failures < 1) {
      throw new RangeError(
        `Cannot create a circuit breaker: "failures" must be a positive integer: current value is ${failures}`,
      );
    }
    if (!(cooldownMs >= 0) || !Number.isFinite(cooldownMs)) {
      throw new RangeError(
        `Cannot create a circuit breaker: "cooldownMs" must be a number of milliseconds: current value is ${cooldownMs}`,
      );
    }
    this.#failures = failures;
    this.#cooldownMs = cooldownMs;
    this.#now = now;
  }

  /** Where the breaker stands. */
  get state(): BreakerState {
    return this.#state;
  }

  /** Whether calls are held back (open or probing): the one check on the hot path. */
  get tripped(): boolean {
    return this.#state !== "closed";
  }

  /** Consecutive faults so far. */
  get consecutive(): number {
    return this.#consecutive;
  }

  /** Consecutive faults that open the breaker. */
  get failures(): number {
    return this.#failures;
  }

  /** The cool-down, in milliseconds. */
  get cooldownMs(): number {
    return this.#cooldownMs;
  }

  /** Milliseconds until an open breaker lets a probe through; 0 when it is not open. */
  get remainingMs(): number {
    if (this.#state !== "open") return 0;
    return Math.max(0, this.#openedAt + this.#cooldownMs - this.#now());
  }

  /**
   * Whether a call may run now. An open breaker whose cool-down has passed
   * lets exactly one call through, as the probe.
   *
   * @returns `"run"`, `"probe"` or `"skip"`.
   */
  admit(): Admission {
    if (this.#state === "closed") return "run";
    if (this.#state === "probing" || this.remainingMs > 0) return "skip";
    this.#state = "probing";
    return "probe";
  }

  /**
   * Records a call that succeeded.
   *
   * @returns `"closed"` when it closed the breaker (a probe succeeded), else `undefined`.
   */
  success(): BreakerState | undefined {
    this.#consecutive = 0;
    if (this.#state === "closed") return undefined;
    this.#state = "closed";
    return "closed";
  }

  /**
   * Records a fault: a failure, a timeout, a blocked loop, an unhandled error.
   *
   * @returns `"open"` when it opened the breaker (again), else `undefined`.
   */
  fault(): BreakerState | undefined {
    this.#consecutive++;
    if (this.#state === "open") return undefined;
    if (this.#state === "closed" && this.#consecutive < this.#failures) return undefined;
    this.#state = "open";
    this.#openedAt = this.#now();
    return "open";
  }
}
