/**
 * The inside of a sandbox Worker. The launcher starts each Worker from a
 * small entry module that imports this module first (so that its guards are
 * in place before any code of the extension runs), then the extension
 * module, and calls {@linkcode serveExtension}. It verifies the extension
 * with the same structural contract as the host, reports what the extension
 * is, then runs the hooks, provided calls, pipeline steps, `setup` and
 * `teardown` the host asks for, with payloads frozen as in process.
 *
 * A crash of the extension (an uncaught error, an unhandled rejection,
 * `close()`, `Deno.exit()`) is reported to the host, which terminates the
 * Worker and starts a new one.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { freezeDeep } from "../_freeze.ts";
import { instantiateExtension } from "../contract.ts";
import { describeError, ExtensionLoadError } from "../errors.ts";
import type {
  DataPipeline,
  Extension,
  ExtensionContext,
  Logger,
  PipelineStep,
} from "../extension.ts";
import { HOOK_NAMES } from "../hooks.ts";
import { DEFAULT_HANDLER_TIMEOUT_MS } from "../defaults.ts";
import { VERSION } from "../version.ts";
import {
  clip,
  deserializeError,
  type HostMessage,
  type InvokeTarget,
  type LogLevel,
  type Outcome,
  PIPELINE_STEPS,
  type SandboxedDescription,
  serializeError,
  type WorkerMessage,
} from "./_protocol.ts";

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
const inWorker =
  typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === "function";
// Taken before the extension's code runs: it cannot redirect what this module sends.
const post: (message: WorkerMessage) => void = inWorker ? scope.postMessage.bind(scope) : () => {};
let crashed = false;
// Taken before the extension's code runs, as `post` is. In a Worker it
// answers the Worker's own isolate.
const memoryUsage = Deno.memoryUsage;
const heapUsed = (): number | undefined => {
  try {
    return memoryUsage().heapUsed;
  } catch {
    return undefined;
  }
};
// The depth of the chain of provided calls the current invocation belongs
// to, as the host sent it: a call made from it is one deeper.
const chain = new AsyncLocalStorage<number>();

function crash(reason: string, error?: unknown): void {
  if (crashed) return;
  crashed = true;
  post({
    type: "crash",
    reason: clip(reason),
    error: error === undefined ? undefined : clip(errorText(error)),
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : describeError(error);
}

if (inWorker) {
  scope.addEventListener("error", (event) => {
    event.preventDefault();
    const { error, message } = event as ErrorEvent;
    const cause = error === undefined ? message : error;
    crash(`uncaught ${errorText(cause)}`, cause);
  });
  scope.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    const { reason } = event as PromiseRejectionEvent;
    crash(`unhandled rejection: ${errorText(reason)}`, reason);
  });
  const close = scope.close.bind(scope);
  scope.close = () => {
    crash("the extension called close()");
    close();
  };
  // Channels around the host's messages: only this module posts to the
  // host (the launcher bounds what it sends), no BroadcastChannel reaches
  // the host or another sandbox, and no nested Worker (whose fresh global
  // scope would have both again).
  // A function, not an arrow: `new Worker()` must reach the throw too.
  const refuse = (what: string) =>
    function refused(): never {
      throw new TypeError(
        `Cannot ${what} in the sandbox: sandboxed extensions talk to the host only through their hooks, calls and context`,
      );
    };

  for (
    const [key, value] of [
      ["postMessage", refuse("post a message directly")],
      ["Worker", refuse("create a Worker")],
      ["BroadcastChannel", refuse("open a BroadcastChannel")],
      ["SharedWorker", undefined],
    ] as const
  ) {
    if (value === undefined) delete (globalThis as Record<string, unknown>)[key];
    else Object.defineProperty(globalThis, key, { value, configurable: false, writable: false });
  }
  // Deno's internals (its ops among them) would let code around the above.
  delete (Deno as unknown as Record<symbol, unknown>)[
    (Deno as unknown as { internal: symbol }).internal
  ];
  const exit = Deno.exit;
  Object.defineProperty(Deno, "exit", {
    value: (code?: number): never => {
      crash(`the extension called Deno.exit(${code ?? 0})`);
      return exit(code);
    },
    configurable: true,
    writable: true,
  });
}

/** Options of {@linkcode serveExtension}. */
export interface ServeOptions {
  /**
   * The time limit of one handler, in milliseconds: a notification that has
   * not settled by then no longer holds up the next one. Default 10 000.
   */
  handlerTimeoutMs?: number;
}

