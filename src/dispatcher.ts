/**
 * Delivery of events to handlers: notifications (ordered, isolated,
 * time-limited, never stopping the operation) and veto hooks (the first
 * failure stops the operation).
 *
 * @module
 */
import { blockingClock } from "./_blocking_clock.ts";
import { describeError, ExtensionVetoError } from "./errors.ts";
import type { Watchdog, Watched } from "./watchdog.ts";

/**
 * What watches one extension's calls (the manager's `ExtensionMonitor`):
 * its async context, its health counters and its circuit breaker.
 */
export interface HandlerMonitor {
  /** Whether its breaker holds calls back; then {@linkcode HandlerMonitor.admit} decides. */
  readonly tripped: boolean;
  /** Whether a call may run while tripped (the probe); a call held back is counted as skipped. */
  admit(hook: string): boolean;
  /** Calls `fn(a, b)` as the extension (in its async context). */
  enter<A, B, R>(fn: (a: A, b: B) => R, a: A, b: B): R;
  /** A call completed. */
  succeeded(): void;
  /** A call threw, rejected or timed out. */
  failed(failure: HandlerFailure): void;
  /** A call kept the event loop busy past the limit; `counted` when that ends the call. */
  blocked(hook: string, ms: number, limitMs: number, counted: boolean): void;
}

/** One extension's handler for one hook, bound to its extension. */
export interface Handler {
  /** The extension's name. */
  readonly extension: string;
  /** Where the extension came from. */
  readonly source: string;
  /** The object the handler is a method of. */
  readonly target: object;
  /** The handler. */
  readonly fn: (...args: never[]) => unknown;
  /** Watches its calls; without one, calls run as plain calls. */
  readonly monitor?: HandlerMonitor;
}

/** How a handler failed. */
export type FailureKind = "threw" | "rejected" | "timeout";

/** One handler that failed during a dispatch; the others still ran. */
export interface HandlerFailure {
  /** The extension whose handler failed. */
  extension: string;
  /** Where the extension came from. */
  source: string;
  /** The hook being dispatched. */
  hook: string;
  /** Whether it threw, rejected, or did not settle within the time limit. */
  kind: FailureKind;
  /** The reason, as one line. */
  message: string;
  /** What was thrown or rejected with. */
  error: unknown;
}

/** The outcome of a notification: how many handlers succeeded, and each failure. */
export interface DispatchResult {
  /** The hook dispatched. */
  hook: string;
  /** How many handlers completed without error. */
  handled: number;
  /** The handlers that threw, rejected or timed out, in dispatch order. */
  failures: readonly HandlerFailure[];
  /** How many handlers were not called because their extension is suspended. */
  skipped: number;
}

const NO_FAILURES: readonly HandlerFailure[] = Object.freeze([]);

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

function failure(
  handler: Handler,
  hook: string,
  kind: FailureKind,
  error: unknown,
): HandlerFailure {
  return {
    extension: handler.extension,
    source: handler.source,
    hook,
    kind,
    message: describeError(error),
    error,
  };
}

/** Calls a handler; most hooks take one argument, which `call` passes without spreading an array. */
function invoke(handler: Handler, args: readonly unknown[]): unknown {
  const fn = handler.fn as (this: object, ...a: unknown[]) => unknown;
  return args.length === 1
    ? fn.call(handler.target, args[0])
    : fn.apply(handler.target, args as unknown[]);
}

/** Called for each failure as it happens, e.g. to log it. */
export type FailureListener = (failure: HandlerFailure) => void;

/**
 * Calls every handler in order with the same arguments. A handler that throws,
 * rejects or outlives the watchdog's time limit is recorded and the next one
 * runs. While handlers answer synchronously no promise is made: the result
 * comes back at once; from the first async handler on, a promise does.
 *
 * @param hook The hook name, for the result and failures.
 * @param handlers The handlers, in dispatch order.
 * @param args The arguments, already frozen.
 * @param watchdog Enforces the time limit of async handlers.
 * @param onFailure Told of each failure as it happens.
 * @returns The result, or a promise of it when a handler was async.
 */
