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
  | { type: "invoke"; id: number; target: InvokeTarget; args: unknown[]; depth?: number }
  /** A notification: the Worker runs them one after another, in the order sent. */
  | { type: "notify"; id: number; hook: HookName; args: unknown[]; depth?: number }
  | { type: "reply"; id: number; outcome: Outcome }
  | { type: "ping"; id: number };

/** Log levels a sandboxed extension may use. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Worker → host; a bare number is the id of a call that succeeded with no value. */
export type WorkerMessage =
  | number
  | { type: "ready"; description: SandboxedDescription }
  | { type: "failed"; phase: LoadPhase; message: string }
  | { type: "result"; id: number; outcome: Outcome }
  | { type: "call"; id: number; name: string; args: unknown[]; depth: number }
  | { type: "log"; level: LogLevel; message: string }
  /** The answer to a ping, with the Worker's heap in use, in bytes. */
  | { type: "pong"; id: number; heap?: number }
  | { type: "crash"; reason: string; error?: string };

/** Default size limit of one value a Worker sends (a result, a call's arguments), in bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * A rough size of a cloneable value (string lengths, buffer sizes, 8 bytes a
 * number or key), counted only up to `limit`: the walk stops as soon as the
 * count passes it, so that a huge value costs no more than a small one.
 *
 * @returns The size counted, or `undefined` when it is within `limit`.
 */
export function sizeOver(value: unknown, limit: number): number | undefined {
  if (value === null || typeof value !== "object") {
    return typeof value === "string" && value.length > limit ? value.length : undefined;
  }
  let size = 0;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === "string") size += item.length + 8;
    else if (item === null || typeof item !== "object") size += 8;
    else if (!seen.has(item)) {
      seen.add(item);
      if (ArrayBuffer.isView(item)) size += item.byteLength;
      else if (item instanceof ArrayBuffer) size += item.byteLength;
      else if (item instanceof Map) {
        for (const entry of item) stack.push(entry[0], entry[1]);
      } else if (item instanceof Set) {
        for (const entry of item) stack.push(entry);
      } else {
        for (const key in item) {
          size += key.length + 8;
          stack.push((item as Record<string, unknown>)[key]);
        }
      }
    }
    if (size > limit) return size;
  }
  return undefined;
}

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
