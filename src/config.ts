/**
 * `extensions.json`: the `nailgun.extensions` section that lists extensions
 * to load and the options of loading (SPEC §3).
 *
 * @module
 */
import { z } from "zod";
import { formatValue } from "./contract.ts";
import { ExtensionConfigError } from "./errors.ts";
import { describeJsonPosition, jsonErrorOffset } from "./_json_position.ts";
import { valueAt } from "./_value_path.ts";
import type { ExtensionPermissions } from "./extension.ts";
import type { Schema } from "./schema.ts";
import {
  DEFAULT_BREAKER_COOLDOWN_MS,
  DEFAULT_BREAKER_FAILURES,
  DEFAULT_CALL_MAX_DEPTH,
  DEFAULT_CALL_MAX_PENDING,
  DEFAULT_DELIVERY_MAX_ATTEMPTS,
  DEFAULT_DELIVERY_RETRY_BASE_MS,
  DEFAULT_DELIVERY_RETRY_MAX_MS,
  DEFAULT_HANDLER_TIMEOUT_MS,
} from "./defaults.ts";

/** The key of the section that lists extensions, the stevedore namespace's name. */
export const CONFIG_SECTION = "nailgun.extensions";

export { DEFAULT_HANDLER_TIMEOUT_MS };

const hostList = z.array(z.string().min(1, { error: "must not be empty" }), {
  error: "must be a list of strings",
});

const permissionsSchema = z.strictObject({
  net: hostList.optional().describe("Hosts (host or host:port) it may connect to."),
  env: hostList.optional().describe("Environment variables it may read."),
  read: hostList.optional().describe("Paths it may read."),
  write: hostList.optional().describe("Paths it may write."),
}, { error: "must be an object with net, env, read or write lists" });

const specifier = z.string({ error: "must be a specifier string" }).trim().min(1, {
  error: "must not be empty",
});

const entrySchema = z.union([
  specifier,
  z.strictObject({
    specifier: specifier.describe("jsr:, npm:, an import-map key or a path relative to this file."),
    sandbox: permissionsSchema.optional().describe(
      "Run the extension in a Worker with exactly these permissions.",
    ),
  }),
], { error: "must be a specifier string or an object {specifier, sandbox}" });

const count = (what: string) =>
  z.number({ error: `must be a number of ${what}` }).int({
    error: `must be a whole number of ${what}`,
  }).positive({ error: "must be positive" });

const milliseconds = count("milliseconds").max(86_400_000, { error: "must be one day at most" });

const breakerSchema = z.strictObject({
  failures: count("failures").default(DEFAULT_BREAKER_FAILURES).describe(
    "Consecutive failures or timeouts after which an extension's notification handlers are suspended.",
  ),
  cooldownMs: milliseconds.default(DEFAULT_BREAKER_COOLDOWN_MS).describe(
    "How long a suspended extension waits before one call probes it.",
  ),
}, { error: "must be an object with failures and cooldownMs" });

const callsSchema = z.strictObject({
  maxDepth: count("calls").default(DEFAULT_CALL_MAX_DEPTH).describe(
    "Longest chain of provided calls from a sandboxed extension, calls back through the host included.",
  ),
  maxPending: count("calls").default(DEFAULT_CALL_MAX_PENDING).describe(
    "Provided calls a sandboxed extension may have pending at once.",
  ),
}, { error: "must be an object with maxDepth and maxPending" });

const deliverySchema = z.strictObject({
  maxAttempts: count("attempts").default(DEFAULT_DELIVERY_MAX_ATTEMPTS).describe(
    "Attempts of a durable notification before it is parked.",
  ),
  retryBaseMs: milliseconds.default(DEFAULT_DELIVERY_RETRY_BASE_MS).describe(
    "First retry delay of a durable notification; it doubles on each attempt.",
  ),
  retryMaxMs: milliseconds.default(DEFAULT_DELIVERY_RETRY_MAX_MS).describe(
    "Longest retry delay of a durable notification.",
  ),
}, { error: "must be an object with maxAttempts, retryBaseMs and retryMaxMs" });

