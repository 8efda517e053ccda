/**
 * Sandboxed extensions: each one runs in its own Worker with exactly the
 * permissions the operator grants in `extensions.json`, and the host holds a
 * stand-in `Extension` whose methods send structured-clone messages to it.
 *
 * ```json
 * { "nailgun.extensions": { "load": [
 *   { "specifier": "jsr:@acme/audit@^1", "sandbox": { "net": ["audit.example.com:443"], "env": ["AUDIT_TOKEN"] } }
 * ] } }
 * ```
 *
 * What crosses the boundary:
 *
 * - **Notifications** (the 11 notification hooks): each one is a message,
 *   awaited as an in-process handler is: a failure or time-out is in the
 *   `DispatchResult` and counts in health. The stand-in declares
 *   `CONCURRENT_NOTIFICATIONS`, so the manager posts an event to every
 *   sandboxed extension at once, before it runs the in-process handlers in
 *   order, and then awaits the Workers. Each Worker runs its own
 *   notifications one after another, in the order they were sent. The time
 *   limit of a sandboxed handler runs from when the manager posts the event
 *   (as in process, from the call): a dispatch lasts at most the time limit
 *   for all the sandboxed extensions together, even behind a Worker's queue.
 * - **Veto hooks** (the 3 `check…` hooks): a message each, awaited; a
 *   rejection carries the extension's error name and message, so failures,
 *   time limits and vetoes behave as in process. Payloads are copied and
 *   frozen in the Worker, as they are frozen in process.
 * - **Provided calls** (`provides`) and **pipelines**: messages too; their
 *   arguments and results are copied (structured clone), so they must be
 *   plain data. A pipeline step that returns nothing hands back the data it
 *   changed, as in process.
 * - `setup` and `teardown`: messages; `setup` runs again after a restart.
 * - `context.call()` from the extension: a message to the host, answered by
 *   the provider (which runs with its own, possibly wider, permissions).
 *   Bounded: a chain of calls (one that comes back through the host
 *   included) at most `calls.maxDepth` deep, at most `calls.maxPending`
 *   calls pending per extension, values at most `maxMessageBytes`. A call
 *   over a limit fails at once with a `RangeError` naming the limit, is
 *   logged with the extension's name and reported to `onFault`.
 * - `context.logger`: lines go to the host's log, prefixed with the name.
 * - **Routes and migrations are refused at load**: they need the host's HTTP
 *   server and database, which the sandbox does not share. `context.database`
 *   is `undefined` in the sandbox.
 *
 * Loading the module: the Worker starts from an entry module that imports
 * the extension statically, so Deno loads the extension's module graph with
 * the host's permissions, before the sandbox applies; no `read` or `import`
 * permission is added to the grant for it. Deno checks no permission for
 * that graph (static imports, literal dynamic imports, JSON, text and bytes
 * imports), so before the Worker starts, the launcher resolves it
 * (`deno info --json`) and refuses the extension (phase `sandbox`) if a
 * local module of it lies outside the extension's package, this library's
 * code and the paths its grant's `read` lists. The package of a local
 * module is the nearest directory with a `deno.json`, `deno.jsonc` or
 * `package.json`, but never one that contains the project directory or a
 * host file (`hostFiles`): then it is the module's own directory, or only
 * the module. The extension's own code, its top-level code included, runs
 * with the grant only. What it loads later (a computed `import()`, a `data:`
 * or `blob:` module and what they import) is checked by Deno against the
 * grant. In the Worker, `postMessage`, `Worker` and `BroadcastChannel` are
 * replaced by functions that throw.
 *
 * Time limits: a call that does not settle within `handlerTimeoutMs` is
 * abandoned by the manager, as in process. The Worker is probed once the
 * call has run that long in it (a notification that waited in the Worker's
 * queue is timed there from when the Worker started it); if it
 * does not answer the probe either (a loop that never yields), it is
 * terminated, reported with the extension name and restarted, up to
 * `maxRestarts` times; after that the extension stays down and every call
 * rejects with a message that says so. A crash (uncaught error, unhandled
 * rejection, `close()`, `Deno.exit()`) is handled the same way. The host
 * never stops serving. (Deno 2.9's `Worker.terminate()` does not stop the
 * thread of a loop that never yields: the Worker is replaced, but its thread
 * keeps a CPU core until the process exits; see `SECURITY.md`.)
 *
 * @module
 */
