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

/**
 * Verifies the extension a module exports and serves the host's requests
 * for it. Called once, by the Worker's entry module.
 *
 * @param module The namespace of the extension module.
 * @param source Where the extension came from, for messages.
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
export function serveExtension(module: Record<string, unknown>, source: string): void {
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
          post({ type: "call", id, name, args });
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
          post({ type: "pong", id: message.id });
          break;
        case "reply": {
          const pending = pendingCalls.get(message.id);
          pendingCalls.delete(message.id);
          if (message.outcome.ok) pending?.resolve(message.outcome.value);
          else pending?.reject(deserializeError(message.outcome.error));
          break;
        }
        case "invoke":
          void answer(extension, context, message.id, message.target, message.args);
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
    post({ type: "result", id, outcome });
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