const optionsSchema = z.strictObject({
  load: z.array(entrySchema, { error: "must be a list of specifiers" }).default([]).describe(
    "Extensions to load, in order: jsr:, npm:, import-map keys, or paths relative to this file.",
  ),
  discover: z.boolean({ error: "must be true or false" }).default(true).describe(
    "Load every import-map package that exports ./nailgun.extensions.",
  ),
  exclude: z.array(z.string({ error: "must be a string" }), {
    error: "must be a list of extension names or package names",
  }).default([]).describe("Extension names or package names never to load."),
  clusterDefaults: z.array(z.string({ error: "must be a string" }), {
    error: "must be a list of extension names",
  }).default([]).describe("Extensions enabled on a new cluster that names none."),
  handlerTimeoutMs: z.number({ error: "must be a number of milliseconds" }).int({
    error: "must be a whole number of milliseconds",
  }).positive({ error: "must be positive" }).max(3_600_000, { error: "must be one hour at most" })
    .default(DEFAULT_HANDLER_TIMEOUT_MS).describe("Time limit of one handler call."),
  strict: z.boolean({ error: "must be true or false" }).default(false).describe(
    "Refuse to start when any extension fails to load.",
  ),
  breaker: breakerSchema.default({
    failures: DEFAULT_BREAKER_FAILURES,
    cooldownMs: DEFAULT_BREAKER_COOLDOWN_MS,
  }).describe("The circuit breaker that suspends an extension that keeps failing."),
  calls: callsSchema.default({
    maxDepth: DEFAULT_CALL_MAX_DEPTH,
    maxPending: DEFAULT_CALL_MAX_PENDING,
  }).describe("Limits of provided calls from sandboxed extensions."),
  delivery: deliverySchema.default({
    maxAttempts: DEFAULT_DELIVERY_MAX_ATTEMPTS,
    retryBaseMs: DEFAULT_DELIVERY_RETRY_BASE_MS,
    retryMaxMs: DEFAULT_DELIVERY_RETRY_MAX_MS,
  }).describe('Retries of durable notifications (extensions with delivery: "durable").'),
  settings: z.record(
    z.string(),
    z.record(z.string(), z.unknown(), { error: "must be an object" }),
    { error: "must be an object keyed by extension name" },
  ).default({}).describe("Settings of each extension, keyed by its name."),
}, { error: "must be a list of specifiers or an object with load, discover, exclude, …" });

const sectionSchema = z.union([
  z.array(entrySchema, { error: "must be a list of specifiers" }).transform((load) =>
    optionsSchema.parse({ load })
  ),
  optionsSchema,
], { error: "must be a list of specifiers or an object with load, discover, exclude, …" });

/** The zod schema of a whole `extensions.json` file (`extensions.schema.json` is made from it). */
export const _extensionsFileZodSchema = z.looseObject({
  $schema: z.string().optional(),
  [CONFIG_SECTION]: sectionSchema,
}, { error: "must be a JSON object" });

/** Runtime check of a whole `extensions.json` file, with every default filled in. */
export const ExtensionsFileSchema: Schema<{ [CONFIG_SECTION]: ExtensionsConfig }> =
  _extensionsFileZodSchema;

/** One extension to load, as normalized from the config. */
export interface LoadEntry {
  /** `jsr:`, `npm:`, an import-map key, or a path (relative to the config file). */
  specifier: string;
  /** When present, the extension runs in a Worker with exactly these permissions. */
  sandbox?: ExtensionPermissions;
}

/** The `nailgun.extensions` section, with every default filled in. */
export interface ExtensionsConfig {
  /** Extensions to load, in order. */
  load: (string | LoadEntry)[];
  /** Whether to load import-map packages that export `./nailgun.extensions`. */
  discover: boolean;
  /** Extension names or package names never to load. */
  exclude: string[];
  /** Extensions enabled on a new cluster that names none. */
  clusterDefaults: string[];
  /** Time limit of one handler call, in milliseconds. */
  handlerTimeoutMs: number;
  /** Whether any load failure stops the start-up. */
  strict: boolean;
  /** The circuit breaker: consecutive failures before suspension, and the cool-down. */
  breaker: { failures: number; cooldownMs: number };
  /** Limits of provided calls from sandboxed extensions. */
  calls: { maxDepth: number; maxPending: number };
  /** Retries of durable notifications. */
  delivery: { maxAttempts: number; retryBaseMs: number; retryMaxMs: number };
  /** Settings of each extension, keyed by its name. */
  settings: Record<string, Record<string, unknown>>;
}

/**
 * Checks a parsed `extensions.json` and fills in the defaults.
 *
 * @param value The parsed file (an object with a `nailgun.extensions` section).
 * @param file The file name, for messages.
 * @returns The normalized section.
 * @throws {ExtensionConfigError} Naming the file, the JSON path of the wrong
 * value, the expected form and the current value.
 *
 * @example A plain list is the same as `{ load: [...] }`
 * ```ts
 * import { parseExtensionsConfig } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const config = parseExtensionsConfig({ "nailgun.extensions": ["./logging.ts"] });
 * assert.deepEqual(config.load, ["./logging.ts"]);
 * assert.equal(config.discover, true);
 * ```
 */
export function parseExtensionsConfig(value: unknown, file = "<inline>"): ExtensionsConfig {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    if (!(CONFIG_SECTION in value)) {
      throw new ExtensionConfigError(
        `Cannot read extensions config "${file}": it has no "${CONFIG_SECTION}" section: add { "${CONFIG_SECTION}": [] }`,
        { file, path: `$["${CONFIG_SECTION}"]` },
      );
    }
  }
  const result = _extensionsFileZodSchema.safeParse(value);
  if (result.success) return result.data[CONFIG_SECTION];
  const issue = deepestIssue(result.error.issues);
  const path = jsonPath(issue.path);
  const reason = issue.code === "unrecognized_keys"
    ? `has an unknown key ${formatValue(issue.keys[0])}: known keys are ${
      (knownKeysAt(_extensionsFileZodSchema, issue.path) ?? Object.keys(optionsSchema.shape))
        .join(", ")
    }`
    : issue.message;
  throw new ExtensionConfigError(
    `Cannot read extensions config "${file}": ${path} ${reason}: current value is ${
      formatValue(valueAt(value, issue.path))
    }`,
    { file, path, cause: result.error },
  );
}

