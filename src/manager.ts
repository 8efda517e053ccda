/**
 * `ExtensionManager`: the loaded extensions, and everything a host does with
 * them: look up, iterate, notify, veto, run pipelines, call what they provide,
 * set up and tear down (SPEC §2.1).
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { resolve as resolvePath } from "node:path";
import { freezeDeep } from "./_freeze.ts";
import { HANDLER, nextDispatch, RUNNING, STUCK, STUCK_MS, watchSlots } from "./_blocking_clock.ts";
import { AttributionScope, type ExtensionScope } from "./attribution.ts";
import {
  CONCURRENT_NOTIFICATIONS,
  dispatchConcurrently,
  type DispatchListener,
  type DispatchResult,
  dispatchWatched,
  type FailureKind,
  type Handler,
  type HandlerFailure,
  isTimeLimitError,
  settleWithin,
} from "./dispatcher.ts";
import { describeError, ExtensionError, ExtensionVetoError } from "./errors.ts";
import type { DataPipeline, Extension, Logger, PipelineStep } from "./extension.ts";
import { type FaultKind, installFaultGuard } from "./fault_guard.ts";
import { type ExtensionHealth, ExtensionMonitor } from "./health.ts";
import {
  type EventMeta,
  HOOK_NAMES,
  type HookArguments,
  type HookName,
  NOTIFICATION_HOOKS,
  type NotificationHook,
  type VetoHook,
} from "./hooks.ts";
import type { Cluster, Node, SerializedData } from "./payloads.ts";
import { DEFAULT_HANDLER_TIMEOUT_MS } from "./defaults.ts";
import {
  activeTracer,
  type CallOutcome,
  endCallSpan,
  startCallSpan,
  traceHandler,
} from "./telemetry.ts";
import type { Tracer } from "@opentelemetry/api";
import { Watchdog } from "./watchdog.ts";

/** An extension together with where it came from. */
export interface ManagedExtension {
  /** The verified extension. */
  readonly extension: Extension;
  /** The specifier or path it was loaded from. */
  readonly source: string;
  /**
   * The URL of the module it was imported from, when the host knows it:
   * faults are blamed by it when no async context names the extension.
   */
  readonly url?: string;
}

/** Options of {@linkcode ExtensionManager}. */
export interface ManagerOptions {
  /** Time limit of one handler call in milliseconds; default 10 000. */
  handlerTimeoutMs?: number;
  /** Where failures are logged; default `console`. */
  logger?: Logger;
  /**
   * The circuit breaker of each extension: after `failures` consecutive
   * faults (default 3) its notifications are skipped and its vetoes fail
   * closed for `cooldownMs` (default 30 000), then one call probes it.
   */
  breaker?: { failures?: number; cooldownMs?: number };
  /**
   * Whether every call into an extension runs in an async context that
   * names it (default `true`), so that a fault it leaves behind (a floating
   * rejection, a throw in a timer) is blamed on it. Off, faults are blamed
   * by the extension's module URL in the error's stack only, which a
   * rejection made by the runtime (a failed `fetch`) does not carry.
   */
  attribution?: boolean;
}

/** How {@linkcode ExtensionManager.recordFault} counts a fault the host reports. */
export interface FaultReport {
  /** The count it goes to: `"failures"` (default) or `"timeouts"`. */
  kind?: "failures" | "timeouts";
  /** Whether the reporter logged it already: then it is not logged again. */
  logged?: boolean;
}

/** The outcome of `map()` for one extension. */
export type MapOutcome<T> =
  | { name: string; ok: true; value: T }
  | { name: string; ok: false; error: unknown; message: string };

/** An extension's failure during setup or teardown. */
export interface LifecycleFailure {
  /** The extension. */
  name: string;
  /** Where it came from. */
  source: string;
  /** The reason, as one line. */
  message: string;
  /** What was thrown. */
  error: unknown;
}

/** Which serialized data a pipeline run transforms. */
export type PipelineKind = "deployment" | "provisioning";

const PIPELINE_STEPS: Record<PipelineKind, { cluster: PipelineStep; node: PipelineStep }> = {
  deployment: { cluster: "processDeploymentForCluster", node: "processDeploymentForNode" },
  provisioning: {
    cluster: "processProvisioningForCluster",
    node: "processProvisioningForNode",
  },
};