type Job = () => Promise<void> | undefined;

/**
 * The extension's notifications, run one after another in the order they
 * came: the next one starts once the previous one settled, or once it has
 * run for the time limit (the host reports it as timed out). One interval,
 * kept while there is work, watches the running one; no timer per event.
 */
class NotificationQueue {
  readonly #limitMs: number;
  readonly #queue: Job[] = [];
  #running: object | undefined;
  #since = 0;
  #watch: ReturnType<typeof setInterval> | undefined;

  constructor(limitMs: number) {
    this.#limitMs = limitMs;
  }

  push(job: Job): void {
    this.#queue.push(job);
    if (this.#running === undefined) this.#drain();
  }

  #drain(): void {
    while (this.#running === undefined && this.#queue.length > 0) {
      const pending = this.#queue.shift()!();
      if (pending === undefined) continue;
      const token = {};
      this.#running = token;
      this.#since = Date.now();
      this.#watch ??= setInterval(() => this.#check(), Math.max(1, this.#limitMs / 4));
      pending.then(() => {
        if (this.#running !== token) return;
        this.#running = undefined;
        this.#drain();
      });
    }
  }

  #check(): void {
    if (this.#running === undefined) {
      clearInterval(this.#watch);
      this.#watch = undefined;
    } else if (Date.now() - this.#since >= this.#limitMs) {
      this.#running = undefined;
      this.#drain();
    }
  }
}

/**
 * Runs one notification hook and answers the host: the bare id when it
 * succeeded, the error when it failed. Returns a promise only when the
 * handler did (the queue then waits for it).
 */
function notifyHook(
  extension: Extension,
  id: number,
  hook: string,
  args: unknown[],
): Promise<void> | undefined {
  const fail = (error: unknown) =>
    post({ type: "result", id, outcome: { ok: false, error: serializeError(error) } });
  let returned: unknown;
  try {
    const fn = (extension as unknown as Record<string, unknown>)[hook];
    if (typeof fn !== "function") throw new TypeError(`it has no hook ${hook}`);
    for (const arg of args) freezeDeep(arg);
    returned = (fn as Method).apply(extension, args);
  } catch (error) {
    fail(error);
    return undefined;
  }
  if (returned !== null && typeof (returned as PromiseLike<unknown>)?.then === "function") {
    return Promise.resolve(returned).then(() => post(id), fail);
  }
  post(id);
  return undefined;
}

/**
 * Verifies the extension a module exports and serves the host's requests
 * for it. Called once, by the Worker's entry module.
 *
 * @param module The namespace of the extension module.
 * @param source Where the extension came from, for messages.
 * @param options The time limit of its notifications.
 *
 * @example Outside a Worker it only verifies (and reports nothing)
 * ```ts
 * import { serveExtension } from "./worker.ts";
 * import assert from "node:assert/strict";
 * assert.doesNotThrow(() =>
 *   serveExtension({ default: { name: "tiny", version: "1.0.0", description: "Does nothing." } }, "inline")
 * );
 * ```
 */
export function serveExtension(
  module: Record<string, unknown>,
  source: string,
  options: ServeOptions = {},
): void {
  const notifications = new NotificationQueue(
    options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS,
  );
  let settings: Readonly<Record<string, unknown>> = Object.freeze({});
  const pendingCalls = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let nextCall = 0;
  const log = (level: LogLevel) => (message: string) =>
    post({ type: "log", level, message: clip(message) });
  const logger: Logger = {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
  };
  const context: ExtensionContext = {
    logger,
    get settings() {
      return settings;
    },
    hostVersion: VERSION,
    database: undefined,
    call(name: string, ...args: unknown[]): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const id = ++nextCall;
        pendingCalls.set(id, { resolve, reject });
        try {
          post({ type: "call", id, name, args, depth: (chain.getStore() ?? 0) + 1 });
        } catch (error) {
          pendingCalls.delete(id);
          reject(error);
        }
      });
    },
  };

  let extension: Extension;
  try {
    extension = instantiateExtension(module, source, context);
  } catch (error) {
    post({
      type: "failed",
      phase: error instanceof ExtensionLoadError ? error.phase : "validate",
      message: clip(error instanceof ExtensionLoadError ? error.message : errorText(error)),
    });
    return;
  }

  if (inWorker) {
    scope.addEventListener("message", (event) => {
      const message = (event as MessageEvent<HostMessage>).data;
      switch (message?.type) {
        case "configure":
          settings = freezeDeep({ ...message.settings });
          break;
        case "ping":
          post({ type: "pong", id: message.id, heap: heapUsed() });
          break;
        case "reply": {
          const pending = pendingCalls.get(message.id);
          pendingCalls.delete(message.id);
          if (message.outcome.ok) pending?.resolve(message.outcome.value);
          else pending?.reject(deserializeError(message.outcome.error));
          break;
        }
        case "notify":
          notifications.push(() =>
            message.depth === undefined
              ? notifyHook(extension, message.id, message.hook, message.args)
              : chain.run(
                message.depth,
                () => notifyHook(extension, message.id, message.hook, message.args),
              )
          );
          break;
        case "invoke":
          if (message.depth === undefined) {
            void answer(extension, context, message.id, message.target, message.args);
          } else {
            chain.run(
              message.depth,
              () => void answer(extension, context, message.id, message.target, message.args),
            );
          }
          break;
      }
    });
  }
  post({ type: "ready", description: describeSandboxed(extension) });
}