/** Options of {@linkcode readExtensionsConfig}. */
export interface ReadConfigOptions {
  /** Answer the defaults (no extension listed) when the file does not exist. */
  optional?: boolean;
}

/**
 * Reads and checks an `extensions.json` file.
 *
 * @param file Path of the file.
 * @param options Whether a missing file is an error.
 * @returns The normalized section.
 * @throws {ExtensionConfigError} When the file is missing (unless optional),
 * is not JSON (with line and column) or holds a wrong value (with JSON path).
 *
 * @example Read a file
 * ```ts
 * import { readExtensionsConfig } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const file = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(file, '{ "nailgun.extensions": { "load": [], "strict": true } }');
 * const config = await readExtensionsConfig(file);
 * assert.equal(config.strict, true);
 * ```
 */
export async function readExtensionsConfig(
  file: string,
  options: ReadConfigOptions = {},
): Promise<ExtensionsConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && options.optional) {
      return parseExtensionsConfig({ [CONFIG_SECTION]: [] }, file);
    }
    throw new ExtensionConfigError(
      `Cannot read extensions config "${file}": ${
        error instanceof Deno.errors.NotFound ? "the file does not exist" : String(error)
      }`,
      { file, cause: error },
    );
  }
  // Editors on Windows may start a UTF-8 file with a byte order mark.
  return parseExtensionsConfig(parseJson(text.replace(/^\uFEFF/, ""), file), file);
}

/**
 * Parses JSON text, turning a syntax error into one that names the file, the
 * line and the column.
 *
 * @param text The JSON text.
 * @param file The file name, for messages.
 * @param what What the file is, for messages: `extensions config` by default.
 * @returns The parsed value.
 * @throws {ExtensionConfigError} With `line` and `column` set.
 *
 * @example
 * ```ts
 * import { ExtensionConfigError, parseJson } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => parseJson('{\n  "imports": {,}\n}', "deno.json", "import map"),
 *   (error) =>
 *     error instanceof ExtensionConfigError &&
 *     error.message === 'Cannot read import map "deno.json": invalid JSON at line 2, column 15: unexpected ","',
 * );
 * ```
 */
export function parseJson(text: string, file: string, what = "extensions config"): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const { line, column, reason } = describeJsonPosition(text, jsonErrorOffset(text));
    throw new ExtensionConfigError(
      `Cannot read ${what} "${file}": invalid JSON at line ${line}, column ${column}: ${reason}`,
      { file, line, column, cause: error },
    );
  }
}

function deepestIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  let best = issues[0]!;
  const visit = (issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]) => {
    const path = [...prefix, ...issue.path];
    if (path.length > best.path.length) best = { ...issue, path };
    if (issue.code === "invalid_union") {
      for (const branch of issue.errors) for (const inner of branch) visit(inner, path);
    }
  };
  for (const issue of issues) visit(issue, []);
  return best;
}

/** The definition fields of the zod schemas that `knownKeysAt` walks through. */
interface WalkedDef {
  type: string;
  shape?: Record<string, z.core.$ZodType>;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  options?: readonly z.core.$ZodType[];
  element?: z.core.$ZodType;
  valueType?: z.core.$ZodType;
}

/** The keys of the object schema at `path` inside `schema`: the keys an unknown key is one of. */
function knownKeysAt(
  schema: z.core.$ZodType,
  path: readonly PropertyKey[],
): string[] | undefined {
  const def = schema._zod.def as unknown as WalkedDef;
  const [key, ...rest] = path;
  switch (def.type) {
    case "default":
    case "optional":
    case "nullable":
      return knownKeysAt(def.innerType!, path);
    case "pipe":
      return knownKeysAt(def.in!, path);
    case "union":
      for (const option of def.options!) {
        const keys = knownKeysAt(option, path);
        if (keys) return keys;
      }
      return undefined;
    case "object":
      if (key === undefined) return Object.keys(def.shape!);
      return typeof key === "string" && key in def.shape!
        ? knownKeysAt(def.shape![key]!, rest)
        : undefined;
    case "array":
      return typeof key === "number" ? knownKeysAt(def.element!, rest) : undefined;
    case "record":
      return key === undefined ? undefined : knownKeysAt(def.valueType!, rest);
    default:
      return undefined;
  }
}

function jsonPath(path: readonly PropertyKey[]): string {
  return "$" +
    path.map((key) =>
      typeof key === "number"
        ? `[${key}]`
        : /^[A-Za-z_$][\w$]*$/.test(String(key))
        ? `.${String(key)}`
        : `[${JSON.stringify(String(key))}]`
    ).join("");
}