/**
 * Holds loaded extensions and delivers events to them. Build one with
 * `loadExtensions()`, or directly from extensions you already have.
 *
 * @example Notify extensions of a new node
 * ```ts
 * import { ExtensionManager, type Node } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * const manager = new ExtensionManager([{
 *   source: "inline",
 *   extension: {
 *     name: "audit",
 *     version: "1.0.0",
 *     description: "Records node names.",
 *     onNodeCreate(node: Node) {
 *       seen.push(node.name);
 *     },
 *   },
 * }]);
 * const node: Node = {
 *   id: 1, uuid: "u1", mac: "52:54:00:00:00:01", name: "node-1", hostname: "node-1",
 *   status: "discover", cluster_id: null, group_id: null, roles: [], pending_roles: [],
 *   pending_addition: false, pending_deletion: false, online: true, meta: {},
 * };
 * const result = await manager.notify("onNodeCreate", node);
 * assert.equal(result.handled, 1);
 * assert.deepEqual(seen, ["node-1"]);
 * ```
 */
export class ExtensionManager implements Iterable<Extension> {
  readonly #entries: ManagedExtension[];
  readonly #byName = new Map<string, ManagedExtension>();
  readonly #monitors = new Map<string, ExtensionMonitor>();
  /** Every handler of each hook, in dispatch order. */
  readonly #handlers = new Map<HookName, Handler[]>();
  /** What a dispatch runs: the handlers of extensions that are not suspended. */
  readonly #lists = new Map<HookName, HandlerList>();
  /** Monitors with something to update on a success (see ExtensionMonitor.dirty). */
  #dirty: ExtensionMonitor[] = [];
  readonly #listener: DispatchListener;
  readonly #providers = new Map<string, ManagedExtension>();
  readonly #watchdog: Watchdog;
  readonly #logger: Logger;
  readonly #tracer: Tracer | undefined;
  #stackPatterns: { pattern: string; monitor: ExtensionMonitor }[] | undefined;

  /**
   * Makes a manager of extensions already verified.
   *
   * @param extensions The extensions, in dispatch order.
   * @param options Time limit, logger, circuit breaker, attribution.
   * @throws {RangeError} When two extensions share a name or a provided call,
   *   or an option is out of range.
   */
  constructor(extensions: readonly ManagedExtension[], options: ManagerOptions = {}) {
    this.#entries = [...extensions];
    this.#watchdog = new Watchdog(options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS);
    this.#logger = options.logger ?? console;
    // Asked once: with telemetry off, handlers stay unwrapped.
    this.#tracer = activeTracer();
    for (const entry of this.#entries) {
      const { name } = entry.extension;
      const other = this.#byName.get(name);
      if (other) {
        throw new RangeError(
          `Cannot manage extension "${entry.source}": the name "${name}" is already taken by "${other.source}"`,
        );
      }
      this.#byName.set(name, entry);
      this.#monitors.set(
        name,
        new ExtensionMonitor(name, entry.source, {
          logger: this.#logger,
          breaker: options.breaker,
          attribution: options.attribution,
          onChange: () => this.#refresh(),
        }),
      );
      for (const call of entry.extension.provides ?? []) {
        const provider = this.#providers.get(call);
        if (provider) {
          throw new RangeError(
            `Cannot manage extension "${entry.source}": the call "${call}" is already provided by "${provider.extension.name}"`,
          );
        }
        this.#providers.set(call, entry);
      }
    }
    for (const hook of HOOK_NAMES) {
      // A durable extension's notifications come from the host's outbox, not from dispatch().
      const receivers = isNotification(hook) ? this.#entries.filter(isInline) : this.#entries;
      const handlers = receivers.flatMap((entry) => this.#handlerOf(entry, hook));
      this.#handlers.set(hook, handlers);
      const concurrent = handlers.some((handler) => handler.concurrent);
      this.#lists.set(hook, { handlers, dispatched: 0, suspended: [], concurrent });
    }
    this.#listener = {
      failed: (handler, failure) => this.#monitors.get(handler.extension)!.failed(failure),
      blocked: (handler, hook, ms) =>
        this.#monitors.get(handler.extension)!.blocked(hook, ms, this.#watchdog.limitMs, false),
      done: (handlers, result, blocked) => {
        if (this.#dirty.length !== 0) this.#settle(handlers, result, blocked);
      },
    };
  }