import { join, resolve } from "node:path";
import { satisfiesRange } from "../_semver.ts";
import {
  DEFAULT_CALL_MAX_DEPTH,
  DEFAULT_CALL_MAX_PENDING,
  DEFAULT_HANDLER_TIMEOUT_MS,
} from "../defaults.ts";
import { verifyExtension } from "../contract.ts";
import { ExtensionLoadError } from "../errors.ts";
import type {
  Extension,
  ExtensionContext,
  ExtensionPermissions,
  Logger,
  PipelineStep,
} from "../extension.ts";
import type { SandboxLauncher } from "../loader.ts";
import { CONCURRENT_NOTIFICATIONS } from "../dispatcher.ts";
import { NOTIFICATION_HOOKS } from "../hooks.ts";
import { VERSION } from "../version.ts";
import {
  checkGraph,
  describeEscapes,
  type GraphOptions,
  GraphUnavailable,
  resolveGraph,
} from "./_graph.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./_protocol.ts";
import type { InvokeTarget, LogLevel, SandboxedDescription } from "./_protocol.ts";
import {
  type SandboxFaultReport,
  type SandboxState,
  StartFailure,
  WorkerSupervisor,
} from "./_supervisor.ts";
import {
  formatPermissions,
  isEmptyPermissions,
  missingPermissions,
  toWorkerPermissions,
  widenGrant,
} from "./permissions.ts";

export type { SandboxFaultReport, SandboxState };

/** Default number of restarts of a crashed or stuck Worker before its extension stays down. */
export const DEFAULT_MAX_RESTARTS = 3;

/** Default heap a sandboxed extension's Worker may use, in MiB (a soft limit: see `maxHeapMb`). */
export const DEFAULT_MAX_HEAP_MB = 512;

/** Default time limit of starting a Worker (import, verify), in milliseconds. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;

/** Options of {@linkcode createSandboxLauncher}. */
export interface SandboxLauncherOptions {
  /**
   * Time limit of one call, in milliseconds: the manager's `handlerTimeoutMs`.
   * Default: the one the loader passes with each request (the config's), else 10 000.
   */
  handlerTimeoutMs?: number;
  /** Time limit of starting a Worker (importing and verifying the extension); default 30 000. */
  startTimeoutMs?: number;
  /**
   * How long a Worker whose call outlived the time limit has to answer a
   * probe before it is deemed stuck and terminated. Default
   * `max(1 000, handlerTimeoutMs / 2)`: long enough that a busy machine does
   * not pass for a stuck Worker, and a stuck Worker is terminated after the
   * manager has reported its call as timed out.
   */
  probeTimeoutMs?: number;
  /** Restarts of a crashed or stuck Worker before the extension stays down; default 3. */
  maxRestarts?: number;
  /** Where crashes, terminations and restarts are reported; default `console`. */
  logger?: Logger;
  /** The directory relative `read` and `write` grants start from; default the working directory. */
  baseDir?: string;
  /**
   * Answers `context.call()` of sandboxed extensions when the loader gives
   * no context; by default such calls reject.
   */
  call?: (name: string, ...args: unknown[]) => Promise<unknown>;
  /**
   * The host's project directory: no sandboxed extension's package contains
   * it (an extension in `./examples/logging/` has `examples/logging/` as its
   * package, not the project). `deno info` resolves from here. Default: the
   * working directory.
   */
  projectDir?: string;
  /**
   * Files no sandboxed extension may import even from inside its package,
   * unless its grant's `read` names them: the host's config and database.
   * Default: `extensions.json` in the project directory.
   */
  hostFiles?: readonly string[];
  /** The `deno.json` the host resolves imports with, for the graph check; default: Deno's discovery. */
  denoConfig?: string;
  /**
   * Limits of provided calls from sandboxed extensions (the config's
   * `calls`): the longest chain, calls back through the host included
   * (default 8), and the calls one extension may have pending at once
   * (default 64). A call over a limit fails at once, is logged with the
   * extension's name and reported to `onFault`.
   */
  calls?: { maxDepth?: number; maxPending?: number };
  /** Size limit of one value a Worker sends (a result, a call's arguments), in bytes; default 16 MiB. */
  maxMessageBytes?: number;
  /**
   * The heap a sandboxed extension's Worker may use, in MiB; default 512.
   * The Worker is asked for its heap every `heapCheckMs` and terminated,
   * reported and restarted when it uses more. A soft limit: Deno 2.9 cannot
   * bound a Worker's heap, and a Worker that allocates faster than it is
   * asked, or never yields, can still exhaust the V8 heap, which ends the
   * whole process.
   */
  maxHeapMb?: number;
  /** How often a Worker is asked for its heap, in milliseconds; default 1 000. */
  heapCheckMs?: number;
  /**
   * Told of each failure of a sandboxed extension that the sandbox itself
   * detects and no caller sees (a call over a limit, a message too large, a
   * crash, a Worker terminated because it is stuck), with the extension's
   * name; the sandbox has logged it already. Wire it to
   * `(name, error, report) => manager.recordFault(name, error, report)` so
   * that it counts in the extension's health, logged once.
   */
  onFault?: (name: string, error: Error, report: SandboxFaultReport) => void;
}

