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
