/**
 * Import-map discovery: the packages of the host's import map (`deno.json`
 * `imports`) that may hold an extension. Whether one does is settled by
 * importing its `./nailgun.extensions` subpath, which fails before any of the
 * package's code runs when the package does not export it.
 *
 * @module
 */
import { parse as parseJsonc, type ParseError } from "jsonc-parser";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ExtensionConfigError } from "./errors.ts";
import { describeJsonPosition } from "./_json_position.ts";
import { type PackageReference, parsePackageReference } from "./specifier.ts";

/** The host's import map and the file it came from. */
export interface ImportMap {
  /** The file read (`deno.json`, `deno.jsonc` or an import map file). */
  file: string;
  /** Import-map keys and their targets. */
  imports: Record<string, string>;
}

/** An import-map package that may hold an extension. */
export interface CandidatePackage {
  /** The import-map key, e.g. `@acme/audit`. */
  key: string;
  /** What the key maps to, e.g. `jsr:@acme/audit@^1.0.0`. */
  target: string;
  /** The package the target designates. */
  package: PackageReference;
}

/**
 * Reads the import map of a Deno project: `imports` of its `deno.json` (or
 * `deno.jsonc`), merged with the local file its `importMap` field names.
 * Both may hold comments and trailing commas, as Deno allows.
 *
 * @param file `deno.json`, `deno.jsonc` or an import map file.
 * @returns The import map, empty when the file does not exist.
 * @throws {ExtensionConfigError} When the file is not valid JSON with comments,
 * with the line and column.
 *
 * @example
 * ```ts
 * import { readImportMap } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/deno.json`, '{ "imports": { "@acme/audit": "jsr:@acme/audit@^1" } }');
 * const map = await readImportMap(`${dir}/deno.json`);
 * assert.equal(map.imports["@acme/audit"], "jsr:@acme/audit@^1");
 * ```
 */
export async function readImportMap(file: string): Promise<ImportMap> {
  const json = await readJsonc(file);
  if (json === undefined) return { file, imports: {} };
  const config = json as { imports?: Record<string, string>; importMap?: string };
  let imports: Record<string, string> = { ...stringEntries(config.imports) };
  if (typeof config.importMap === "string") {
    const linked = new URL(config.importMap, toFileUrl(file));
    if (linked.protocol === "file:") {
      const external = await readJsonc(fileURLToPath(linked)) as
        | { imports?: Record<string, string> }
        | undefined;
      imports = { ...stringEntries(external?.imports), ...imports };
    }
  }
  return { file, imports };
}

/**
 * The import-map packages that may hold an extension, sorted by key (in
 * code-unit order, as `Array.prototype.sort` compares strings, whatever the
 * order of the file): every key that maps to a whole `jsr:` or `npm:`
 * package. Keys that map to a module, a path or a URL prefix are not
 * packages and are left out.
 *
 * @param importMap The host's import map.
 * @param exclude Keys or package names to leave out.
 * @returns The candidates, sorted by key.
 *
 * @example
 * ```ts
 * import { findCandidatePackages } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const candidates = findCandidatePackages({
 *   file: "deno.json",
 *   imports: { "zod": "npm:zod@^4", "@acme/audit": "jsr:@acme/audit@^1", "util/": "./util/" },
 * }, ["zod"]);
 * assert.deepEqual(candidates.map((c) => c.key), ["@acme/audit"]);
 * ```
 */
export function findCandidatePackages(
  importMap: ImportMap,
  exclude: readonly string[] = [],
): CandidatePackage[] {
  const excluded = new Set(exclude);
  const candidates: CandidatePackage[] = [];
  for (const key of Object.keys(importMap.imports).sort()) {
    if (key.endsWith("/") || excluded.has(key)) continue;
    const target = importMap.imports[key]!;
    const reference = parsePackageReference(target);
    if (!reference || reference.subpath !== undefined || excluded.has(reference.name)) continue;
    candidates.push({ key, target, package: reference });
  }
  return candidates;
}

async function readJsonc(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const errors: ParseError[] = [];
  const value = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length === 0) return value;
  const { line, column, reason } = describeJsonPosition(text, errors[0]!.offset);
  throw new ExtensionConfigError(
    `Cannot read import map "${file}": invalid JSON at line ${line}, column ${column}: ${reason}`,
    { file, line, column },
  );
}

function stringEntries(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] =>
      typeof entry[1] === "string"
    ),
  );
}

/**
 * Turns a path into a `file:` URL, resolving it against the working
 * directory. Every character of the path is kept as it is: a space, `#`, `?`
 * or `%` is escaped in the URL, so that `fileURLToPath` gives the path back.
 *
 * @param path An absolute or relative path.
 * @returns The URL.
 *
 * @example
 * ```ts
 * import { toFileUrl } from "@nailgun/extensions";
 * import { fileURLToPath } from "node:url";
 * import assert from "node:assert/strict";
 * const url = toFileUrl("/home/me/My Projects #1 %20/extensions.json");
 * assert.equal(url.href, "file:///home/me/My%20Projects%20%231%20%2520/extensions.json");
 * assert.equal(fileURLToPath(url), "/home/me/My Projects #1 %20/extensions.json");
 * ```
 */
export function toFileUrl(path: string): URL {
  return pathToFileURL(resolve(path));
}
