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
  /**
   * Whether its extension declares {@linkcode CONCURRENT_NOTIFICATIONS}: the
   * manager then starts it with the other such handlers, before the ordered ones.
   */
  readonly concurrent?: boolean;
}

/**
 * The property by which an extension declares that its notification
 * handlers may run concurrently with the other extensions' handlers (the
 * sandbox's stand-in for an extension in a Worker sets it to `true`). For
 * each event, the manager starts every such handler at once (each in its
 * extension's async context, under the time limit, which runs from that
 * start), then runs the other handlers one after another in order, then
 * awaits the concurrent ones: their failures and time-outs are in the same
 * `DispatchResult`, and count in health, as any handler's. An extension
 * that declares it keeps its own events in order itself if it needs them
 * in order (the sandbox does: a Worker runs its notifications one at a time).
 * A registered symbol, so that two copies of this library agree on it.
 *
 * @example An extension that may be notified concurrently
 * ```ts
 * import { CONCURRENT_NOTIFICATIONS, ExtensionManager, type Node } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const relay = {
 *   name: "relay",
 *   version: "1.0.0",
 *   description: "Forwards node names, concurrently with the other extensions.",
 *   [CONCURRENT_NOTIFICATIONS]: true,
 *   async onNodeCreate(node: Node) {
 *     await new Promise((resolve) => setTimeout(resolve, 100, node.name));
 *   },
 * };
 * const order = {
 *   name: "order",
 *   version: "1.0.0",
 *   description: "Takes its time too.",
 *   async onNodeCreate() {
 *     await new Promise((resolve) => setTimeout(resolve, 100));
 *   },
 * };
 * const manager = new ExtensionManager([
 *   { source: "inline", extension: order },
 *   { source: "inline", extension: relay },
 * ]);
 * const started = Date.now();
 * const result = await manager.notify("onNodeCreate", { id: 1 } as unknown as Node);
 * assert.equal(result.handled, 2);
 * assert.ok(Date.now() - started < 180, "the relay ran beside the other handler");
 * ```
 */
export const CONCURRENT_NOTIFICATIONS: unique symbol = Symbol.for(
  "@nailgun/extensions.concurrentNotifications",
);

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
 * A dispatch in which some handlers declare {@linkcode CONCURRENT_NOTIFICATIONS}:
 * those are started first, all at once (each in its async context), the
 * others then run in order as {@linkcode dispatchWatched} runs them, and the
 * concurrent ones are awaited last, under one time limit that runs from
 * their start. The result counts and lists every handler's outcome, in
 * dispatch order; the listener hears of the end once.
 *
 * @param hook The hook name.
 * @param handlers The handlers, in dispatch order.
 * @param args The arguments, already frozen.
 * @param watchdog Enforces the time limits.
 * @param listener Hears of failures, blocking handlers and the end.
 * @param skipped How many suspended extensions were left out.
 * @returns A promise of the result.
 */
export async function dispatchConcurrently(
  hook: string,
  handlers: readonly Handler[],
  args: readonly unknown[],
  watchdog: Watchdog,
  listener: DispatchListener | undefined,
  skipped: number,
): Promise<DispatchResult> {
  const concurrent = new ConcurrentHandlers(hook, watchdog, listener);
  const ordered: Handler[] = [];
  const slots = watchSlots;
  const sequence = nextDispatch();
  const outer = slots[RUNNING]!;
  const outerHandler = slots[HANDLER]!;
  slots[RUNNING] = sequence;
  for (let index = 0; index < handlers.length; index++) {
    const handler = handlers[index]!;
    if (handler.concurrent !== true) {
      ordered.push(handler);
      continue;
    }
    slots[HANDLER] = index;
    try {
      concurrent.started(handler, call(handler, args));
    } catch (error) {
      concurrent.failed(handler, "threw", error);
    }
  }
  slots[RUNNING] = outer;
  slots[HANDLER] = outerHandler;
  let blocked = slots[STUCK] === sequence
    ? stuck(handlers, hook, watchdog.limitMs, listener)
    : undefined;
  let inOrder: DispatchResult | undefined;
  if (ordered.length > 0) {
    const inner: DispatchListener = {
      failed: (handler, failed) => listener?.failed(handler, failed),
      blocked: (handler, hook, ms) => listener?.blocked(handler, hook, ms),
      done: (_handlers, _result, more) => {
        if (more) blocked = [...(blocked ?? []), ...more];
      },
    };
    inOrder = await dispatchWatched(hook, ordered, args, watchdog, inner, 0);
  }
  const failures = await concurrent.settled();
  if (inOrder) failures.push(...inOrder.failures);
  if (failures.length > 1) {
    const position = (failed: HandlerFailure) =>
      handlers.findIndex((handler) => handler.extension === failed.extension);
    failures.sort((a, b) => position(a) - position(b));
  }
  const result: DispatchResult = {
    hook,
    handled: handlers.length - failures.length,
    failures: failures.length > 0 ? failures : NO_FAILURES,
    skipped,
  };
  listener?.done(handlers, result, blocked);
  return result;
}

/**
 * The handlers of one dispatch that run concurrently: watched as one, since
 * they all start at the same tick; at the time limit, those still pending
 * fail as timed out, and what they do later is ignored.
 */
class ConcurrentHandlers implements Watched {
  startTick: number;
  watchSlot = -1;
  readonly #failures: HandlerFailure[] = [];
  readonly #pending = new Set<Handler>();
  #done: (() => void) | undefined;

  constructor(
    readonly hook: string,
    readonly watchdog: Watchdog,
    readonly listener: DispatchListener | undefined,
  ) {
    this.startTick = watchdog.now;
  }

  /** A handler was called: what it returned. */
  started(handler: Handler, returned: unknown): void {
    if (!isThenable(returned)) return;
    this.#pending.add(handler);
    if (this.#pending.size === 1) this.watchdog.track(this);
    Promise.resolve(returned).then(
      () => this.#end(handler),
      (error) => {
        // A handler that times itself (the sandbox's) rejects with the time limit's error.
        const kind = isTimeLimitError(error) ? "timeout" : "rejected";
        if (this.#pending.has(handler)) this.failed(handler, kind, error);
        this.#end(handler);
      },
    );
  }

  failed(handler: Handler, kind: FailureKind, error: unknown): void {
    const failed = failure(handler, this.hook, kind, error);
    this.#failures.push(failed);
    this.listener?.failed(handler, failed);
  }

  /** Settles once every handler ended or timed out: their failures. */
  settled(): Promise<HandlerFailure[]> {
    if (this.#pending.size === 0) return Promise.resolve(this.#failures);
    return new Promise((resolve) => this.#done = () => resolve(this.#failures));
  }

  /** Called by the watchdog: every handler still pending timed out. */
  expire(): void {
    for (const handler of [...this.#pending]) {
      this.failed(handler, "timeout", timeLimitError(this.watchdog.limitMs));
      this.#end(handler);
    }
  }

  #end(handler: Handler): void {
    if (!this.#pending.delete(handler) || this.#pending.size > 0) return;
    this.watchdog.untrack(this);
    this.#done?.();
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
