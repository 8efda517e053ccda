/**
 * The process-wide fault guard: `unhandledrejection` and `error` listeners
 * that keep a fault from ending the process, and hand it to whoever can
 * blame an extension for it (each `ExtensionManager.guardFaults()` is one
 * such claimant). A fault nobody claims is logged as the host's. While a
 * guard is installed, handlers that block the event loop are watched for (`_blocking_clock.ts`).
 *
 * @module
 */
import { startBlockingWatch } from "./_blocking_clock.ts";
import { currentExtension, type ExtensionScope } from "./attribution.ts";
import { describeError } from "./errors.ts";
import type { Logger } from "./extension.ts";

/** What kind of fault the guard caught. */
export type FaultKind = "unhandled rejection" | "uncaught error";

/** Something that can blame faults on extensions: a manager. */
export interface FaultClaimant {
  /**
   * Records the fault if it is one of its extensions'.
   *
   * @param kind The kind of fault.
   * @param error What was thrown or rejected with.
   * @param scope The async context the fault surfaced in, if any.
   * @returns `true` when it recorded the fault.
   */
  claim(kind: FaultKind, error: unknown, scope: ExtensionScope | undefined): boolean;
  /** Where a fault nobody claims is logged. */
  readonly logger: Logger;
}

const claimants: FaultClaimant[] = [];
let clock: Disposable | undefined;

function onRejection(event: PromiseRejectionEvent): void {
  event.preventDefault();
  handle("unhandled rejection", event.reason);
}

function onError(event: ErrorEvent): void {
  event.preventDefault();
  handle("uncaught error", event.error ?? event.message);
}

function handle(kind: FaultKind, error: unknown): void {
  const scope = currentExtension();
  for (const claimant of claimants) {
    try {
      if (claimant.claim(kind, error, scope)) return;
    } catch {
      // a claimant that fails must not make the guard itself a fault
    }
  }
  const logger = claimants[0]?.logger ?? console;
  logger.error(`host faulted with an ${kind} (no extension to blame): ${describeError(error)}`);
}

/**
 * Installs the guard for one claimant; the listeners are added with the
 * first and removed with the last.
 *
 * @param claimant What blames faults on its extensions.
 * @returns What uninstalls it.
 *
 * @example A floating rejection does not end the process
 * ```ts
 * import { installFaultGuard } from "./fault_guard.ts";
 * import assert from "node:assert/strict";
 * const seen: string[] = [];
 * const guard = installFaultGuard({
 *   claim: (kind) => (seen.push(kind), true),
 *   logger: console,
 * });
 * try {
 *   Promise.reject(new Error("nobody catches this"));
 *   await new Promise((resolve) => setTimeout(resolve, 10));
 *   assert.deepEqual(seen, ["unhandled rejection"]);
 * } finally {
 *   guard[Symbol.dispose]();
 * }
 * ```
 */
export function installFaultGuard(claimant: FaultClaimant): Disposable {
  claimants.push(claimant);
  if (claimants.length === 1) {
    globalThis.addEventListener("unhandledrejection", onRejection);
    globalThis.addEventListener("error", onError);
    clock = startBlockingWatch();
  }
  let installed = true;
  return {
    [Symbol.dispose]() {
      if (!installed) return;
      installed = false;
      claimants.splice(claimants.indexOf(claimant), 1);
      if (claimants.length > 0) return;
      globalThis.removeEventListener("unhandledrejection", onRejection);
      globalThis.removeEventListener("error", onError);
      clock?.[Symbol.dispose]();
      clock = undefined;
    },
  };
}