/** What the loader asks the launcher for: one config entry with `sandbox`. */
export interface SandboxRequest {
  /** The config entry, for messages. */
  source: string;
  /** The module to import. */
  specifier: string;
  /** What the operator granted. */
  grant: ExtensionPermissions;
  /** Settings of every extension, keyed by name; the extension gets only its own. */
  settings: Record<string, Record<string, unknown>>;
  /** The manager's time limit, when the loader passes it. */
  handlerTimeoutMs?: number;
  /** The extension's context in the host (logger, calls), when the loader passes it. */
  context?: ExtensionContext;
  /** The config's limits of provided calls, when the loader passes them (the launcher's options win). */
  calls?: { maxDepth?: number; maxPending?: number };
}

/** How a sandboxed extension is doing. */
export interface SandboxStatus {
  /** `running`, `restarting`, `down` (restart limit reached) or `closed` (torn down). */
  state: SandboxState;
  /** How many times its Worker was restarted. */
  restarts: number;
  /** Why its Worker was last terminated, if it was. */
  lastFailure?: string;
}

/** Members of the contract that a provided call may not be named after. */
const RESERVED = new Set([
  "name",
  "version",
  "description",
  "provides",
  "routes",
  "migrations",
  "pipelines",
  "hostVersion",
  "permissions",
  "setup",
  "teardown",
  "context",
  "constructor",
  "__proto__",
  "toString",
  "then",
]);

const supervisors = new WeakMap<object, WorkerSupervisor>();

const NOTIFICATIONS: ReadonlySet<string> = new Set(NOTIFICATION_HOOKS);

/**
 * Makes the launcher to pass to `loadExtensions({ sandbox })`: config entries
 * with `sandbox` then run in their own Worker with exactly the granted
 * permissions. Needs `--unstable-worker-options`.
 *
 * @param options Time limits, restarts, log.
 * @returns The launcher.
 *
 * @example Run an extension in a Worker that may read nothing
 * ```ts
 * import { createSandboxLauncher, sandboxStatus } from "./launcher.ts";
 * import { loadExtensions } from "../loader.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/peek.ts`, `export default {
 *   name: "peek", version: "1.0.0", description: "Reads /etc/hostname on every new node.",
 *   async onNodeCreate() { await Deno.readTextFile("/etc/hostname"); },
 * };`);
 * const silent = { debug() {}, info() {}, warn() {}, error() {} };
 * const { manager } = await loadExtensions({
 *   config: { load: [{ specifier: `${dir}/peek.ts`, sandbox: {} }], discover: false },
 *   importMap: { file: "deno.json", imports: {} },
 *   sandbox: createSandboxLauncher({ logger: silent }),
 *   services: { logger: silent },
 * });
 * try {
 *   const peek = manager.get("peek");
 *   assert.equal(sandboxStatus(peek)?.state, "running");
 *   const result = await manager.notify("onNodeCreate", {
 *     id: 1, uuid: "u1", mac: "52:54:00:00:00:01", name: "node-1", hostname: "node-1",
 *     status: "discover", cluster_id: null, group_id: null, roles: [], pending_roles: [],
 *     pending_addition: false, pending_deletion: false, online: true, meta: {},
 *   });
 *   assert.deepEqual(result.failures.map((failure) => failure.extension), ["peek"]);
 *   assert.match(result.failures[0]!.message, /^NotCapable: Requires read access/);
 * } finally {
 *   await manager.teardown();
 * }
 * ```
 */
export function createSandboxLauncher(options: SandboxLauncherOptions = {}): SandboxLauncher {
  return (request: SandboxRequest) => launchSandboxed(request, options);
}

/**
 * How a sandboxed extension is doing, for status pages and tests.
 *
 * @param extension An extension the sandbox launcher returned.
 * @returns Its state and restarts, or `undefined` for an extension that runs in process.
 *
 * @example An extension in process has no sandbox status
 * ```ts
 * import { sandboxStatus } from "./launcher.ts";
 * import assert from "node:assert/strict";
 * assert.equal(sandboxStatus({ name: "a", version: "1.0.0", description: "A." }), undefined);
 * ```
 */
