/**
 * Delivery of events to handlers: notifications (ordered, isolated,
 * time-limited, never stopping the operation) and veto hooks (the first
 * failure stops the operation).
 *
 * @module
 */
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
  for (let index = 0; index < handlers.length; index++) {
    const handler = handlers[index]!;
    let returned: unknown;
    try {
      returned = invoke(handler, args);
    } catch (error) {
      const failed = failure(handler, hook, "threw", error);
      (failures ??= []).push(failed);
      onFailure?.(failed);
      continue;
    }
    if (isThenable(returned)) {
      return new AsyncDispatch(hook, handlers, args, watchdog, onFailure, failures).run(
        index,
        returned,
      );
    }
  }
  return {
    hook,
    handled: handlers.length - (failures?.length ?? 0),
    failures: failures ?? NO_FAILURES,
  };
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
  #resolve!: (result: DispatchResult) => void;

  constructor(
    readonly hook: string,
    readonly handlers: readonly Handler[],
    readonly args: readonly unknown[],
    readonly watchdog: Watchdog,
    readonly onFailure: FailureListener | undefined,
    failures: HandlerFailure[] | undefined,
  ) {
    this.#failures = failures;
  }

  run(index: number, pending: PromiseLike<unknown>): Promise<DispatchResult> {
    const promise = new Promise<DispatchResult>((resolve) => this.#resolve = resolve);
    this.watchdog.track(this);
    this.#drive(index, pending, this.#generation);
    return promise;
  }

  /** Called by the watchdog: the current handler is abandoned, the next one runs. */
  expire(): void {
    this.#fail(
      this.#index,
      "timeout",
      new Error(`did not settle within ${this.watchdog.limitMs} ms`),
    );
    this.#drive(this.#index + 1, undefined, ++this.#generation);
  }

  #fail(index: number, kind: FailureKind, error: unknown): void {
    const failed = failure(this.handlers[index]!, this.hook, kind, error);
    (this.#failures ??= []).push(failed);
    this.onFailure?.(failed);
  }

  async #drive(
    index: number,
    pending: PromiseLike<unknown> | undefined,
    generation: number,
  ): Promise<void> {
    const { handlers, args } = this;
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
      for (; index < handlers.length; index++) {
        const handler = handlers[index]!;
        let returned: unknown;
        try {
          returned = invoke(handler, args);
        } catch (error) {
          this.#fail(index, "threw", error);
          continue;
        }
        if (isThenable(returned)) {
          pending = returned;
          break;
        }
      }
      if (pending === undefined) break;
    }
    this.watchdog.untrack(this);
    const failures = this.#failures ?? NO_FAILURES;
    this.#resolve({ hook: this.hook, handled: handlers.length - failures.length, failures });
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
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`did not settle within ${limitMs} ms`)),
      limitMs,
    );
  });
  try {
    return await Promise.race([returned as PromiseLike<T>, timeout]);
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
