/**
 * Specifiers of extensions: `jsr:` and `npm:` packages, import-map keys and
 * paths, and the module each one designates.
 *
 * @module
 */

/** The subpath an extension package exports: the counterpart of a stevedore entry point. */
export const EXTENSIONS_SUBPATH = "./nailgun.extensions";

/** A `jsr:` or `npm:` package reference, split in its parts. */
export interface PackageReference {
  /** `jsr` or `npm`. */
  registry: "jsr" | "npm";
  /** The package name, e.g. `@acme/audit` or `nailgun-audit`. */
  name: string;
  /** The version or range, if given. */
  version: string | undefined;
  /** The subpath after the package, without a leading slash, if given. */
  subpath: string | undefined;
}

const PACKAGE_REFERENCE = /^(jsr|npm):\/?((?:@[^/@\s]+\/)?[^/@\s]+)(?:@([^/\s]+))?(?:\/(.*))?$/;

/**
 * Splits a `jsr:` or `npm:` specifier in its parts.
 *
 * @param specifier A specifier such as `jsr:@acme/audit@^1/mod.ts`.
 * @returns The parts, or `undefined` when it is not such a specifier.
 *
 * @example
 * ```ts
 * import { parsePackageReference } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parsePackageReference("jsr:@acme/audit@^1"), {
 *   registry: "jsr", name: "@acme/audit", version: "^1", subpath: undefined,
 * });
 * assert.equal(parsePackageReference("./local.ts"), undefined);
 * ```
 */
export function parsePackageReference(specifier: string): PackageReference | undefined {
  const match = PACKAGE_REFERENCE.exec(specifier);
  if (!match) return undefined;
  const [, registry, name, version, subpath] = match;
  if (registry === "jsr" && !name!.startsWith("@")) return undefined;
  return {
    registry: registry as "jsr" | "npm",
    name: name!,
    version,
    subpath: subpath === "" ? undefined : subpath,
  };
}

/**
 * Whether the specifier is a path or a `file:` URL rather than a package or key.
 *
 * @param specifier Any specifier.
 * @returns `true` for `./x`, `../x`, `/x` and `file:` URLs.
 */
export function isPathSpecifier(specifier: string): boolean {
  return /^(\.{1,2}\/|\/|file:)/.test(specifier) || /^[A-Za-z]:[\\/]/.test(specifier);
}

/**
 * The module that holds a package's extension: the package's
 * `./nailgun.extensions` subpath, or the subpath the specifier names.
 *
 * @param specifier A package specifier or an import-map key.
 * @param hasSubpath Whether the specifier already names a module in the package.
 * @returns The specifier to import.
 */
export function extensionModuleOf(specifier: string, hasSubpath: boolean): string {
  return hasSubpath ? specifier : `${specifier.replace(/\/$/, "")}/${EXTENSIONS_SUBPATH.slice(2)}`;
}

/**
 * Whether an import error says that the package does not export the
 * requested subpath. Deno raises it while resolving, before any code of the
 * package runs: JSR says `Unknown export`, npm says
 * `ERR_PACKAGE_PATH_NOT_EXPORTED`. Only an error of Deno's module loader
 * counts (a `TypeError` or one with a `code`, that names the subpath), not
 * one that the package's own code threw.
 *
 * @param error What `import()` rejected with.
 * @returns `true` for a missing subpath export.
 *
 * @example
 * ```ts
 * import { isMissingExportError } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * assert.equal(isMissingExportError(new Error('"./nailgun.extensions" is not exported')), false);
 * ```
 */
export function isMissingExportError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (error.name !== "TypeError" && typeof code !== "string") return false;
  const text = `${stripAnsi(error.message)} ${String(code)}`;
  return text.includes(EXTENSIONS_SUBPATH.slice(2)) &&
    /Unknown export|ERR_PACKAGE_PATH_NOT_EXPORTED|is not exported|not defined by "exports"|Cannot find module '[^']*\/nailgun\.extensions(\.[cm]?[jt]s)?'/i
      .test(text);
}

/**
 * Whether an import error says that the module or package that was imported
 * does not exist: not one that it imports itself, and not an error its own
 * top-level code threw (which may well mention "404" or "not found").
 *
 * Deno's module loader rejects with a `TypeError` whose `code` is
 * `ERR_MODULE_NOT_FOUND`, naming the specifier it could not load; an import
 * of the module's own that is missing adds the importing module's location
 * (`at file:///…`). Only the text is left of an error that crossed a Worker
 * boundary: then Deno's own phrases are matched, never a bare "404".
 *
 * @param error What `import()` rejected with, or the text of a Worker's error.
 * @param specifier What was imported; when given, the error must name it (or its package).
 * @returns `true` for a missing module, file or package.
 *
 * @example
 * ```ts
 * import { isModuleNotFoundError } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * import { pathToFileURL } from "node:url";
 * const gone = pathToFileURL(`${await Deno.makeTempDir()}/gone.ts`).href;
 * const missing = await import(gone).catch((error) => error);
 * assert.equal(isModuleNotFoundError(missing, gone), true);
 * assert.equal(isModuleNotFoundError(new Error("upstream answered 404: not found")), false);
 * ```
 */
export function isModuleNotFoundError(error: unknown, specifier?: string): boolean {
  if (typeof error === "string") return LOADER_NOT_FOUND.test(error) && !REFERRER.test(error);
  if (!(error instanceof Error)) return false;
  if ((error as { code?: unknown }).code !== "ERR_MODULE_NOT_FOUND") return false;
  const message = stripAnsi(error.message);
  if (REFERRER.test(message)) return false;
  return specifier === undefined || namesOf(specifier).some((name) => message.includes(name));
}

/** Deno's phrases for a module or package that cannot be loaded. */
const LOADER_NOT_FOUND =
  /Module not found "|ERR_MODULE_NOT_FOUND|Import "[^"]*" not a dependency|Relative import path "[^"]*" not prefixed|JSR package manifest for '[^']*' failed to load|npm package '[^']*' does not exist|Import '[^']*' failed: 404/;

/** The location of the module whose import failed, which Deno appends for a nested import. */
const REFERRER = /\n\s*at (file|https?|jsr|npm):/;

// deno-lint-ignore no-control-regex
const ANSI_ESCAPE = /\u001b\[[0-9;]*m/g;

function stripAnsi(text: string): string {
  return text.replace(ANSI_ESCAPE, "");
}

/** How Deno may name what was imported in its error: the specifier, its package, its import-map key. */
function namesOf(specifier: string): string[] {
  const names = [specifier];
  const reference = parsePackageReference(specifier);
  if (reference) names.push(reference.name);
  else if (!isPathSpecifier(specifier) && !/^[a-z][a-z0-9+.-]*:/i.test(specifier)) {
    const key = /^(@[^/]+\/)?[^/]+/.exec(specifier)?.[0];
    if (key) names.push(key);
  }
  return names;
}