  /**
   * After a dispatch, while some monitor is dirty: each dirty extension
   * that was called and neither failed nor blocked succeeded.
   */
  #settle(
    handlers: readonly Handler[],
    result: DispatchResult,
    blocked: readonly Handler[] | undefined,
  ): void {
    for (const monitor of [...this.#dirty]) {
      const name = monitor.name;
      if (!handlers.some((handler) => handler.extension === name)) continue;
      if (result.failures.some((failed) => failed.extension === name)) continue;
      if (blocked?.some((handler) => handler.extension === name)) continue;
      monitor.succeeded(false);
    }
  }

  /** A monitor's breaker or dirtiness changed: rebuild what dispatches run. */
  #refresh(): void {
    this.#dirty = [...this.#monitors.values()].filter((monitor) => monitor.dirty);
    for (const [hook, all] of this.#handlers) {
      const old = this.#lists.get(hook)!;
      const suspended = all.filter((handler) => this.#monitors.get(handler.extension)!.tripped);
      if (
        suspended.length === old.suspended.length &&
        suspended.every((h, i) => old.suspended[i] === h)
      ) {
        continue;
      }
      // The calls of the old list go to its extensions' counts; the new one starts at 0.
      for (const handler of old.handlers) {
        this.#monitors.get(handler.extension)!.addCalls(old.dispatched);
      }
      this.#lists.set(hook, {
        handlers: all.filter((handler) => !suspended.includes(handler)),
        dispatched: 0,
        suspended,
        concurrent: old.concurrent,
      });
    }
  }

  /** The handlers of one dispatch while extensions are suspended: those that are probed now join. */
  #admitted(hook: HookName, list: HandlerList): { handlers: Handler[]; skipped: number } {
    let skipped = 0;
    const probes: Handler[] = [];
    for (const handler of list.suspended) {
      const monitor = this.#monitors.get(handler.extension)!;
      if (monitor.admit(hook)) {
        monitor.addCalls(1); // the probe is not in the list that counts calls
        probes.push(handler);
      } else skipped++;
    }
    if (probes.length === 0) return { handlers: list.handlers, skipped };
    const handlers = this.#handlers.get(hook)!.filter((handler) =>
      probes.includes(handler) || list.handlers.includes(handler)
    );
    return { handlers, skipped };
  }

  #handlerOf(entry: ManagedExtension, hook: HookName): Handler[] {
    const fn = (entry.extension as unknown as Record<string, unknown>)[hook];
    if (typeof fn !== "function") return [];
    const handler = fn as Handler["fn"];
    const notification = (NOTIFICATION_HOOKS as readonly string[]).includes(hook);
    const traced = this.#tracer !== undefined && notification;
    return [{
      extension: entry.extension.name,
      source: entry.source,
      target: entry.extension,
      fn: traced
        ? traceHandler(this.#tracer!, hook, entry.extension, handler, this.#watchdog.limitMs)
        : handler,
      scope: this.#monitors.get(entry.extension.name)!.scope,
      concurrent: notification &&
        (entry.extension as { [CONCURRENT_NOTIFICATIONS]?: unknown })[CONCURRENT_NOTIFICATIONS] ===
          true,
    }];
  }

  /** Names of the loaded extensions, in dispatch order. */
  get names(): string[] {
    return this.#entries.map((entry) => entry.extension.name);
  }

  /** How many extensions are loaded. */
  get size(): number {
    return this.#entries.length;
  }

  /** Time limit of one handler call, in milliseconds. */
  get handlerTimeoutMs(): number {
    return this.#watchdog.limitMs;
  }

  /** The extensions with their sources, in dispatch order. */
  get entries(): readonly ManagedExtension[] {
    return this.#entries;
  }

  /** Iterates over the extensions in dispatch order. */
  *[Symbol.iterator](): Iterator<Extension> {
    for (const entry of this.#entries) yield entry.extension;
  }

  /**
   * Whether an extension of that name is loaded.
   *
   * @param name The extension name.
   * @returns `true` when it is loaded.
   */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /**
   * Looks an extension up by name.
   *
   * @param name The extension name.
   * @returns The extension.
   * @throws {RangeError} When none of that name is loaded; the message lists the loaded ones.
   */
  get(name: string): Extension {
    const entry = this.#byName.get(name);
    if (!entry) {
      throw new RangeError(
        `Cannot find extension "${name}": it is not loaded: loaded extensions are ${
          this.#list(this.names)
        }`,
      );
    }
    return entry.extension;
  }

  /**
   * Where a loaded extension came from.
   *
   * @param name The extension name.
   * @returns Its specifier or path.
   * @throws {RangeError} When none of that name is loaded.
   */
  sourceOf(name: string): string {
    this.get(name);
    return this.#byName.get(name)!.source;
  }

  /**
   * The extensions enabled on a cluster, in the cluster's order. Names of
   * extensions that are not loaded are left out (and logged).
   *
   * @param cluster The cluster, or just its list of extension names.
   * @returns The enabled, loaded extensions.
   */
  forCluster(cluster: Pick<Cluster, "extensions">): ManagedExtension[] {
    const enabled: ManagedExtension[] = [];
    for (const name of cluster.extensions) {
      const entry = this.#byName.get(name);
      if (entry) enabled.push(entry);
      else this.#logger.warn(`extension "${name}" is enabled on a cluster but not loaded`);
    }
    return enabled;
  }

  /**
   * Delivers a notification to every loaded extension that handles it, in
   * order; the handlers of extensions that declare
   * `CONCURRENT_NOTIFICATIONS` (sandboxed ones) are started first, all at
   * once, and awaited after the others. A handler's error, rejection or
   * timeout is logged and returned in the result; the others still run and
   * the caller's operation stands.
   * The arguments are frozen first: handlers cannot change them. Each
   * handler receives an `EventMeta` last. Extensions with `delivery:
   * "durable"` are not called here: the host delivers their notifications
   * from its outbox (the reference service does).
   *
   * @param hook The notification hook.
   * @param args Its arguments.
   * @returns How many handlers succeeded, and each failure.
   */
  notify<H extends NotificationHook>(
    hook: H,
    ...args: HookArguments<H>
  ): Promise<DispatchResult> {
    const result = this.dispatch(hook, ...args);
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  /**
   * The same as {@linkcode ExtensionManager.notify}, but the result comes
   * back synchronously when every handler completed synchronously: the
   * choice of hosts that fire events from synchronous code.
   *
   * @param hook The notification hook.
   * @param args Its arguments.
   * @returns The result, or a promise of it when a handler was async.
   */
  dispatch<H extends NotificationHook>(
    hook: H,
    ...args: HookArguments<H>
  ): DispatchResult | Promise<DispatchResult> {
    for (const arg of args) freezeDeep(arg);
    const list = this.#lists.get(hook)!;
    list.dispatched++;
    const meta = inlineMeta(hook);
    // Hooks take one to three arguments; a literal is about 20 ns cheaper than a spread.
    const withMeta = args.length === 1
      ? [args[0], meta]
      : args.length === 2
      ? [args[0], args[1], meta]
      : [...args, meta];
    if (list.suspended.length === 0 && !list.concurrent) {
      return dispatchWatched(hook, list.handlers, withMeta, this.#watchdog, this.#listener, 0);
    }
    const { handlers, skipped } = list.suspended.length === 0
      ? { handlers: list.handlers, skipped: 0 }
      : this.#admitted(hook, list);
    // Handlers that declare CONCURRENT_NOTIFICATIONS start first, all at once.
    const dispatch = list.concurrent && handlers.some((handler) => handler.concurrent)
      ? dispatchConcurrently
      : dispatchWatched;
    return dispatch(hook, handlers, withMeta, this.#watchdog, this.#listener, skipped);
  }

  /**
   * Runs a veto hook on the extensions enabled on the cluster, in its order.
   * A suspended extension's veto fails closed: it refuses, saying so.
   *
   * @param hook The veto hook.
   * @param args Its arguments; the first is the cluster.
   * @throws {ExtensionVetoError} From the first extension that refused, or was suspended.
   */
  async check<H extends VetoHook>(hook: H, ...args: HookArguments<H>): Promise<void> {
    for (const arg of args) freezeDeep(arg);
    for (const entry of this.forCluster(args[0])) {
      const fn = (entry.extension as unknown as Record<string, unknown>)[hook];
      if (typeof fn !== "function") continue;
      const { name } = entry.extension;
      const monitor = this.#monitors.get(name)!;
      if (monitor.tripped && !monitor.admit(hook)) {
        throw new ExtensionVetoError(
          `Extension "${name}" vetoed ${hook}: it is suspended after repeated faults (last: ${
            monitor.health().lastError ?? "none"
          }): its vetoes fail closed until it recovers`,
          { source: entry.source, extension: name, hook },
        );
      }
      try {
        await this.#run(
          entry,
          hook,
          () => (fn as (...a: unknown[]) => unknown).apply(entry.extension, args),
          true,
        );
      } catch (error) {
        throw new ExtensionVetoError(
          `Extension "${name}" vetoed ${hook}: ${describeError(error)}`,
          { source: entry.source, extension: name, hook, cause: error },
        );
      }
    }
  }

  /**
   * Runs the data pipelines of the extensions enabled on the cluster, in its
   * order, over a copy of the serialized data: for each extension, its
   * cluster step, then its node step for each node.
   *
   * @param kind Deployment or provisioning data.
   * @param cluster The cluster.
   * @param nodes The nodes, in the order of `data.nodes`.
   * @param data The serialized data; it is not changed.
   * @returns The transformed copy.
   * @throws {ExtensionError} Naming the extension and step that failed.
   */
  async runPipelines(
    kind: PipelineKind,
    cluster: Cluster,
    nodes: readonly Node[],
    data: SerializedData,
  ): Promise<SerializedData> {
    freezeDeep(cluster);
    for (const node of nodes) freezeDeep(node);
    const steps = PIPELINE_STEPS[kind];
    let result: SerializedData = structuredClone(data);
    for (const entry of this.forCluster(cluster)) {
      for (const pipeline of entry.extension.pipelines ?? []) {
        result = await this.#runPipeline(entry, pipeline, steps, cluster, nodes, result);
      }
    }
    return result;
  }

  async #runPipeline(
    entry: ManagedExtension,
    pipeline: DataPipeline,
    steps: { cluster: PipelineStep; node: PipelineStep },
    cluster: Cluster,
    nodes: readonly Node[],
    data: SerializedData,
  ): Promise<SerializedData> {
    const run = async <T>(step: PipelineStep, subject: unknown, value: T): Promise<T> => {
      const fn = pipeline[step] as ((s: unknown, v: T) => unknown) | undefined;
      if (!fn) return value;
      const fail = (error: unknown, what = describeError(error)) =>
        new ExtensionError(`Extension "${entry.extension.name}" failed in ${step}: ${what}`, {
          source: entry.source,
          extension: entry.extension.name,
          cause: error,
        });
      let returned: unknown;
      try {
        returned = await this.#run(entry, step, () => fn.call(pipeline, subject, value));
      } catch (error) {
        throw fail(error);
      }
      // A copy: what the step keeps a reference to cannot change the output later.
      try {
        return copyJson(returned ?? value) as T;
      } catch (error) {
        const reason = `it returned data that cannot be serialized as JSON: ${
          describeError(error)
        }`;
        this.#monitors.get(entry.extension.name)!.fault("failures", `failed in ${step}`, reason);
        throw fail(error, reason);
      }
    };
    const clusterData = await run(steps.cluster, cluster, data.cluster);
    const nodeData = [];
    for (let index = 0; index < data.nodes.length; index++) {
      nodeData.push(await run(steps.node, nodes[index], data.nodes[index]!));
    }
    return { cluster: clusterData, nodes: nodeData };
  }

  /**
   * Calls a function that an extension provides (`provides`), the
   * counterpart of Nailgun's `node_extension_call`.
   *
   * @param name The provided call.
   * @param args Its arguments.
   * @returns What the provider returned.
   * @throws {RangeError} When no loaded extension provides it.
   * @throws {ExtensionError} When the provider failed, naming it.
   */
  async call(name: string, ...args: unknown[]): Promise<unknown> {
    const provider = this.#providers.get(name);
    if (!provider) {
      throw new RangeError(
        `Cannot call "${name}": no loaded extension provides it: provided calls are ${
          this.#list([...this.#providers.keys()])
        }`,
      );
    }
    const target = provider.extension as unknown as Record<string, (...a: unknown[]) => unknown>;
    const fail = (error: unknown, what = describeError(error)) =>
      new ExtensionError(
        `Extension "${provider.extension.name}" failed in its call "${name}": ${what}`,
        { source: provider.source, extension: provider.extension.name, cause: error },
      );
    let returned: unknown;
    try {
      returned = await this.#run(provider, name, () => target[name]!(...args));
    } catch (error) {
      throw fail(error);
    }
    // A copy: a caller that changes the result changes nothing in the provider.
    try {
      return structuredClone(returned);
    } catch (error) {
      const reason = `its result cannot be copied: ${describeError(error)}`;
      this.#monitors.get(provider.extension.name)!.fault("failures", `failed in ${name}`, reason);
      throw fail(error, reason);
    }
  }

  /**
   * The extension that provides a call, if any.
   *
   * @param name The provided call.
   * @returns The provider's name, or `undefined`.
   */
  providerOf(name: string): string | undefined {
    return this.#providers.get(name)?.extension.name;
  }

  /**
   * Applies `fn` to every extension in order, each isolated from the others'
   * failures (stevedore's `map`).
   *
   * @param fn What to do with each extension.
   * @returns One outcome per extension, in order.
   */
  async map<T>(fn: (extension: Extension) => T | Promise<T>): Promise<MapOutcome<T>[]> {
    const outcomes: MapOutcome<T>[] = [];
    for (const { extension } of this.#entries) {
      try {
        outcomes.push({ name: extension.name, ok: true, value: await fn(extension) });
      } catch (error) {
        outcomes.push({ name: extension.name, ok: false, error, message: describeError(error) });
      }
    }
    return outcomes;
  }

  /**
   * Runs every `teardown()` in the reverse order of loading, each isolated
   * and time-limited.
   *
   * @returns The extensions whose teardown failed.
   */
  async teardown(): Promise<LifecycleFailure[]> {
    const failures: LifecycleFailure[] = [];
    for (const entry of [...this.#entries].reverse()) {
      const { extension, source } = entry;
      if (typeof extension.teardown !== "function") continue;
      try {
        await this.#run(entry, "teardown", () => extension.teardown!());
      } catch (error) {
        // the monitor logged it
        failures.push({ name: extension.name, source, message: describeError(error), error });
      }
    }
    return failures;
  }

  /**
   * The health of a loaded extension: its state and what was counted of its
   * calls and faults. `degraded` means a fault within the last cool-down
   * (`breaker.cooldownMs`, 30 s by default); `suspended`, that its breaker
   * is open.
   *
   * @param name The extension name.
   * @returns Its health now.
   * @throws {RangeError} When none of that name is loaded.
   *
   * @example A handler that throws degrades its extension
   * ```ts
   * import { ExtensionManager, type Node } from "@nailgun/extensions";
   * import assert from "node:assert/strict";
   * const quiet = { debug() {}, info() {}, warn() {}, error() {} };
   * const manager = new ExtensionManager([{
   *   source: "inline",
   *   extension: {
   *     name: "flaky",
   *     version: "1.0.0",
   *     description: "Fails on every node.",
   *     onNodeCreate() {
   *       throw new Error("down");
   *     },
   *   },
   * }], { logger: quiet });
   * await manager.notify("onNodeCreate", { id: 1 } as unknown as Node);
   * const health = manager.health("flaky");
   * assert.equal(health.state, "degraded");
   * assert.equal(health.failures, 1);
   * assert.equal(health.lastError, "down");
   * ```
   */
  health(name: string): ExtensionHealth {
    this.get(name);
    let uncounted = 0;
    for (const list of this.#lists.values()) {
      if (list.handlers.some((handler) => handler.extension === name)) uncounted += list.dispatched;
    }
    return this.#monitors.get(name)!.health(uncounted);
  }

  /**
   * Runs host-invoked extension code (a REST route handler, a migration
   * step) as that extension: in its async context, so that what it leaves
   * behind is blamed on it, and counted in its health. A throw or a
   * rejection is counted as a failure and passed on.
   *
   * @param name The extension name.
   * @param fn The call into the extension.
   * @returns What `fn` returns.
   * @throws {RangeError} When none of that name is loaded.
   * @throws What `fn` throws.
   */
  runAs<T>(name: string, fn: () => T): T {
    this.get(name);
    const monitor = this.#monitors.get(name)!;
    const fail = (error: unknown, kind: FailureKind) =>
      monitor.fault(
        kind === "timeout" ? "timeouts" : "failures",
        `failed in a call from the host (${kind})`,
        describeError(error),
        true,
      );
    let returned: T;
    try {
      returned = monitor.enter(callThunk, fn, undefined);
    } catch (error) {
      fail(error, "threw");
      throw error;
    }
    if (!isThenable(returned)) {
      monitor.succeeded();
      return returned;
    }
    return Promise.resolve(returned).then((value) => {
      monitor.succeeded();
      return value;
    }, (error) => {
      fail(error, isTimeLimitError(error) ? "timeout" : "rejected");
      throw error;
    }) as T;
  }

  /**
   * Records a failure of an extension that the host saw (for example the
   * sandbox supervisor, a Worker that crashed): logged and counted in its
   * health, and against its circuit breaker. The sandbox launcher's
   * `onFault` passes its report as is: `onFault: (name, error, report) =>
   * manager.recordFault(name, error, report)`.
   *
   * @param name The extension name.
   * @param error What went wrong.
   * @param report How to count it: `kind` (`"failures"`, the default, or
   *   `"timeouts"`), and `logged: true` when the reporter logged it already
   *   (it is then counted without a second line; changes of state are still logged).
   * @throws {RangeError} When none of that name is loaded.
   */
  recordFault(name: string, error: unknown, report: FaultReport = {}): void {
    this.get(name);
    const timeout = report.kind === "timeouts";
    this.#monitors.get(name)!.fault(
      timeout ? "timeouts" : "failures",
      timeout ? "timed out (reported by the host)" : "failed (reported by the host)",
      describeError(error),
      false,
      report.logged === true,
    );
  }

  /**
   * Installs the process-wide fault guard: an unhandled rejection or an
   * uncaught error (from a timer, a microtask, a listener) no longer ends
   * the process. Each is blamed on an extension, by the async context it
   * surfaced in, else by the first of its extensions' module URLs in the
   * error's stack; it is logged in one line naming the extension and the
   * cause, and counted in its health (`unhandled`). A fault nobody can be
   * blamed for is logged as the host's. While the guard is installed, a
   * call that keeps the event loop busy past the time limit is detected and
   * counted (`blocked`).
   *
   * @returns What uninstalls the guard (`using guard = manager.guardFaults()`).
   *
   * @example A floating rejection is blamed on its extension
   * ```ts
   * import { ExtensionManager, type Node } from "@nailgun/extensions";
   * import assert from "node:assert/strict";
   * const lines: string[] = [];
   * const log = (line: string) => void lines.push(line);
   * const manager = new ExtensionManager([{
   *   source: "inline",
   *   extension: {
   *     name: "careless",
   *     version: "1.0.0",
   *     description: "Leaves a rejection nobody handles.",
   *     onNodeCreate() {
   *       Promise.reject(new Error("nobody listens"));
   *     },
   *   },
   * }], { logger: { debug: log, info: log, warn: log, error: log } });
   * using _guard = manager.guardFaults();
   * await manager.notify("onNodeCreate", { id: 1 } as unknown as Node);
   * await new Promise((resolve) => setTimeout(resolve, 10));
   * assert.equal(manager.health("careless").unhandled, 1);
   * assert.match(lines[0]!, /^extension "careless" faulted with an unhandled rejection: nobody listens/);
   * ```
   */
  guardFaults(): Disposable {
    return installFaultGuard({
      logger: this.#logger,
      claim: (kind, error, scope) => this.#claim(kind, error, scope),
    });
  }

  #claim(kind: FaultKind, error: unknown, scope: ExtensionScope | undefined): boolean {
    // A context of another manager's extension is that manager's to claim,
    // even when this one has an extension of the same name and source.
    if (scope instanceof AttributionScope && !this.#owns(scope)) return false;
    const monitor = (scope && this.#ownMonitor(scope)) ?? this.#blameByStack(error);
    if (monitor === undefined) return false;
    monitor.fault("unhandled", `faulted with an ${kind}`, describeError(error));
    return true;
  }

  #owns(scope: AttributionScope): boolean {
    return this.#monitors.get(scope.name)?.scope === scope;
  }

  #ownMonitor(scope: ExtensionScope): ExtensionMonitor | undefined {
    const monitor = this.#monitors.get(scope.name);
    if (!monitor) return undefined;
    if (scope instanceof AttributionScope) return monitor.scope === scope ? monitor : undefined;
    // A plain {name, source} scope (runAsExtension() from a host): by name and source.
    return monitor.source === scope.source ? monitor : undefined;
  }

  /** The extension whose module appears first in the error's stack. */
  #blameByStack(error: unknown): ExtensionMonitor | undefined {
    const stack = error instanceof Error ? error.stack : undefined;
    if (!stack) return undefined;
    this.#stackPatterns ??= this.#entries.flatMap((entry) =>
      [...(entry.url ? modulePatterns(entry.url) : []), ...modulePatterns(entry.source)].map((
        pattern,
      ) => ({
        pattern,
        monitor: this.#monitors.get(entry.extension.name)!,
      }))
    );
    for (const line of stack.split("\n")) {
      for (const { pattern, monitor } of this.#stackPatterns) {
        if (line.includes(pattern)) return monitor;
      }
    }
    return undefined;
  }

  /**
   * One call into an extension that is not a notification: in its async
   * context, time-limited, watched for blocking, counted, traced. A veto's
   * refusal is an answer, not a fault.
   */
  async #run<T>(
    entry: ManagedExtension,
    what: string,
    call: () => T | PromiseLike<T>,
    veto = false,
  ): Promise<T> {
    const monitor = this.#monitors.get(entry.extension.name)!;
    const limitMs = this.#watchdog.limitMs;
    const span = this.#tracer && startCallSpan(this.#tracer, what, entry.extension);
    let outcome: CallOutcome = "ok";
    let failure: unknown;
    const slots = watchSlots;
    const sequence = nextDispatch();
    const outer = slots[RUNNING]!;
    const outerHandler = slots[HANDLER]!;
    try {
      let returned: T | PromiseLike<T>;
      slots[RUNNING] = sequence;
      slots[HANDLER] = 0;
      try {
        returned = monitor.enter(callThunk, call, undefined);
      } catch (error) {
        outcome = "threw";
        throw error;
      } finally {
        slots[RUNNING] = outer;
        slots[HANDLER] = outerHandler;
        if (slots[STUCK] === sequence) {
          slots[STUCK] = 0;
          const ms = slots[STUCK_MS]!;
          if (ms > limitMs) monitor.blocked(what, ms, limitMs, false);
        }
      }
      if (!isThenable(returned)) {
        monitor.succeeded();
        return returned as T;
      }
      try {
        const value = await settleWithin(returned, limitMs);
        monitor.succeeded();
        return value;
      } catch (error) {
        outcome = isTimeLimitError(error) ? "timeout" : "rejected";
        throw error;
      }
    } catch (error) {
      failure = error;
      if (veto && (outcome as CallOutcome) !== "timeout") {
        outcome = "vetoed";
        monitor.succeeded();
      } else {
        monitor.fault(
          (outcome as CallOutcome) === "timeout" ? "timeouts" : "failures",
          `failed in ${what}`,
          describeError(error),
          true,
        );
      }
      throw error;
    } finally {
      if (span) endCallSpan(span, outcome, failure);
    }
  }

  #list(items: readonly string[]): string {
    return items.length ? items.map((item) => `"${item}"`).join(", ") : "none";
  }
}

