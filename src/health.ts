/**
 * The health of one loaded extension: what the manager counted of its calls
 * and faults, and its circuit breaker (SPEC §2.2). Every change of state is
 * logged; each fault is logged in one line that names the extension and the
 * cause.
 *
 * @module
 */
import { AttributionScope } from "./attribution.ts";
import { CircuitBreaker } from "./circuit_breaker.ts";
import type { HandlerFailure } from "./dispatcher.ts";
import type { Logger } from "./extension.ts";

/** The state of an extension: see {@linkcode ExtensionHealth}. */
export type HealthState = "healthy" | "degraded" | "suspended";

/**
 * What the manager knows of how an extension behaves (`manager.health(name)`,
 * and `health` in `GET /api/v1/extensions/status/`).
 *
 * - `healthy`: no fault within the last cool-down (`breaker.cooldownMs`, 30 s
 *   by default);
 * - `degraded`: a fault within the last cool-down, but not suspended;
 * - `suspended`: its circuit breaker is open (or its probe is running): its
 *   notifications are skipped and its vetoes fail closed.
 */
export interface ExtensionHealth {
  /** Healthy, degraded (a recent fault) or suspended (its breaker is open). */
  state: HealthState;
  /** Calls into the extension that ran (notifications, vetoes, pipeline steps, provided calls, teardown, host calls). */
  calls: number;
  /** Calls that threw or rejected, and faults the host recorded. */
  failures: number;
  /** Calls that did not settle within the time limit. */
  timeouts: number;
  /** Unhandled rejections and uncaught errors blamed on it. */
  unhandled: number;
  /** Calls that kept the event loop busy past the time limit. */
  blocked: number;
  /** Notifications not delivered to it because it was suspended. */
  skipped: number;
  /** The last fault, as one line. */
  lastError?: string;
}

/** Options of {@linkcode ExtensionMonitor}. */
export interface MonitorOptions {
  /** The breaker's options. */
  breaker?: { failures?: number; cooldownMs?: number };
  /** Where faults and changes of state are logged. */
  logger: Logger;
  /** Whether calls run in the extension's async context; default `true`. */
  attribution?: boolean;
  /** The clock, in milliseconds; default `performance.now`. */
  now?: () => number;
  /** Told when {@linkcode ExtensionMonitor.tripped} or {@linkcode ExtensionMonitor.dirty} changes. */
  onChange?: (monitor: ExtensionMonitor) => void;
}

/**
 * Counts one extension's calls and faults, runs its calls in its async
 * context and holds its circuit breaker. Nothing of it runs per handler call
 * while the extension is healthy: the manager counts notifications per
 * dispatch, leaves a suspended extension out of its handler lists, and
 * reports successes only while the monitor is {@linkcode ExtensionMonitor.dirty}.
 *
 * @example Three faults suspend an extension
 * ```ts
 * import { ExtensionMonitor } from "./health.ts";
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const log = (line: string) => void lines.push(line);
 * const monitor = new ExtensionMonitor("audit", "./audit.ts", {
 *   logger: { debug: log, info: log, warn: log, error: log },
 *   breaker: { failures: 3, cooldownMs: 60_000 },
 * });
 * for (let i = 0; i < 3; i++) monitor.fault("failures", "failed in onNodeCreate", "boom");
 * assert.equal(monitor.health().state, "suspended");
 * assert.equal(monitor.admit("onNodeCreate"), false);
 * assert.equal(monitor.health().skipped, 1);
 * assert.match(lines.at(-1)!, /"audit" is suspended/);
 * ```
 */
export class ExtensionMonitor {
  /** The extension's name. */
  readonly name: string;
  /** Where it was loaded from. */
  readonly source: string;
  /** Its async context, or `undefined` when attribution is off. */
  readonly scope: AttributionScope | undefined;
  readonly #breaker: CircuitBreaker;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #onChange: ((monitor: ExtensionMonitor) => void) | undefined;
  #calls = 0;
  #failures = 0;
  #timeouts = 0;
  #unhandled = 0;
  #blocked = 0;
  #skipped = 0;
  #skippedWhileOpen = 0;
  #lastError: string | undefined;
  #lastFaultAt = Number.NEGATIVE_INFINITY;
  #logged: HealthState = "healthy";
  // Whether a success has anything to update: false while healthy, so that
  // the common call costs one counter and one check.
  #dirty = false;

  /**
   * Makes the monitor of one extension.
   *
   * @param name The extension's name.
   * @param source Where it was loaded from.
   * @param options The breaker, the log, attribution.
   * @throws {RangeError} When the breaker's options are out of range.
   */
  constructor(name: string, source: string, options: MonitorOptions) {
    this.name = name;
    this.source = source;
    this.#now = options.now ?? (() => performance.now());
    this.#breaker = new CircuitBreaker(options.breaker, this.#now);
    this.#logger = options.logger;
    this.#onChange = options.onChange;
    this.scope = options.attribution === false ? undefined : new AttributionScope(name, source);
  }

  /** Whether its breaker holds calls back (suspended, or probing). */
  get tripped(): boolean {
    return this.#breaker.tripped;
  }

  /** Whether a success has something to update (a fault is recent, or it is suspended). */
  get dirty(): boolean {
    return this.#dirty;
  }

  /**
   * Counts calls made elsewhere (the manager counts notifications per dispatch).
   *
   * @param count How many.
   */
  addCalls(count: number): void {
    this.#calls += count;
  }

  /**
   * Calls `fn(a, b)` as the extension: in its async context, unless attribution is off.
   *
   * @param fn The call into the extension.
   * @param a Its first argument.
   * @param b Its second argument.
   * @returns What `fn` returns.
   */
  enter<A, B, R>(fn: (a: A, b: B) => R, a: A, b: B): R {
    const scope = this.scope;
    return scope === undefined ? fn(a, b) : scope.call(fn, a, b);
  }

