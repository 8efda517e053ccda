/**
 * The rules of an extension's own tables, shared by every store: the
 * `<name>_` prefix, the per-extension version table and the messages of a
 * migration that failed or broke the prefix rule.
 *
 * @module
 */
import { EXTENSION_NAME_PATTERN } from "../../contract.ts";
import { describeError, ExtensionLoadError } from "../../errors.ts";
import type { Extension } from "../../extension.ts";
import { CORE_TABLES } from "./core_schema.ts";

/**
 * The version table of an extension, which records its applied steps.
 *
 * @param name The extension's name.
 * @returns `<name>_schema_migrations`.
 * @throws {TypeError} When the name is not a valid extension name (it is put into SQL).
 *
 * @example
 * ```ts
 * import { versionTableOf } from "./extension_tables.ts";
 * import assert from "node:assert/strict";
 * assert.equal(versionTableOf("volumes"), "volumes_schema_migrations");
 * ```
 */
export function versionTableOf(name: string): string {
  if (!EXTENSION_NAME_PATTERN.test(name)) {
    throw new TypeError(
      `Cannot name the version table of extension "${name}": the name must match ${EXTENSION_NAME_PATTERN}: current value is "${name}"`,
    );
  }
  return `${name}_schema_migrations`;
}

/**
 * The core table an extension name would reach, or `undefined` when the
 * name is free. The tables of an extension are `<name>_…`, and its
 * migration steps may create and drop any of them, so a name is reserved
 * when a core table starts with `<name>_` (`schema` reaches
 * `schema_migrations`), is the name itself (`nodes`), or is its plural
 * (`node`, `cluster`, `nodegroup`: `node_…` tables read as the core's).
 *
 * @param name The extension's name.
 * @returns The clashing core table, or `undefined`.
 *
 * @example
 * ```ts
 * import { reservedNameClash } from "./extension_tables.ts";
 * import assert from "node:assert/strict";
 * assert.equal(reservedNameClash("schema"), "schema_migrations");
 * assert.equal(reservedNameClash("node"), "nodes");
 * assert.equal(reservedNameClash("volumes"), undefined);
 * ```
 */
export function reservedNameClash(name: string): string | undefined {
  const lower = name.toLowerCase();
  return CORE_TABLES.find((table) =>
    table === lower || table === `${lower}s` || table.startsWith(`${lower}_`)
  );
}

/**
 * The tables a migration step created or dropped that do not carry the
 * extension's prefix. Internal tables of the database (`sqlite_…`) are
 * ignored.
 *
 * @param name The extension's name.
 * @param before Table names before the step.
 * @param after Table names after the step.
 * @returns The offending table names, created ones first, sorted.
 *
 * @example
 * ```ts
 * import { unprefixedChanges } from "./extension_tables.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(unprefixedChanges("volumes", ["nodes"], ["nodes", "volumes_disks", "disks"]), ["disks"]);
 * ```
 */
export function unprefixedChanges(
  name: string,
  before: readonly string[],
  after: readonly string[],
): string[] {
  const prefix = `${name}_`;
  const had = new Set(before.map((table) => table.toLowerCase()));
  const has = new Set(after.map((table) => table.toLowerCase()));
  const foreign = (table: string) => !table.startsWith(prefix) && !table.startsWith("sqlite_");
  const created = [...has].filter((table) => !had.has(table) && foreign(table)).sort();
  const dropped = [...had].filter((table) => !has.has(table) && foreign(table)).sort();
  return [...created, ...dropped];
}

/**
 * The error of a migration step that failed and was rolled back.
 *
 * @param extension The extension.
 * @param source Where it came from.
 * @param step The name of the step.
 * @param cause What the step threw.
 * @returns An `ExtensionLoadError` in phase `migrate`.
 */
export function migrationFailed(
  extension: Extension,
  source: string,
  step: string,
  cause: unknown,
): ExtensionLoadError {
  return new ExtensionLoadError(
    `Cannot load extension "${source}": migration "${step}" of "${extension.name}" failed and was rolled back: ${
      describeError(cause)
    }`,
    { source, extension: extension.name, phase: "migrate", cause },
  );
}

/**
 * The error of a migration step that created or dropped tables outside the
 * extension's prefix.
 *
 * @param extension The extension.
 * @param source Where it came from.
 * @param step The name of the step.
 * @param tables The offending tables.
 * @returns An `ExtensionLoadError` in phase `migrate`.
 */
export function prefixViolation(
  extension: Extension,
  source: string,
  step: string,
  tables: readonly string[],
): ExtensionLoadError {
  return new ExtensionLoadError(
    `Cannot load extension "${source}": migration "${step}" of "${extension.name}" was rolled back: it created or dropped ${
      tables.map((table) => `"${table}"`).join(", ")
    }, but the tables of an extension must start with "${extension.name}_": rename them`,
    { source, extension: extension.name, phase: "migrate" },
  );
}