export function dispatchNotification(
  hook: string,
  handlers: readonly Handler[],
  args: readonly unknown[],
  watchdog: Watchdog,
  onFailure?: FailureListener,
): DispatchResult | Promise<DispatchResult> {
  let failures: HandlerFailure[] | undefined;
  let skipped = 0;
  const limitMs = watchdog.limitMs;
  for (let index = 0; index < handlers.length; index++) {
    const handler = handlers[index]!;
    const monitor = handler.monitor;
    if (monitor !== undefined && monitor.tripped && !monitor.admit(hook)) {
      skipped++;
      continue;
    }
    // The blocking clock moves only while a fault guard runs; two reads, no clock call.
    const started = blockingClock[0]!;
    let returned: unknown;
    try {
      returned = monitor === undefined
        ? invoke(handler, args)
        : monitor.enter(invoke, handler, args);
    } catch (error) {
      const failed = failure(handler, hook, "threw", error);
      (failures ??= []).push(failed);
      checkBlocked(monitor, hook, started, limitMs, false);
      monitor?.failed(failed);
      onFailure?.(failed);
      continue;
    }
    if (isThenable(returned)) {
      checkBlocked(monitor, hook, started, limitMs, false);
      return new AsyncDispatch(hook, handlers, args, watchdog, onFailure, failures, skipped).run(
        index,
        returned,
      );
    }
    if (!checkBlocked(monitor, hook, started, limitMs, true)) monitor?.succeeded();
  }
  return {
    hook,
    handled: handlers.length - (failures?.length ?? 0) - skipped,
    failures: failures ?? NO_FAILURES,
    skipped,
  };
}

/** Reports a call whose synchronous part kept the loop busy past the limit; `true` if it did. */
function checkBlocked(
  monitor: HandlerMonitor | undefined,
  hook: string,
  started: number,
  limitMs: number,
  counted: boolean,
): boolean {
  const elapsed = (blockingClock[0]! - started) | 0;
  if (elapsed <= limitMs || monitor === undefined) return false;
  monitor.blocked(hook, elapsed, limitMs, counted);
  return true;
}

/**
 * The rest of a dispatch once a handler returned a promise. It awaits each
 * handler directly (the cheapest way to wait in V8); the dispatch is watched
 * as a whole, each handler only recording the tick it started at. When a
 * handler times out, the stuck run is abandoned (its generation is stale, so
 * it stops if the handler ever settles) and a new run carries on.
 */
class AsyncDispatch implements Watched {
  startTick = 0;
  watchSlot = -1;
  #index = 0;
  #generation = 0;
  #failures: HandlerFailure[] | undefined;
  #skipped: number;
  #resolve!: (result: DispatchResult) => void;

  constructor(
    readonly hook: string,
    readonly handlers: readonly Handler[],
    readonly args: readonly unknown[],
    readonly watchdog: Watchdog,
    readonly onFailure: FailureListener | undefined,
    failures: HandlerFailure[] | undefined,
    skipped: number,
  ) {
    this.#failures = failures;
    this.#skipped = skipped;
  }