  /**
   * Asks the breaker whether a call may run; a call held back is counted as
   * skipped. Only needed when {@linkcode ExtensionMonitor.tripped}.
   *
   * @param what The hook or call, for the log.
   * @returns `true` when the call may run (it may be the probe).
   */
  admit(what: string): boolean {
    const admission = this.#breaker.admit();
    if (admission === "run") return true;
    if (admission === "probe") {
      this.#logger.warn(
        `extension "${this.name}" is probed with ${what} after its cool-down: ${this.#skippedWhileOpen} notification(s) were skipped while it was suspended`,
      );
      return true;
    }
    this.#skipped++;
    this.#skippedWhileOpen++;
    return false;
  }

  /**
   * Records a call that completed.
   *
   * @param counted Whether to count the call (`false` when it was counted already).
   */
  succeeded(counted = true): void {
    if (counted) this.#calls++;
    if (this.#dirty) this.#settled();
  }

  /**
   * Records a notification handler's failure (it threw, rejected or timed
   * out); the call itself was counted with its dispatch.
   *
   * @param failure The failure, as the dispatcher reports it.
   */
  failed(failure: HandlerFailure): void {
    this.fault(
      failure.kind === "timeout" ? "timeouts" : "failures",
      `failed in ${failure.hook} (${failure.kind})`,
      failure.message,
    );
  }

  /**
   * Records a call that kept the event loop busy past the time limit.
   *
   * @param what The hook or call.
   * @param ms How long it blocked the loop, in milliseconds (to the clock's precision).
   * @param limitMs The time limit.
   * @param counted Whether this ends the call (`false` when its promise is still awaited).
   */
  blocked(what: string, ms: number, limitMs: number, counted: boolean): void {
    if (counted) this.#calls++;
    this.#blocked++;
    this.#record(
      `extension "${this.name}" blocked the event loop for about ${ms} ms in ${what} (the time limit is ${limitMs} ms)`,
      `blocked the event loop for about ${ms} ms in ${what}`,
    );
  }

  /**
   * Records a fault: a failed call, an unhandled rejection or an uncaught
   * error, or a failure the host reports. It is logged in one line:
   * `extension "<name>" <what>: <message>`.
   *
   * @param counter Which count it goes to.
   * @param what What happened, e.g. `failed in onNodeCreate (threw)`.
   * @param message The cause, as one line.
   * @param endsCall Whether it is the end of a call (counted in `calls`).
   * @param logged Whether it was logged already (its line is then left out).
   */
  fault(
    counter: "failures" | "timeouts" | "unhandled",
    what: string,
    message: string,
    endsCall = false,
    logged = false,
  ): void {
    if (endsCall) this.#calls++;
    if (counter === "failures") this.#failures++;
    else if (counter === "timeouts") this.#timeouts++;
    else this.#unhandled++;
    this.#record(logged ? undefined : `extension "${this.name}" ${what}: ${message}`, message);
  }

  /**
   * The extension's health now.
   *
   * @param uncounted Calls made but not yet counted here (the manager's per-dispatch counts).
   * @returns Its state and counters.
   */
  health(uncounted = 0): ExtensionHealth {
    const health: ExtensionHealth = {
      state: this.#state(),
      calls: this.#calls + uncounted,
      failures: this.#failures,
      timeouts: this.#timeouts,
      unhandled: this.#unhandled,
      blocked: this.#blocked,
      skipped: this.#skipped,
    };
    if (this.#lastError !== undefined) health.lastError = this.#lastError;
    return health;
  }

  #state(): HealthState {
    if (this.#breaker.tripped) return "suspended";
    return this.#now() - this.#lastFaultAt < this.#breaker.cooldownMs ? "degraded" : "healthy";
  }

  /** Counts a fault against the breaker and logs it in one line; a change of state in a second. */
  #record(line: string | undefined, lastError: string): void {
    this.#lastError = lastError;
    this.#lastFaultAt = this.#now();
    const before = this.#breaker.state;
    const opened = this.#breaker.fault() === "open";
    const wasDirty = this.#dirty;
    this.#dirty = true;
    if (line !== undefined) this.#logger.error(line);
    const state = this.#state();
    if (opened) {
      const again = before === "probing" ? " again (its probe failed)" : "";
      this.#logger.warn(
        `extension "${this.name}" is suspended${again} for ${this.#breaker.cooldownMs} ms after ${this.#breaker.consecutive} consecutive fault(s): its notifications are skipped and its vetoes fail closed`,
      );
      this.#skippedWhileOpen = 0;
    } else if (state !== this.#logged) {
      this.#logger.warn(`extension "${this.name}" is now ${state}`);
    }
    this.#logged = state;
    if (opened || !wasDirty) this.#onChange?.(this);
  }

  /** After a success while not plainly healthy: close the breaker, log a return to health. */
  #settled(): void {
    const closed = this.#breaker.success() === "closed";
    const state = this.#state();
    this.#dirty = state !== "healthy";
    if (closed || !this.#dirty) this.#onChange?.(this);
    if (state === this.#logged && !closed) return;
    this.#logged = state;
    if (closed) {
      this.#logger.warn(
        `extension "${this.name}" is no longer suspended (now ${state}): its probe succeeded after ${this.#skippedWhileOpen} skipped notification(s)`,
      );
      this.#skippedWhileOpen = 0;
    } else {
      this.#logger.info(
        `extension "${this.name}" is ${state} again: no fault in the last ${this.#breaker.cooldownMs} ms`,
      );
    }
  }
}
