/**
 * Time limits for handler calls without a timer, or even a clock read, per
 * call: one interval ticks a coarse clock while calls are pending, and each
 * pending dispatch notes the tick at which its current handler started.
 *
 * @module
 */

/** Ticks per time limit: a call is abandoned after between 1 and 1.25 limits. */
const TICKS_PER_LIMIT = 4;

/** Something with a pending call that the watchdog may expire. */
export interface Watched {
  /** The tick at which the current call started ({@linkcode Watchdog.now}). */
  startTick: number;
  /** Called when the current call has run out of time. */
  expire(): void;
  /**
   * Where the watchdog keeps it while tracked, `-1` otherwise. Managed by the
   * watchdog; a class that declares it (as `-1`) keeps one object shape.
   */
  watchSlot?: number;
}

type Timer = ReturnType<typeof setInterval>;

/**
 * Expires calls that outlive a time limit. One interval serves every call of
 * the watchdog; it keeps the process alive only while calls are pending.
 * A call is abandoned after between `limitMs` and 1.25 × `limitMs`.
 *
 * @example Expire a call that never finishes
 * ```ts
 * import { Watchdog } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const watchdog = new Watchdog(20);
 * const expired = await new Promise<boolean>((resolve) => {
 *   const watched = {
 *     startTick: watchdog.now,
 *     expire() {
 *       watchdog.untrack(watched);
 *       resolve(true);
 *     },
 *   };
 *   watchdog.track(watched);
 * });
 * assert.equal(expired, true);
 * ```
 */
export class Watchdog {
  readonly #limitMs: number;
  // An array with each entry's index kept on the entry: tracking and
  // untracking cost O(1) with no hashing and no allocation (a Set's add and
  // delete per dispatch cost 100-150 ns, a third of ten async handler calls).
  readonly #active: Watched[] = [];
  #tick = 0;
  #timer: Timer | undefined;

  /**
   * Makes a watchdog.
   *
   * @param limitMs The time limit of every watched call, in milliseconds.
   * @throws {RangeError} When the limit is not a positive number.
   */
  constructor(limitMs: number) {
    if (!(limitMs > 0) || !Number.isFinite(limitMs)) {
      throw new RangeError(
        `Cannot create a watchdog: the time limit must be a positive number of milliseconds: current value is ${limitMs}`,
      );
    }
    this.#limitMs = limitMs;
  }

  /** The time limit of every watched call, in milliseconds. */
  get limitMs(): number {
    return this.#limitMs;
  }

  /** The coarse clock: a call that starts now records this as its `startTick`. */
  get now(): number {
    return this.#tick;
  }

  /** How many watched things have a call pending. */
  get pending(): number {
    return this.#active.length;
  }

  /**
   * Starts watching: from now on `watched.expire()` is called whenever its
   * current call is older than the limit, until it is untracked.
   *
   * @param watched What to watch.
   */
  track(watched: Watched): void {
    const slot = watched.watchSlot ?? -1;
    if (slot >= 0 && this.#active[slot] === watched) return;
    watched.watchSlot = this.#active.length;
    this.#active.push(watched);
    if (this.#active.length !== 1) return;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), this.#limitMs / TICKS_PER_LIMIT);
    }
    setTimerRef(this.#timer, true);
  }

  /**
   * Stops watching.
   *
   * @param watched What to stop watching.
   */
  untrack(watched: Watched): void {
    const slot = watched.watchSlot ?? -1;
    if (slot < 0 || this.#active[slot] !== watched) return;
    watched.watchSlot = -1;
    const last = this.#active.pop()!;
    if (last !== watched) {
      this.#active[slot] = last;
      last.watchSlot = slot;
    }
    if (this.#active.length === 0 && this.#timer !== undefined) {
      // An idle watchdog must not keep the process alive.
      setTimerRef(this.#timer, false);
    }
  }

  #sweep(): void {
    const tick = ++this.#tick;
    // Backwards: an entry that expire() untracks is replaced by one already seen.
    for (let index = this.#active.length - 1; index >= 0; index--) {
      const watched = this.#active[index];
      if (watched && tick - watched.startTick > TICKS_PER_LIMIT) watched.expire();
    }
  }
}

/** Refs or unrefs a timer in Deno, Node and Bun. */
function setTimerRef(timer: Timer, ref: boolean): void {
  if (typeof timer === "number") {
    const deno = (globalThis as {
      Deno?: { refTimer(id: number): void; unrefTimer(id: number): void };
    }).Deno;
    if (ref) deno?.refTimer(timer);
    else deno?.unrefTimer(timer);
  } else {
    const handle = timer as { ref?: () => void; unref?: () => void };
    if (ref) handle.ref?.();
    else handle.unref?.();
  }
}
