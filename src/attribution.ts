/**
 * Attribution: which extension's code is running. Every call into an
 * extension (hooks, vetoes, pipelines, provided calls, routes, setup,
 * teardown, migrations) runs inside an async context that names it, so that
 * a fault raised later from that code (a floating rejection, a throw in a
 * timer or a microtask) can be blamed on the right extension (SPEC §2.2).
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** The extension whose code runs in an async context. */
export interface ExtensionScope {
  /** The extension's name. */
  readonly name: string;
  /** Where it was loaded from. */
  readonly source: string;
}

const storage = new AsyncLocalStorage<ExtensionScope>();

/**
 * Runs `fn` in the async context of an extension: everything it schedules
 * (promises, timers, microtasks) is attributed to that extension.
 *
 * @param scope The extension.
 * @param fn The call into the extension.
 * @returns What `fn` returns.
 *
 * @example
 * ```ts ignore
 * runAsExtension({ name: "audit", source: "./audit.ts" }, () => extension.setup(context));
 * ```
 */
export function runAsExtension<T>(scope: ExtensionScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/**
 * The extension whose code is running now, if any.
 *
 * @returns The extension's scope, or `undefined` in host code.
 */
export function currentExtension(): ExtensionScope | undefined {
  return storage.getStore();
}

// `AsyncLocalStorage.run()` makes a new context frame on every call: about
// 220 ns on Deno 2.9.6, more than a whole synchronous dispatch to ten
// handlers. Deno keeps the frame in V8's continuation-preserved data, which
// its core exposes: an extension's frame is made once (with `run()`, so it
// holds every other variable of the context it was made in) and set and
// restored around each call for about 7 ns (benchmarks/dispatch_bench.ts,
// "attribution" cases). Deno's core is internal, so it is used only after a
// check at start-up that a frame set this way is seen by `getStore()`; any
// other runtime, or a Deno that changed, falls back to `run()`.
interface AsyncContextCore {
  getAsyncContext(): unknown;
  setAsyncContext(frame: unknown): void;
}

const core: AsyncContextCore | undefined = findContextCore();

function findContextCore(): AsyncContextCore | undefined {
  try {
    const deno = (globalThis as { Deno?: Record<symbol, unknown> & { internal?: symbol } }).Deno;
    const internal = deno?.internal === undefined ? undefined : deno[deno.internal];
    const found = (internal as { core?: Partial<AsyncContextCore> } | undefined)?.core;
    if (
      typeof found?.getAsyncContext !== "function" || typeof found.setAsyncContext !== "function"
    ) return undefined;
    const candidate = found as AsyncContextCore;
    const probe: ExtensionScope = { name: "probe", source: "probe" };
    const frame = storage.run(probe, () => candidate.getAsyncContext());
    const previous = candidate.getAsyncContext();
    candidate.setAsyncContext(frame);
    let seen: ExtensionScope | undefined;
    try {
      seen = storage.getStore();
    } finally {
      candidate.setAsyncContext(previous);
    }
    return seen === probe && storage.getStore() !== probe ? candidate : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One extension's async context, made once and entered around each call
 * into the extension: the cheap way to run many calls as that extension.
 *
 * @example Code scheduled by the call is attributed to the extension
 * ```ts
 * import { AttributionScope, currentExtension } from "./attribution.ts";
 * import assert from "node:assert/strict";
 * const scope = new AttributionScope("audit", "./audit.ts");
 * const seen = await scope.call(
 *   () => new Promise((resolve) => setTimeout(() => resolve(currentExtension()?.name), 0)),
 *   undefined,
 *   undefined,
 * );
 * assert.equal(seen, "audit");
 * assert.equal(currentExtension(), undefined);
 * ```
 */
export class AttributionScope implements ExtensionScope {
  /** The extension's name. */
  readonly name: string;
  /** Where it was loaded from. */
  readonly source: string;
  #outer: unknown = undefined;
  #frame: unknown = undefined;
  #made = false;

  /**
   * Makes the scope of one extension.
   *
   * @param name The extension's name.
   * @param source Where it was loaded from.
   */
  constructor(name: string, source: string) {
    this.name = name;
    this.source = source;
  }

  /**
   * Calls `fn(a, b)` in the extension's async context (two arguments, so
   * that a hot caller makes no closure).
   *
   * @param fn The call into the extension.
   * @param a Its first argument.
   * @param b Its second argument.
   * @returns What `fn` returns.
   */
  call<A, B, R>(fn: (a: A, b: B) => R, a: A, b: B): R {
    if (core === undefined) return storage.run(this, fn, a, b);
    const outer = core.getAsyncContext();
    if (!this.#made || outer !== this.#outer) {
      // The frame extends the context it is entered from; a host that runs
      // each request in a context of its own makes one frame per request.
      this.#frame = storage.run(this, () => core.getAsyncContext());
      this.#outer = outer;
      this.#made = true;
    }
    core.setAsyncContext(this.#frame);
    try {
      return fn(a, b);
    } finally {
      core.setAsyncContext(outer);
    }
  }
}
