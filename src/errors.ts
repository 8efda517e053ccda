/**
 * Errors of the extension system. Every one carries the extension source (and
 * name, once known) so that a reader of the message alone knows what to fix.
 *
 * @module
 */

/** The phase of loading in which an extension failed, in the order they run. */
export type LoadPhase =
  | "resolve"
  | "import"
  | "validate"
  | "conflict"
  | "host-version"
  | "sandbox"
  | "migrate"
  | "setup";

/** Options of {@linkcode ExtensionError}. */
export interface ExtensionErrorOptions extends ErrorOptions {
  /** Where the extension came from: a specifier or a path. */
  source: string;
  /** The extension's name, when it is known. */
  extension?: string;
}

/**
 * Base class of every failure that belongs to one extension.
 *
 * @example Catch any extension failure
 * ```ts
 * import { ExtensionError } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const error = new ExtensionError("it broke", { source: "./ext.ts" });
 * assert.equal(error.source, "./ext.ts");
 * ```
 */
export class ExtensionError extends Error {
  /** Where the extension came from: a specifier or a path. */
  readonly source: string;
  /** The extension's name, when it is known. */
  readonly extension: string | undefined;

  /**
   * Makes an error that belongs to one extension.
   *
   * @param message What went wrong and what to fix.
   * @param options The extension source and name, and the cause.
   */
  constructor(message: string, options: ExtensionErrorOptions) {
    super(message, options);
    this.name = "ExtensionError";
    this.source = options.source;
    this.extension = options.extension;
  }
}

/** Options of {@linkcode ExtensionLoadError}. */
export interface ExtensionLoadErrorOptions extends ExtensionErrorOptions {
  /** The phase in which loading failed. */
  phase: LoadPhase;
}

/**
 * An extension could not be loaded. The message starts with
 * `Cannot load extension "<source>"` and names the field at fault.
 *
 * @example Read the phase of a load failure
 * ```ts
 * import { ExtensionLoadError } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const error = new ExtensionLoadError("Cannot load extension \"./a.ts\": no default export", {
 *   source: "./a.ts",
 *   phase: "validate",
 * });
 * assert.equal(error.phase, "validate");
 * ```
 */
export class ExtensionLoadError extends ExtensionError {
  /** The phase in which loading failed. */
  readonly phase: LoadPhase;

  /**
   * Makes a load error.
   *
   * @param message What went wrong and what to fix.
   * @param options The source, the phase and the cause.
   */
  constructor(message: string, options: ExtensionLoadErrorOptions) {
    super(message, options);
    this.name = "ExtensionLoadError";
    this.phase = options.phase;
  }
}

/** Options of {@linkcode ExtensionVetoError}. */
export interface ExtensionVetoErrorOptions extends ExtensionErrorOptions {
  /** The extension that vetoed. */
  extension: string;
  /** The veto hook that threw. */
  hook: string;
}

/**
 * An extension refused an operation from a veto hook such as
 * `onBeforeDeploymentCheck`. The message is the extension's own, prefixed
 * with its name.
 *
 * @example Tell who vetoed
 * ```ts
 * import { ExtensionVetoError } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const veto = new ExtensionVetoError("Extension \"volumes\" vetoed onBeforeDeploymentCheck: disk too small", {
 *   source: "./volumes.ts",
 *   extension: "volumes",
 *   hook: "onBeforeDeploymentCheck",
 * });
 * assert.equal(veto.extension, "volumes");
 * ```
 */
export class ExtensionVetoError extends ExtensionError {
  /** The extension that vetoed. */
  declare readonly extension: string;
  /** The veto hook that threw. */
  readonly hook: string;

  /**
   * Makes a veto.
   *
   * @param message Who vetoed which hook, and why.
   * @param options The extension, its source, the hook and the cause.
   */
  constructor(message: string, options: ExtensionVetoErrorOptions) {
    super(message, options);
    this.name = "ExtensionVetoError";
    this.hook = options.hook;
  }
}

/** Options of {@linkcode ExtensionConfigError}. */
export interface ExtensionConfigErrorOptions extends ErrorOptions {
  /** The configuration file, or `<inline>` for a config given as an object. */
  file: string;
  /** JSON path of the wrong value, e.g. `$["nailgun.extensions"].load[1]`. */
  path?: string;
  /** 1-based line of a syntax error. */
  line?: number;
  /** 1-based column of a syntax error. */
  column?: number;
}

/**
 * The `extensions.json` file is malformed or holds a wrong value. The message
 * names the file and either the line and column or the JSON path.
 *
 * @example Point at the wrong value
 * ```ts
 * import { ExtensionConfigError } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const error = new ExtensionConfigError("bad", { file: "extensions.json", line: 3, column: 7 });
 * assert.equal(error.line, 3);
 * ```
 */
export class ExtensionConfigError extends Error {
  /** The configuration file, or `<inline>`. */
  readonly file: string;
  /** JSON path of the wrong value. */
  readonly path: string | undefined;
  /** 1-based line of a syntax error. */
  readonly line: number | undefined;
  /** 1-based column of a syntax error. */
  readonly column: number | undefined;

  /**
   * Makes a configuration error.
   *
   * @param message What is wrong and what is expected.
   * @param options The file and the place in it.
   */
  constructor(message: string, options: ExtensionConfigErrorOptions) {
    super(message, options);
    this.name = "ExtensionConfigError";
    this.file = options.file;
    this.path = options.path;
    this.line = options.line;
    this.column = options.column;
  }
}

/**
 * Renders any thrown value as a one-line reason, for logs and reports.
 *
 * @param error What was thrown.
 * @returns The message of an `Error`, or the value as text.
 *
 * @example
 * ```ts
 * import { describeError } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * assert.equal(describeError(new TypeError("no")), "TypeError: no");
 * assert.equal(describeError("plain"), "plain");
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const message = stripAnsi(error.message);
    return error.name === "Error" ? message : `${error.name}: ${message}`;
  }
  if (typeof error === "string") return stripAnsi(error);
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

// Deno colours the module locations in its import errors; reports and JSON must not carry escapes.
// deno-lint-ignore no-control-regex
const ANSI_ESCAPE = /\u001b\[[0-9;]*m/g;

function stripAnsi(text: string): string {
  return text.replace(ANSI_ESCAPE, "");
}
