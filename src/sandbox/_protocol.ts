// The messages between the host and a sandbox Worker. Everything crosses the
// boundary by structured clone; nothing the Worker sends is trusted: the host
// checks its shape before using it.
import { z } from "zod";
import { describeError, type LoadPhase } from "../errors.ts";
import type { ExtensionPermissions, PipelineStep, RouteMethod } from "../extension.ts";
import { HOOK_NAMES, type HookName } from "../hooks.ts";

/** The four pipeline steps. */
export const PIPELINE_STEPS: readonly PipelineStep[] = [
  "processDeploymentForCluster",
  "processDeploymentForNode",
  "processProvisioningForCluster",
  "processProvisioningForNode",
];

/** What an extension in a Worker is, as the Worker reports it once it is verified. */
export interface SandboxedDescription {
  name: string;
  version: string;
  description: string;
  provides: string[];
  hostVersion?: string;
  permissions?: ExtensionPermissions;
  delivery?: "inline" | "durable";
  /** The hooks it implements. */
  hooks: HookName[];
  /** For each of its pipelines, the steps it implements. */
  pipelines: PipelineStep[][];
  setup: boolean;
  teardown: boolean;
  /** Its routes (refused in the sandbox). */
  routes: { method: RouteMethod; path: string }[];
  /** Names of its migrations (refused in the sandbox). */
  migrations: string[];
}

const strings = z.array(z.string());

/** The check of a description that came from a Worker. */
export const DescriptionSchema: z.ZodType<SandboxedDescription> = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string(),
  provides: strings,
  hostVersion: z.string().optional(),
  permissions: z.object({
    net: strings.optional(),
    env: strings.optional(),
    read: strings.optional(),
    write: strings.optional(),
  }).optional(),
  delivery: z.enum(["inline", "durable"]).optional(),
  hooks: z.array(z.enum(HOOK_NAMES as [HookName, ...HookName[]])),
  pipelines: z.array(z.array(z.enum(PIPELINE_STEPS as [PipelineStep, ...PipelineStep[]]))),
  setup: z.boolean(),
  teardown: z.boolean(),
  routes: z.array(z.object({
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path: z.string(),
  })),
  migrations: strings,
}) as z.ZodType<SandboxedDescription>;

/** What the host asks the Worker to run. */
export type InvokeTarget =
  | { kind: "hook"; name: HookName }
  | { kind: "call"; name: string }
  | { kind: "pipeline"; index: number; step: PipelineStep }
  | { kind: "setup" }
  | { kind: "teardown" };

/** An error or thrown value, made cloneable. */
export type SerializedError =
  | { kind: "error"; name: string; message: string; stack?: string }
  | { kind: "value"; value: unknown };

/** How a call ended. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: SerializedError };

/** Host → Worker. */
export type HostMessage =
  | { type: "configure"; settings: Record<string, unknown> }
  | { type: "invoke"; id: number; target: InvokeTarget; args: unknown[] }
  | { type: "reply"; id: number; outcome: Outcome }
  | { type: "ping"; id: number };

/** Log levels a sandboxed extension may use. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Worker → host. */
export type WorkerMessage =
  | { type: "ready"; description: SandboxedDescription }
  | { type: "failed"; phase: LoadPhase; message: string }
  | { type: "result"; id: number; outcome: Outcome }
  | { type: "call"; id: number; name: string; args: unknown[] }
  | { type: "log"; level: LogLevel; message: string }
  | { type: "pong"; id: number }
  | { type: "crash"; reason: string; error?: string };

/** The longest log line or crash reason a Worker may send; longer ones are cut. */
export const MAX_TEXT_LENGTH = 4096;

/**
 * Makes a thrown value cloneable: an `Error` keeps its name, message and
 * stack (Deno's `NotCapable` included), a primitive stays as it is, anything
 * else becomes its one-line description.
 */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    return {
      kind: "error",
      name: String(error.name),
      message: String(error.message),
      stack: typeof error.stack === "string" ? error.stack : undefined,
    };
  }
  if (error === null || (typeof error !== "object" && typeof error !== "function")) {
    return typeof error === "symbol" || typeof error === "bigint"
      ? { kind: "value", value: String(error) }
      : { kind: "value", value: error };
  }
  return { kind: "value", value: describeError(error) };
}

/** The host-side value of a serialized error: an `Error` with the same name and message. */
export function deserializeError(serialized: unknown): unknown {
  const parsed = serialized as Partial<SerializedError> | null;
  if (parsed?.kind === "error" && typeof parsed.message === "string") {
    const error = new Error(parsed.message.slice(0, MAX_TEXT_LENGTH));
    if (typeof parsed.name === "string" && parsed.name !== "Error") {
      Object.defineProperty(error, "name", {
        value: parsed.name.slice(0, 100),
        configurable: true,
        writable: true,
      });
    }
    if (typeof parsed.stack === "string") error.stack = parsed.stack;
    return error;
  }
  if (parsed?.kind === "value") return parsed.value;
  return new Error(`an error that could not be read: ${describeError(serialized)}`);
}

/** Cuts a text a Worker sent to {@linkcode MAX_TEXT_LENGTH}. */
export function clip(text: unknown): string {
  const value = typeof text === "string" ? text : describeError(text);
  return value.length > MAX_TEXT_LENGTH ? `${value.slice(0, MAX_TEXT_LENGTH)}…` : value;
}
