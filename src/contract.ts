/**
 * The runtime check of the extension contract (SPEC §2). It is structural:
 * any class instance or object of the right shape passes, whichever copy of
 * this library (if any) it was written against.
 *
 * @module
 */
import { z } from "zod";
import { isSemver, isSemverRange } from "./_semver.ts";
import { ExtensionLoadError } from "./errors.ts";
import { fieldName, valueAt } from "./_value_path.ts";
import type { Extension, ExtensionContext } from "./extension.ts";
import { HOOK_NAMES } from "./hooks.ts";
import { closestName } from "./_did_you_mean.ts";

/** The rule every extension name follows: it is also a SQL table prefix and a URL part. */
export const EXTENSION_NAME_PATTERN: RegExp = /^[a-z][a-z0-9_]{0,63}$/;

const callable = z.custom<(...args: never[]) => unknown>(
  (value) => typeof value === "function",
  { error: "must be a function" },
);
const optionalCallable = callable.optional();
const text = (rule: string) => z.string({ error: rule });
const names = z.array(text("must be a string").min(1, { error: "must not be empty" }), {
  error: "must be a list of strings",
});

const routeSchema = z.object({
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"], {
    error: "must be one of GET, POST, PUT, PATCH, DELETE",
  }),
  path: text('must be a path such as "/clusters/:cluster_id/volumes/"').regex(/^\/\S*$/, {
    error: 'must start with "/" and hold no spaces',
  }),
  handler: callable,
}, { error: "must be an object with method, path and handler" });

const migrationSchema = z.object({
  name: text("must be a string").min(1, { error: "must not be empty" }),
  up: callable,
}, { error: "must be an object with name and up" });

const pipelineSchema = z.object({
  processDeploymentForCluster: optionalCallable,
  processDeploymentForNode: optionalCallable,
  processProvisioningForCluster: optionalCallable,
  processProvisioningForNode: optionalCallable,
}, { error: "must be an object with process… methods" });

const permissionsSchema = z.strictObject({
  net: names.optional(),
  env: names.optional(),
  read: names.optional(),
  write: names.optional(),
}, { error: "must be an object with net, env, read or write lists" });

const hookShape = Object.fromEntries(HOOK_NAMES.map((hook) => [hook, optionalCallable]));

const extensionSchema = z.object({
  name: text("must be a string matching ^[a-z][a-z0-9_]{0,63}$").regex(EXTENSION_NAME_PATTERN, {
    error:
      'must start with a lowercase letter and hold only lowercase letters, digits and "_" (64 at most)',
  }),
  version: text('must be a semantic version such as "1.0.0"').refine(isSemver, {
    error: 'must be a semantic version such as "1.0.0"',
  }),
  description: text("must be a sentence that says what the extension does").trim().min(1, {
    error: "must be a sentence that says what the extension does",
  }),
  provides: names.optional(),
  routes: z.array(routeSchema, { error: "must be a list of routes" }).optional(),
  migrations: z.array(migrationSchema, { error: "must be a list of migrations" }).optional(),
  pipelines: z.array(pipelineSchema, { error: "must be a list of pipelines" }).optional(),
  hostVersion: text('must be a semver range such as "^0.1"').refine(isSemverRange, {
    error: 'must be a semver range such as "^0.1"',
  }).optional(),
  permissions: permissionsSchema.optional(),
  delivery: z.enum(["inline", "durable"], { error: 'must be "inline" or "durable"' }).optional(),
  setup: optionalCallable,
  teardown: optionalCallable,
  ...hookShape,
}).superRefine((candidate, ctx) => {
  const seen = new Set<string>();
  candidate.migrations?.forEach((migration, index) => {
    if (seen.has(migration.name)) {
      ctx.addIssue({
        code: "custom",
        path: ["migrations", index, "name"],
        message: "must be unique within the extension",
      });
    }
    seen.add(migration.name);
  });
});

/**
 * Checks that `candidate` satisfies the extension contract.
 *
 * @param candidate The instance or object to check.
 * @param source Where it came from, for the message.
 * @returns The candidate, typed as an extension.
 * @throws {ExtensionLoadError} In phase `validate`, naming the source and the
 * first field at fault with its current value.
 *
 * @example Reject a wrong version
 * ```ts
 * import { verifyExtension, ExtensionLoadError } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => verifyExtension({ name: "audit", version: "one", description: "Audits." }, "jsr:@acme/audit@^1"),
 *   (error) =>
 *     error instanceof ExtensionLoadError &&
 *     error.message ===
 *       'Cannot load extension "jsr:@acme/audit@^1": "version" must be a semantic version such as "1.0.0": current value is "one"',
 * );
 * ```
 */
export function verifyExtension(candidate: unknown, source: string): Extension {
  const result = extensionSchema.safeParse(candidate);
  const issue = result.success ? missingProvidedCall(candidate) : result.error.issues[0]!;
  if (!issue) return candidate as Extension;
  const field = fieldName(issue.path);
  const current = issue.path.length === 0 ? candidate : valueAt(candidate, issue.path);
  const name = (candidate as { name?: unknown } | null)?.name;
  throw new ExtensionLoadError(
    `Cannot load extension "${source}": ${
      field ? `"${field}" ` : ""
    }${issue.message}: current value is ${formatValue(current)}`,
    {
      source,
      phase: "validate",
      extension: typeof name === "string" && EXTENSION_NAME_PATTERN.test(name) ? name : undefined,
      cause: result.error,
    },
  );
}