export function sandboxStatus(extension: Extension): SandboxStatus | undefined {
  const supervisor = supervisors.get(extension);
  if (!supervisor) return undefined;
  const status: SandboxStatus = { state: supervisor.state, restarts: supervisor.restarts };
  if (supervisor.lastFailure !== undefined) status.lastFailure = supervisor.lastFailure;
  return status;
}

// The module a sandbox Worker starts from: it imports the Worker runtime, then
// the extension, statically (so that Deno loads them with the host's
// permissions, before the sandbox applies), and serves the extension.
function sandboxEntryUrl(specifier: string, source: string, handlerTimeoutMs: number): string {
  const runtime = new URL("./worker.ts", import.meta.url).href;
  const code = [
    `import { serveExtension } from ${JSON.stringify(runtime)};`,
    `import * as extension from ${JSON.stringify(specifier)};`,
    `serveExtension(extension, ${
      JSON.stringify(source)
    }, { handlerTimeoutMs: ${handlerTimeoutMs} });`,
  ].join("\n");
  return `data:application/javascript,${encodeURIComponent(code)}`;
}

async function launchSandboxed(
  request: SandboxRequest,
  options: SandboxLauncherOptions,
): Promise<Extension> {
  const { source } = request;
  const grant = request.grant ?? {};
  const logger = options.logger ?? console;
  const handlerTimeoutMs = options.handlerTimeoutMs ?? request.handlerTimeoutMs ??
    DEFAULT_HANDLER_TIMEOUT_MS;
  let context = request.context;
  let name = source;
  const supervisor = new WorkerSupervisor({
    source,
    entryUrl: sandboxEntryUrl(request.specifier, source, handlerTimeoutMs),
    permissions: toWorkerPermissions(grant, { baseDir: options.baseDir }),
    handlerTimeoutMs,
    startTimeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    probeTimeoutMs: options.probeTimeoutMs ?? Math.max(1_000, handlerTimeoutMs / 2),
    maxRestarts: options.maxRestarts ?? DEFAULT_MAX_RESTARTS,
    logger,
    onLog: (level: LogLevel, message: string) => {
      if (context) context.logger[level](message);
      else logger[level](`[${name}] ${message}`);
    },
    maxDepth: options.calls?.maxDepth ?? request.calls?.maxDepth ?? DEFAULT_CALL_MAX_DEPTH,
    maxPending: options.calls?.maxPending ?? request.calls?.maxPending ??
      DEFAULT_CALL_MAX_PENDING,
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    maxHeapBytes: (options.maxHeapMb ?? DEFAULT_MAX_HEAP_MB) * 1024 * 1024,
    heapCheckMs: options.heapCheckMs ?? 1_000,
    onFault: (faulty: string, error: Error, report: SandboxFaultReport) =>
      options.onFault?.(faulty, error, report),
    onCall: (call: string, args: unknown[]) => {
      if (context) return context.call(call, ...args);
      if (options.call) return options.call(call, ...args);
      return Promise.reject(
        new Error(`Cannot call "${call}": this host gives sandboxed extensions no calls`),
      );
    },
  });

  await confineGraph(request, grant, options);
  let description: SandboxedDescription;
  try {
    description = await supervisor.start();
  } catch (error) {
    if (!(error instanceof StartFailure)) throw error;
    const prefix = `Cannot load extension "${source}"`;
    const message = error.message.startsWith(prefix)
      ? error.message
      : `${prefix}: ${error.message}`;
    throw new ExtensionLoadError(message, {
      source,
      phase: error.phase,
      cause: error,
    });
  }
  name = description.name;
  const fail = (phase: "sandbox" | "host-version", message: string): never => {
    supervisor.stop();
    throw new ExtensionLoadError(`Cannot load extension "${source}": ${message}`, {
      source,
      phase,
      extension: description.name,
    });
  };

  const proxy = buildProxy(description, supervisor, (given) => context = given ?? context);
  try {
    verifyExtension(proxy, source);
  } catch (error) {
    supervisor.stop();
    throw error;
  }
  const refused = {
    routes: description.routes.map((route) => `${route.method} ${route.path}`),
    migrations: description.migrations,
  };
  for (const [field, values] of Object.entries(refused)) {
    if (values.length > 0) {
      fail(
        "sandbox",
        `"${field}" cannot cross the sandbox boundary: a sandboxed extension has no access to the host's HTTP server and database: run "${name}" in process (remove "sandbox" from its entry in extensions.json) or use it without ${field}: current value is ${
          JSON.stringify(values)
        }`,
      );
    }
  }
  const reserved = description.provides.filter((call) => RESERVED.has(call));
  if (reserved.length > 0) {
    fail(
      "sandbox",
      `"provides" names a member of the extension contract, which a sandboxed extension cannot provide as a call: rename it: current value is ${
        JSON.stringify(reserved)
      }`,
    );
  }
  if (description.hostVersion !== undefined && !satisfiesRange(VERSION, description.hostVersion)) {
    fail(
      "host-version",
      `"hostVersion" is "${description.hostVersion}" but this host runs @nailgun/extensions ${VERSION}: install a version of "${name}" written for ${VERSION}`,
    );
  }
  const missing = missingPermissions(description.permissions, grant, {
    baseDir: options.baseDir,
  });
  if (!isEmptyPermissions(missing)) {
    const entry = JSON.stringify({ specifier: source, sandbox: widenGrant(grant, missing) });
    fail(
      "sandbox",
      `"${name}" declares permissions that the sandbox does not grant: ${
        formatPermissions(missing)
      }: grant them in extensions.json with ${entry}: current grant is ${
        isEmptyPermissions(grant) ? "nothing" : formatPermissions(grant)
      }`,
    );
  }

  supervisor.configure({ ...(request.settings?.[name] ?? {}) });
  supervisors.set(proxy, supervisor);
  return proxy;
}