/** The handlers a dispatch of one hook runs, and how often it ran. */
interface HandlerList {
  /** The handlers of extensions that are not suspended, in dispatch order. */
  readonly handlers: Handler[];
  /** Dispatches that ran this list: the calls of each of its extensions. */
  dispatched: number;
  /** The handlers left out because their extension is suspended. */
  readonly suspended: Handler[];
  /** Whether a handler of the hook declares `CONCURRENT_NOTIFICATIONS`. */
  readonly concurrent: boolean;
}

const NOTIFICATIONS: ReadonlySet<HookName> = new Set(NOTIFICATION_HOOKS);
const isNotification = (hook: HookName): boolean => NOTIFICATIONS.has(hook);
const isInline = (entry: ManagedExtension): boolean => entry.extension.delivery !== "durable";

// Inline events need ids that are unique, not stable: a random prefix and a counter.
// toISOString() costs about 1.5 µs, ten times a sync dispatch: it is made once per millisecond
// (benchmarks/dispatch_bench.ts).
const INLINE_PREFIX = `${crypto.randomUUID().slice(0, 8)}-`;
let inlineCount = 0;
let isoAt = NaN;
let iso = "";
function inlineMeta(hook: NotificationHook): EventMeta {
  const now = Date.now();
  if (now !== isoAt) {
    isoAt = now;
    iso = new Date(now).toISOString();
  }
  return Object.freeze({ id: INLINE_PREFIX + ++inlineCount, hook, occurredAt: iso, attempt: 1 });
}