/** The parsed output drops unknown members, so provided calls are looked up on the input. */
function missingProvidedCall(candidate: unknown): z.core.$ZodIssue | undefined {
  const raw = candidate as Record<string, unknown> & { provides?: readonly string[] };
  const index = raw.provides?.findIndex((call) => typeof raw[call] !== "function") ?? -1;
  if (index === -1) return undefined;
  return {
    code: "custom",
    path: ["provides", index],
    message: `names a call the extension does not have: add a method "${raw.provides![index]}"`,
    input: raw.provides![index],
  };
}

/**
 * Turns what a module exports by default into an extension: a class is
 * instantiated once with the host context, an object is taken as it is. Then
 * the result is verified.
 *
 * @param module The module namespace from `import()`.
 * @param source Where it came from, for messages.
 * @param context What the host gives the extension.
 * @returns The verified extension.
 * @throws {ExtensionLoadError} In phase `validate` when there is no usable
 * default export or it fails the contract, in phase `import` when the
 * constructor throws.
 *
 * @example Instantiate a class export
 * ```ts
 * import { instantiateExtension } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * class Tiny {
 *   name = "tiny";
 *   version = "1.0.0";
 *   description = "Does nothing.";
 * }
 * const extension = instantiateExtension({ default: Tiny }, "./tiny.ts");
 * assert.equal(extension.name, "tiny");
 * ```
 */
export function instantiateExtension(
  module: Record<string, unknown>,
  source: string,
  context?: ExtensionContext,
): Extension {
  if (!("default" in module)) {
    const named = Object.keys(module).slice(0, 5).join(", ") || "nothing";
    throw new ExtensionLoadError(
      `Cannot load extension "${source}": the module has no default export: export the extension class or instance as default (it exports ${named})`,
      { source, phase: "validate" },
    );
  }
  const exported = module.default;
  let candidate: unknown = exported;
  if (typeof exported === "function") {
    try {
      candidate = new (exported as new (context?: ExtensionContext) => unknown)(context);
    } catch (error) {
      throw new ExtensionLoadError(
        `Cannot load extension "${source}": its constructor threw: ${String(error)}`,
        { source, phase: "import", cause: error },
      );
    }
  } else if (typeof exported !== "object" || exported === null) {
    throw new ExtensionLoadError(
      `Cannot load extension "${source}": the default export must be an extension class or object: current value is ${
        formatValue(exported)
      }`,
      { source, phase: "validate" },
    );
  }
  return verifyExtension(candidate, source);
}

/** The steps a data pipeline may implement. */
const PIPELINE_STEPS = Object.keys(pipelineSchema.shape);

/**
 * Hints about a verified extension that loads but is likely wrong: a method
 * named like a hook that is not one (on the object and its prototype chain
 * up to, not including, `BaseExtension` or `Object.prototype`), and a
 * pipeline method named like a step that is not one. Each hint names the
 * likely fix; none is a failure.
 *
 * @param extension The verified extension.
 * @returns The hints, e.g. `onNodeCreated is not a hook: did you mean onNodeCreate?`.
 *
 * @example
 * ```ts
 * import { extensionHints } from "./contract.ts";
 * import assert from "node:assert/strict";
 * // Written in JavaScript, or without type checks: nothing catches the typo but this hint.
 * const audit = {
 *   name: "audit", version: "1.0.0", description: "Audits.",
 *   onNodeCreated() {},
 *   onMessage() {},
 * };
 * assert.deepEqual(extensionHints(audit), ["onNodeCreated is not a hook: did you mean onNodeCreate?"]);
 * ```
 */
export function extensionHints(extension: Extension): string[] {
  const provided = new Set(extension.provides ?? []);
  const hints: string[] = [];
  for (const method of methodNames(extension)) {
    if (provided.has(method) || !/^on./i.test(method)) continue;
    const hook = closestName(method, HOOK_NAMES);
    if (hook) hints.push(`${method} is not a hook: did you mean ${hook}?`);
  }
  extension.pipelines?.forEach((pipeline, index) => {
    for (const method of methodNames(pipeline)) {
      if (!/^process./i.test(method)) continue;
      const step = closestName(method, PIPELINE_STEPS);
      if (step) {
        hints.push(`pipelines[${index}].${method} is not a pipeline step: did you mean ${step}?`);
      }
    }
  });
  return hints;
}

/** The names of the functions an object has, own first, then up its prototype chain. */
function methodNames(object: object): string[] {
  const names = new Set<string>();
  for (
    let current: object | null = object;
    current !== null && current !== Object.prototype && !isBaseExtensionPrototype(current);
    current = Object.getPrototypeOf(current)
  ) {
    for (const name of Object.getOwnPropertyNames(current)) {
      if (name === "constructor" || names.has(name)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(current, name);
      if (typeof descriptor?.value === "function") names.add(name);
    }
  }
  return [...names];
}

/** `BaseExtension.prototype` of this or of any other copy of the library. */
function isBaseExtensionPrototype(object: object): boolean {
  const constructor = Object.getOwnPropertyDescriptor(object, "constructor")?.value;
  return typeof constructor === "function" && constructor.name === "BaseExtension";
}

/**
 * Renders a value for an error message: strings quoted, long values cut.
 *
 * @param value Any value.
 * @returns A short, readable rendering.
 */
export function formatValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "function") return value.name ? `function ${value.name}` : "a function";
  if (typeof value === "bigint" || typeof value === "symbol") return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
