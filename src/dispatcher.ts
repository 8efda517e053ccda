/**
 * Delivery of events to handlers: notifications (ordered, isolated,
 * time-limited, never stopping the operation) and veto hooks (the first
 * failure stops the operation).
 *
 * @module
 */
import {
  HANDLER,
  nextDispatch,
  RUNNING,
  STUCK,
  STUCK_HANDLER,
  STUCK_MS,
  watchSlots,
} from "./_blocking_clock.ts";
import { describeError, ExtensionVetoError } from "./errors.ts";
import type { Watchdog, Watched } from "./watchdog.ts";

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
  /**
   * The extension's async context (the manager's `AttributionScope`), entered
   * around each call; without one, the call is a plain call.
   */
  readonly scope?: { call<A, B, R>(fn: (a: A, b: B) => R, a: A, b: B): R };
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
  /** How many extensions were not called because they are suspended. */
  skipped: number;
}

/**
 * What the manager hears of a dispatch, besides its result: each failure as
 * it happens, each handler that blocked the event loop, and the end.
 */
export interface DispatchListener {
  /** A handler threw, rejected or timed out. */
  failed(handler: Handler, failure: HandlerFailure): void;
  /** A handler kept the event loop busy for about `ms` milliseconds, past the limit. */
  blocked(handler: Handler, hook: string, ms: number): void;
  /**
   * The dispatch is over. Called once per dispatch, on the hot path: what it
   * does there must be a check.
   */
  done(handlers: readonly Handler[], result: DispatchResult, blocked?: readonly Handler[]): void;
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

/** Calls a handler in its extension's async context, if it has one. */
function call(handler: Handler, args: readonly unknown[]): unknown {
  const scope = handler.scope;
  return scope === undefined ? invoke(handler, args) : scope.call(invoke, handler, args);
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
  const listener: DispatchListener | undefined = onFailure && {
    failed: (_handler, failed) => onFailure(failed),
    blocked() {},
    done() {},
  };
  return dispatchWatched(hook, handlers, args, watchdog, listener, 0);
}

/**
 * {@linkcode dispatchNotification} for the manager: a listener hears of
 * failures, blocking handlers and the end, and the result counts the
 * extensions left out because they are suspended. What it adds to each
 * handler call is one store into shared memory (`_blocking_clock.ts`).
 *
 * @param hook The hook name.
 * @param handlers The handlers, in dispatch order.
 * @param args The arguments, already frozen.
 * @param watchdog Enforces the time limit of async handlers.
 * @param listener Hears of failures, blocking handlers and the end.
 * @param skipped How many suspended extensions were left out.
 * @returns The result, or a promise of it when a handler was async.
 */
export function dispatchWatched(
  hook: string,
  handlers: readonly Handler[],
  args: readonly unknown[],
  watchdog: Watchdog,
  listener: DispatchListener | undefined,
  skipped: number,
): DispatchResult | Promise<DispatchResult> {
  const slots = watchSlots;
  const sequence = nextDispatch();
  const outer = slots[RUNNING]!;
  const outerHandler = slots[HANDLER]!;
  slots[RUNNING] = sequence;
  let failures: HandlerFailure[] | undefined;
  for (let index = 0; index < handlers.length; index++) {
    const handler = handlers[index]!;
    slots[HANDLER] = index;
    let returned: unknown;
    try {
      returned = call(handler, args);
    } catch (error) {
      const failed = failure(handler, hook, "threw", error);
      (failures ??= []).push(failed);
      listener?.failed(handler, failed);
      continue;
    }
    if (isThenable(returned)) {
      slots[RUNNING] = outer;
      slots[HANDLER] = outerHandler;
      const blocked = slots[STUCK] === sequence
        ? stuck(handlers, hook, watchdog.limitMs, listener)
        : undefined;
      return new AsyncDispatch(hook, handlers, args, watchdog, listener, failures, skipped, blocked)
        .run(index, returned, sequence);
    }
  }
  slots[RUNNING] = outer;
  slots[HANDLER] = outerHandler;
  const blocked = slots[STUCK] === sequence
    ? stuck(handlers, hook, watchdog.limitMs, listener)
    : undefined;
  const result: DispatchResult = {
    hook,
    handled: handlers.length - (failures?.length ?? 0),
    failures: failures ?? NO_FAILURES,
    skipped,
  };
  listener?.done(handlers, result, blocked);
  return result;
}

/** Reads the worker's report of a handler of this dispatch that ran too long. */
function stuck(
  handlers: readonly Handler[],
  hook: string,
  limitMs: number,
  listener: DispatchListener | undefined,
): Handler[] | undefined {
  const slots = watchSlots;
  const ms = slots[STUCK_MS]!;
  const handler = handlers[slots[STUCK_HANDLER]!];
  slots[STUCK] = 0;
  if (handler === undefined || ms <= limitMs) return undefined;
  listener?.blocked(handler, hook, ms);
  return [handler];
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
  #sequence = 0;
  #failures: HandlerFailure[] | undefined;
  #blocked: Handler[] | undefined;
  #resolve!: (result: DispatchResult) => void;

  constructor(
    readonly hook: string,
    readonly handlers: readonly Handler[],
    readonly args: readonly unknown[],
    readonly watchdog: Watchdog,
    readonly listener: DispatchListener | undefined,
    failures: HandlerFailure[] | undefined,
    readonly skipped: number,
    blocked: Handler[] | undefined,
  ) {
    this.#failures = failures;
    this.#blocked = blocked;
  }

  run(index: number, pending: PromiseLike<unknown>, sequence: number): Promise<DispatchResult> {
    const promise = new Promise<DispatchResult>((resolve) => this.#resolve = resolve);
    this.#sequence = sequence;
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
    this.listener?.failed(handler, failed);
  }

  async #drive(
    index: number,
    pending: PromiseLike<unknown> | undefined,
    generation: number,
  ): Promise<void> {
    const { handlers, args, hook } = this;
    const slots = watchSlots;
    for (;;) {
      if (pending !== undefined) {
        this.#index = index;
        this.startTick = this.watchdog.now;
        try {
          await pending;
        } catch (error) {
          if (generation !== this.#generation) return;
          this.#fail(index, "rejected", error);
        }
        if (generation !== this.#generation) return;
        pending = undefined;
        index++;
      }
      const outer = slots[RUNNING]!;
      const outerHandler = slots[HANDLER]!;
      slots[RUNNING] = this.#sequence;
      for (; index < handlers.length; index++) {
        slots[HANDLER] = index;
        let returned: unknown;
        try {
          returned = call(handlers[index]!, args);
        } catch (error) {
          this.#fail(index, "threw", error);
          continue;
        }
        if (isThenable(returned)) {
          pending = returned;
          break;
        }
      }
      slots[RUNNING] = outer;
      slots[HANDLER] = outerHandler;
      if (slots[STUCK] === this.#sequence) {
        const blocked = stuck(handlers, hook, this.watchdog.limitMs, this.listener);
        if (blocked) (this.#blocked ??= []).push(...blocked);
      }
      if (pending === undefined) break;
    }
    this.watchdog.untrack(this);
    const failures = this.#failures ?? NO_FAILURES;
    const result: DispatchResult = {
      hook,
      handled: handlers.length - failures.length,
      failures,
      skipped: this.skipped,
    };
    this.listener?.done(handlers, result, this.#blocked);
    this.#resolve(result);
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