  run(index: number, pending: PromiseLike<unknown>): Promise<DispatchResult> {
    const promise = new Promise<DispatchResult>((resolve) => this.#resolve = resolve);
    this.watchdog.track(this);
    this.#drive(index, pending, this.#generation);
    return promise;
  }

  /** Called by the watchdog: the current handler is abandoned, the next one runs. */
  expire(): void {
    this.#fail(this.#index, "timeout", timeLimitError(this.watchdog.limitMs));
    this.#drive(this.#index + 1, undefined, ++this.#generation);
  }

  #fail(index: number, kind: FailureKind, error: unknown): void {
    const handler = this.handlers[index]!;
    const failed = failure(handler, this.hook, kind, error);
    (this.#failures ??= []).push(failed);
    handler.monitor?.failed(failed);
    this.onFailure?.(failed);
  }

  async #drive(
    index: number,
    pending: PromiseLike<unknown> | undefined,
    generation: number,
  ): Promise<void> {
    const { handlers, args, hook } = this;
    const limitMs = this.watchdog.limitMs;
    for (;;) {
      if (pending !== undefined) {
        this.#index = index;
        this.startTick = this.watchdog.now;
        let settled = true;
        try {
          await pending;
        } catch (error) {
          if (generation !== this.#generation) return;
          this.#fail(index, "rejected", error);
          settled = false;
        }
        if (generation !== this.#generation) return;
        if (settled) handlers[index]!.monitor?.succeeded();
        pending = undefined;
        index++;
      }
      for (; index < handlers.length; index++) {
        const handler = handlers[index]!;
        const monitor = handler.monitor;
        if (monitor !== undefined && monitor.tripped && !monitor.admit(hook)) {
          this.#skipped++;
          continue;
        }
        const started = blockingClock[0]!;
        let returned: unknown;
        try {
          returned = monitor === undefined
            ? invoke(handler, args)
            : monitor.enter(invoke, handler, args);
        } catch (error) {
          checkBlocked(monitor, hook, started, limitMs, false);
          this.#fail(index, "threw", error);
          continue;
        }
        if (isThenable(returned)) {
          checkBlocked(monitor, hook, started, limitMs, false);
          pending = returned;
          break;
        }
        if (!checkBlocked(monitor, hook, started, limitMs, true)) monitor?.succeeded();
      }
      if (pending === undefined) break;
    }
    this.watchdog.untrack(this);
    const failures = this.#failures ?? NO_FAILURES;
    const skipped = this.#skipped;
    this.#resolve({
      hook,
      handled: handlers.length - failures.length - skipped,
      failures,
      skipped,
    });
  }
}

/**
 * Runs `call` and waits for it at most `limitMs`. For the calls that are not
 * on the event hot path (veto hooks, pipelines, setup, teardown).
 *
 * @param call What to run; it may be sync or async.
 * @param limitMs The time limit in milliseconds.
 * @returns What `call` returned.
 * @throws Whatever `call` throws, or an `Error` saying it timed out.
 */
export async function withTimeLimit<T>(
  call: () => T | PromiseLike<T>,
  limitMs: number,
): Promise<T> {
  const returned = call();
  if (!isThenable(returned)) return returned as T;
  return await settleWithin(returned as PromiseLike<T>, limitMs);
}

const timeouts = new WeakSet<object>();

/**
 * Whether an error is the time limit's, from {@linkcode withTimeLimit} or a dispatch.
 *
 * @param error What was thrown.
 * @returns `true` for a time limit's error.
 */
export function isTimeLimitError(error: unknown): boolean {
  return typeof error === "object" && error !== null && timeouts.has(error);
}

/** The error of a call that did not settle within `limitMs`. */
export function timeLimitError(limitMs: number): Error {
  const error = new Error(`did not settle within ${limitMs} ms`);
  timeouts.add(error);
  return error;
}

/** Waits for `pending` at most `limitMs`; rejects with {@linkcode timeLimitError} after that. */
export async function settleWithin<T>(pending: PromiseLike<T>, limitMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeLimitError(limitMs)), limitMs);
  });
  try {
    return await Promise.race([pending, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the handlers of a veto hook in order; the first that throws, rejects
 * or times out stops the operation.
 *
 * @param hook The veto hook.
 * @param handlers The handlers of the extensions enabled on the cluster, in its order.
 * @param args The arguments, already frozen.
 * @param limitMs The time limit of each handler.
 * @throws {ExtensionVetoError} Naming the extension, the hook and its reason.
 */
export async function dispatchVeto(
  hook: string,
  handlers: readonly Handler[],
  args: readonly unknown[],
  limitMs: number,
): Promise<void> {
  for (const handler of handlers) {
    try {
      await withTimeLimit(() => handler.fn.apply(handler.target, args as never[]), limitMs);
    } catch (error) {
      throw new ExtensionVetoError(
        `Extension "${handler.extension}" vetoed ${hook}: ${describeError(error)}`,
        { source: handler.source, extension: handler.extension, hook, cause: error },
      );
    }
  }
}