async function answer(
  extension: Extension,
  context: ExtensionContext,
  id: number,
  target: InvokeTarget,
  args: unknown[],
): Promise<void> {
  let outcome: Outcome;
  try {
    outcome = { ok: true, value: await run(extension, context, target, args) };
  } catch (error) {
    outcome = { ok: false, error: serializeError(error) };
  }
  try {
    post(outcome.ok && outcome.value === undefined ? id : { type: "result", id, outcome });
  } catch (error) {
    post({
      type: "result",
      id,
      outcome: {
        ok: false,
        error: serializeError(
          new TypeError(`the result cannot be sent to the host: ${describeError(error)}`),
        ),
      },
    });
  }
}

type Method = (...args: unknown[]) => unknown;

async function run(
  extension: Extension,
  context: ExtensionContext,
  target: InvokeTarget,
  args: unknown[],
): Promise<unknown> {
  const members = extension as unknown as Record<string, unknown>;
  switch (target.kind) {
    case "hook": {
      const fn = members[target.name];
      if (typeof fn !== "function") throw new TypeError(`it has no hook ${target.name}`);
      for (const arg of args) freezeDeep(arg);
      await (fn as Method).apply(extension, args);
      return undefined;
    }
    case "call": {
      const fn = members[target.name];
      if (!extension.provides?.includes(target.name) || typeof fn !== "function") {
        throw new TypeError(`it does not provide "${target.name}"`);
      }
      return await (fn as Method).apply(extension, args);
    }
    case "pipeline": {
      const pipeline = extension.pipelines?.[target.index] as DataPipeline | undefined;
      const fn = pipeline?.[target.step] as Method | undefined;
      if (typeof fn !== "function") {
        throw new TypeError(`it has no pipeline step ${target.step} at ${target.index}`);
      }
      const [subject, data] = args;
      freezeDeep(subject);
      return (await fn.call(pipeline, subject, data)) ?? data;
    }
    case "setup":
      await extension.setup?.(context);
      return undefined;
    case "teardown":
      await extension.teardown?.();
      return undefined;
  }
}

function describeSandboxed(extension: Extension): SandboxedDescription {
  const members = extension as unknown as Record<string, unknown>;
  const description: SandboxedDescription = {
    name: extension.name,
    version: extension.version,
    description: extension.description,
    provides: [...(extension.provides ?? [])],
    hooks: HOOK_NAMES.filter((hook) => typeof members[hook] === "function"),
    pipelines: (extension.pipelines ?? []).map((pipeline) =>
      PIPELINE_STEPS.filter((step: PipelineStep) => typeof pipeline[step] === "function")
    ),
    setup: typeof extension.setup === "function",
    teardown: typeof extension.teardown === "function",
    routes: (extension.routes ?? []).map(({ method, path }) => ({ method, path })),
    migrations: (extension.migrations ?? []).map((migration) => migration.name),
  };
  if (extension.hostVersion !== undefined) description.hostVersion = extension.hostVersion;
  if (extension.delivery !== undefined) description.delivery = extension.delivery;
  if (extension.permissions !== undefined) {
    description.permissions = JSON.parse(JSON.stringify(extension.permissions));
  }
  return description;
}