/** Refuses an extension whose module graph reaches a file it may not read. */
async function confineGraph(
  request: SandboxRequest,
  grant: ExtensionPermissions,
  options: SandboxLauncherOptions,
): Promise<void> {
  const { source } = request;
  const projectDir = resolve(options.projectDir ?? Deno.cwd());
  const graphOptions: GraphOptions = {
    baseDir: options.baseDir ?? Deno.cwd(),
    projectDir,
    hostFiles: options.hostFiles ?? [join(projectDir, "extensions.json")],
    config: options.denoConfig,
  };
  let message: string | undefined;
  try {
    const verdict = await checkGraph(
      await resolveGraph(request.specifier, graphOptions),
      grant,
      graphOptions,
    );
    if (verdict.escapes.length > 0) message = describeEscapes(verdict, grant);
  } catch (error) {
    if (!(error instanceof GraphUnavailable)) throw error;
    message = error.message;
  }
  if (message !== undefined) {
    throw new ExtensionLoadError(`Cannot load extension "${source}": ${message}`, {
      source,
      phase: "sandbox",
    });
  }
}

function buildProxy(
  description: SandboxedDescription,
  supervisor: WorkerSupervisor,
  adoptContext: (context: ExtensionContext | undefined) => ExtensionContext | undefined,
): Extension {
  const proxy: Record<PropertyKey, unknown> = {};
  const define = (key: PropertyKey, value: unknown) =>
    Object.defineProperty(proxy, key, { value, enumerable: typeof key === "string" });
  const invoke = (target: InvokeTarget, label: string) => (...args: unknown[]) =>
    supervisor.invoke(target, args, label);

  define("name", description.name);
  define("version", description.version);
  define("description", description.description);
  define("provides", Object.freeze([...description.provides]));
  // Each Worker keeps its own events in order: the manager may post one event to all at once.
  define(CONCURRENT_NOTIFICATIONS, true);
  if (description.hostVersion !== undefined) define("hostVersion", description.hostVersion);
  if (description.delivery !== undefined) define("delivery", description.delivery);
  if (description.permissions !== undefined) {
    define("permissions", Object.freeze(description.permissions));
  }
  for (const call of description.provides) {
    define(call, invoke({ kind: "call", name: call }, `its call "${call}"`));
  }
  for (const hook of description.hooks) {
    define(
      hook,
      NOTIFICATIONS.has(hook)
        ? (...args: unknown[]) => supervisor.notify(hook, args)
        : invoke({ kind: "hook", name: hook }, hook),
    );
  }
  if (description.pipelines.length > 0) {
    define(
      "pipelines",
      Object.freeze(description.pipelines.map((steps, index) => {
        const pipeline: Partial<Record<PipelineStep, unknown>> = {};
        for (const step of steps) {
          pipeline[step] = invoke(
            { kind: "pipeline", index, step },
            `${step} of pipeline ${index}`,
          );
        }
        return Object.freeze(pipeline);
      })),
    );
  }
  define("setup", (context?: ExtensionContext): Promise<void> => {
    adoptContext(context);
    return supervisor.setup(context ? { ...context.settings } : undefined);
  });
  define("teardown", (): Promise<void> => supervisor.teardown());
  define(Symbol.asyncDispose, (): Promise<void> => {
    supervisor.stop();
    return Promise.resolve();
  });
  return Object.freeze(proxy) as unknown as Extension;
}
