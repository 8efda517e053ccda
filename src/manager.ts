/**
 * `ExtensionManager`: the loaded extensions, and everything a host does with
 * them: look up, iterate, notify, veto, run pipelines, call what they provide,
 * set up and tear down (SPEC §2.1).
 *
 * @module
 */
import { freezeDeep } from "./_freeze.ts";
import {
  dispatchNotification,
  type DispatchResult,
  dispatchVeto,
  type FailureListener,
  type Handler,
  type HandlerFailure,
  withTimeLimit,
} from "./dispatcher.ts";
import { describeError, ExtensionError } from "./errors.ts";
import type { DataPipeline, Extension, Logger, PipelineStep } from "./extension.ts";
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
import { Watchdog } from "./watchdog.ts";

/** An extension together with where it came from. */
export interface ManagedExtension {
  /** The verified extension. */
  readonly extension: Extension;
  /** The specifier or path it was loaded from. */
  readonly source: string;
}

/** Options of {@linkcode ExtensionManager}. */
export interface ManagerOptions {
  /** Time limit of one handler call in milliseconds; default 10 000. */
  handlerTimeoutMs?: number;
  /** Where failures are logged; default `console`. */
  logger?: Logger;
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
  readonly #handlers = new Map<HookName, Handler[]>();
  readonly #providers = new Map<string, ManagedExtension>();
  readonly #watchdog: Watchdog;
  readonly #logger: Logger;
  readonly #onFailure: FailureListener;

  /**
   * Makes a manager of extensions already verified.
   *
   * @param extensions The extensions, in dispatch order.
   * @param options Time limit and logger.
   * @throws {RangeError} When two extensions share a name or a provided call.
   */
  constructor(extensions: readonly ManagedExtension[], options: ManagerOptions = {}) {
    this.#entries = [...extensions];
    this.#watchdog = new Watchdog(options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS);
    this.#logger = options.logger ?? console;
    this.#onFailure = (failed) =>
      this.#logger.error(
        `extension "${failed.extension}" failed in ${failed.hook} (${failed.kind}): ${failed.message}`,
      );
    for (const entry of this.#entries) {
      const { name } = entry.extension;
      const other = this.#byName.get(name);
      if (other) {
        throw new RangeError(
          `Cannot manage extension "${entry.source}": the name "${name}" is already taken by "${other.source}"`,
        );
      }
      this.#byName.set(name, entry);
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
      this.#handlers.set(hook, receivers.flatMap((entry) => handlerOf(entry, hook)));
    }
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
   * order. A handler's error, rejection or timeout is logged and returned in
   * the result; the others still run and the caller's operation stands.
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
    return dispatchNotification(
      hook,
      this.#handlers.get(hook)!,
      [...args, inlineMeta(hook)],
      this.#watchdog,
      this.#onFailure,
    );
  }

  /**
   * Runs a veto hook on the extensions enabled on the cluster, in its order.
   *
   * @param hook The veto hook.
   * @param args Its arguments; the first is the cluster.
   * @throws {ExtensionVetoError} From the first extension that refused.
   */
  async check<H extends VetoHook>(hook: H, ...args: HookArguments<H>): Promise<void> {
    for (const arg of args) freezeDeep(arg);
    const enabled = this.forCluster(args[0]);
    const handlers = enabled.flatMap((entry) => handlerOf(entry, hook));
    await dispatchVeto(hook, handlers, args, this.#watchdog.limitMs);
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
      try {
        const returned = await withTimeLimit(
          () => fn.call(pipeline, subject, value),
          this.#watchdog.limitMs,
        );
        return (returned ?? value) as T;
      } catch (error) {
        throw new ExtensionError(
          `Extension "${entry.extension.name}" failed in ${step}: ${describeError(error)}`,
          { source: entry.source, extension: entry.extension.name, cause: error },
        );
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
    try {
      return await withTimeLimit(() => target[name]!(...args), this.#watchdog.limitMs);
    } catch (error) {
      throw new ExtensionError(
        `Extension "${provider.extension.name}" failed in its call "${name}": ${
          describeError(error)
        }`,
        { source: provider.source, extension: provider.extension.name, cause: error },
      );
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
    for (const { extension, source } of [...this.#entries].reverse()) {
      if (typeof extension.teardown !== "function") continue;
      try {
        await withTimeLimit(() => extension.teardown!(), this.#watchdog.limitMs);
      } catch (error) {
        const message = describeError(error);
        this.#logger.error(`extension "${extension.name}" failed in teardown: ${message}`);
        failures.push({ name: extension.name, source, message, error });
      }
    }
    return failures;
  }

  #list(items: readonly string[]): string {
    return items.length ? items.map((item) => `"${item}"`).join(", ") : "none";
  }
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

function handlerOf(entry: ManagedExtension, hook: HookName): Handler[] {
  const fn = (entry.extension as unknown as Record<string, unknown>)[hook];
  if (typeof fn !== "function") return [];
  return [{
    extension: entry.extension.name,
    source: entry.source,
    target: entry.extension,
    fn: fn as Handler["fn"],
  }];
}

export type { DispatchResult, HandlerFailure };