function callThunk<T>(call: () => T): T {
  return call();
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

/** A JSON copy; throws on a cycle or a BigInt. */
function copyJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}

/**
 * What an extension's code looks like in a stack: the module URL of a path
 * or URL source, the package folder of a `jsr:` or `npm:` one.
 */
function modulePatterns(source: string): string[] {
  const jsr = /^jsr:\/?(@[^/@]+\/[^/@]+)/.exec(source);
  if (jsr) return [`/${jsr[1]}/`];
  const npm = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)/.exec(source);
  if (npm) return [`/node_modules/${npm[1]}/`, `/registry.npmjs.org/${npm[1]}/`];
  if (/^[a-z][a-z0-9+.-]*:/i.test(source)) return [source];
  if (source.startsWith("/")) return [pathToFileURL(source).href];
  if (source.startsWith("./") || source.startsWith("../")) {
    // Relative to the config file, which the manager does not know: the
    // resolved URL from here, and the path's tail.
    return [pathToFileURL(resolvePath(source)).href, source.replace(/^(\.\.?\/)+/, "/")];
  }
  // A bare import-map key: only the host's import map knows its URL, which
  // the loader passes as the entry's `url` when it has it.
  return [];
}

export type { DispatchResult, ExtensionHealth, HandlerFailure };
