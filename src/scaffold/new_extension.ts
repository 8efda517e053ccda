/**
 * `deno task new-extension NAME`: writes a ready Nailgun extension package,
 * with a `deno.json` that exports `./nailgun.extensions`, the extension (a
 * `BaseExtension` subclass), a test that loads it as Nailgun does, and a
 * README. The package passes its own tests and can be published to JSR as it
 * is.
 *
 * From a clone of this repository:
 *
 * ```sh
 * deno task new-extension my_ext --scope @acme
 * ```
 *
 * From anywhere, with the library from JSR:
 *
 * ```sh
 * deno run -A jsr:@nailgun/extensions/new-extension my_ext --scope @acme
 * ```
 *
 * @module
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { EXTENSION_NAME_PATTERN } from "../contract.ts";
import { VERSION } from "../version.ts";
import { renderPackage } from "./_templates.ts";

/** The JSR scope used when none is given. */
export const DEFAULT_SCOPE = "@me";

/** The license written into `deno.json` when none is given. */
export const DEFAULT_LICENSE = "MIT";

const SCOPE_PATTERN = /^@[a-z0-9][a-z0-9-]{1,19}$/;
const PACKAGE_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,56}[a-z0-9])?$/;
const RESERVED_CLASS_NAMES = new Set(["BaseExtension"]);

/** Options of {@linkcode createExtensionPackage}. */
export interface CreateExtensionOptions {
  /** The extension name: `^[a-z][a-z0-9_]{0,63}$`, e.g. `my_ext`. */
  name: string;
  /** The directory to write the package into; it must not exist or be empty. Default `./<name>`. */
  dir?: string;
  /** The JSR scope of the package, e.g. `@acme`. Default {@linkcode DEFAULT_SCOPE}. */
  scope?: string;
  /** The package name within the scope. Default: the extension name with `_` turned into `-`. */
  packageName?: string;
  /** The SPDX license of the package. Default {@linkcode DEFAULT_LICENSE}. */
  license?: string;
}

/** What {@linkcode createExtensionPackage} wrote. */
export interface CreatedExtensionPackage {
  /** The extension name. */
  name: string;
  /** The JSR package, e.g. `@acme/my-ext`. */
  packageName: string;
  /** The name of the extension class in `mod.ts`. */
  className: string;
  /** The absolute path of the package directory. */
  dir: string;
  /** The files written, relative to `dir`, sorted. */
  files: string[];
}

/**
 * Writes a new extension package: `deno.json` (name, version, license,
 * exports `.` and `./nailgun.extensions`, the `@nailgun/extensions`
 * dependency, a `test` task), `mod.ts`, `mod_test.ts` and `README.md`.
 *
 * @param options The extension name, and where and under which scope to write it.
 * @returns What was written, and where.
 * @throws {TypeError} When the name, scope or package name is not valid.
 * @throws {Deno.errors.AlreadyExists} When the directory exists and is not empty.
 *
 * @example Write a package into a temporary directory
 * ```ts
 * import { createExtensionPackage } from "./new_extension.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * const created = await createExtensionPackage({ name: "audit", dir: `${root}/audit`, scope: "@acme" });
 * assert.equal(created.packageName, "@acme/audit");
 * assert.deepEqual(created.files, ["README.md", "deno.json", "mod.ts", "mod_test.ts"]);
 * const config = JSON.parse(await Deno.readTextFile(`${root}/audit/deno.json`));
 * assert.equal(config.exports["./nailgun.extensions"], "./mod.ts");
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function createExtensionPackage(
  options: CreateExtensionOptions,
): Promise<CreatedExtensionPackage> {
  const { name } = options;
  if (typeof name !== "string" || !EXTENSION_NAME_PATTERN.test(name)) {
    throw new TypeError(
      `Cannot create extension "${name}": the name must start with a lowercase letter and hold only lowercase letters, digits and "_" (64 at most): current value is ${
        JSON.stringify(name)
      }`,
    );
  }
  const scope = options.scope ?? DEFAULT_SCOPE;
  if (!SCOPE_PATTERN.test(scope)) {
    throw new TypeError(
      `Cannot create extension "${name}": the scope must be "@" and 2 to 20 lowercase letters, digits or "-", as on JSR: current value is ${
        JSON.stringify(scope)
      }`,
    );
  }
  const shortName = options.packageName ?? name.replaceAll("_", "-");
  if (!PACKAGE_PATTERN.test(shortName) || shortName.includes("--") || shortName.length < 2) {
    throw new TypeError(
      `Cannot create extension "${name}": the package name must be 2 to 58 lowercase letters, digits or single "-", as on JSR${
        options.packageName === undefined ? ": pass one with --package" : ""
      }: current value is ${JSON.stringify(shortName)}`,
    );
  }
  const dir = resolve(options.dir ?? name);
  await ensureEmptyDirectory(dir, name);

  const packageName = `${scope}/${shortName}`;
  const className = classNameOf(name);
  const files = renderPackage({
    name,
    packageName,
    className,
    license: options.license ?? DEFAULT_LICENSE,
    hostRange: `^${VERSION}`,
  });
  await Deno.mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, file), content, { createNew: true });
  }
  await formatWithDeno(dir, Object.keys(files));
  return { name, packageName, className, dir, files: Object.keys(files).sort() };
}

/**
 * The command line: `new_extension.ts NAME [--dir DIR] [--scope @SCOPE]
 * [--package NAME] [--license SPDX]`. Prints what it wrote and what to do
 * next, or what is wrong.
 *
 * @param args The arguments, e.g. `Deno.args`.
 * @returns The exit code: 0 on success, 1 on a usage or file error.
 *
 * @example Print the usage
 * ```ts
 * import { runNewExtension } from "./new_extension.ts";
 * import assert from "node:assert/strict";
 * assert.equal(await runNewExtension(["--help"]), 0);
 * ```
 */
export async function runNewExtension(args: readonly string[]): Promise<number> {
  let parsed: ParsedArguments;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        dir: { type: "string" },
        scope: { type: "string" },
        package: { type: "string" },
        license: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(
      `Cannot create extension: expected one NAME: current value is ${
        JSON.stringify(positionals)
      }\n\n${USAGE}`,
    );
    return 1;
  }
  // `deno task` runs in the directory of deno.json; paths the user typed are
  // relative to where they typed them.
  const base = invocationDirectory();
  const name = positionals[0]!;
  let created: CreatedExtensionPackage;
  try {
    created = await createExtensionPackage({
      name,
      dir: resolve(base, values.dir ?? name),
      scope: values.scope,
      packageName: values.package,
      license: values.license,
    });
  } catch (error) {
    if (error instanceof TypeError || error instanceof Deno.errors.AlreadyExists) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  const shown = relativeTo(base, created.dir);
  console.log(
    [
      `Created the extension "${created.name}" (package ${created.packageName}) in ${shown}:`,
      ...created.files.map((file) => `  ${file}`),
      "",
      "Next:",
      `  cd ${shown}`,
      "  deno task test      # runs mod_test.ts",
      "  deno publish        # to JSR, once name, version and license are right",
      "",
      "Then, in a Nailgun project:",
      `  deno add jsr:${created.packageName}`,
      "  deno task run       # restart: the extension is discovered",
    ].join("\n"),
  );
  return 0;
}

type ParsedArguments = {
  values: { dir?: string; scope?: string; package?: string; license?: string; help?: boolean };
  positionals: string[];
};

const USAGE =
  `Usage: deno task new-extension NAME [--dir DIR] [--scope @SCOPE] [--package NAME] [--license SPDX]

Writes a Nailgun extension package into DIR (default ./NAME, relative to the
directory the command was typed in).

  NAME       the extension name: ^[a-z][a-z0-9_]{0,63}$, e.g. my_ext
  --dir      where to write it; must not exist or be empty
  --scope    the JSR scope (default ${DEFAULT_SCOPE})
  --package  the package name in the scope (default: NAME with "_" as "-")
  --license  the SPDX license in deno.json (default ${DEFAULT_LICENSE})`;

function classNameOf(name: string): string {
  const pascal = name.split("_").filter((part) => part !== "").map((part) =>
    part[0]!.toUpperCase() + part.slice(1)
  ).join("");
  const className = pascal.endsWith("Extension") ? pascal : `${pascal}Extension`;
  return RESERVED_CLASS_NAMES.has(className) ? `My${className}` : className;
}

function relativeTo(base: string, dir: string): string {
  const path = relative(base, dir);
  if (path === "") return ".";
  return path.startsWith("..") || isAbsolute(path) ? dir : `./${path}`;
}

function invocationDirectory(): string {
  try {
    return Deno.env.get("INIT_CWD") ?? Deno.cwd();
  } catch {
    return Deno.cwd();
  }
}

/**
 * Formats the files with `deno fmt`, so that long names wrap as the user's own
 * `deno fmt` would wrap them. Best effort: without the permission to run
 * `deno`, the files stay as written, which is valid code all the same.
 */
async function formatWithDeno(dir: string, files: readonly string[]): Promise<void> {
  try {
    await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", ...files],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    // No permission to run deno, or no deno: keep the files as written.
  }
}

async function ensureEmptyDirectory(dir: string, name: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isDirectory) {
    throw new Deno.errors.AlreadyExists(
      `Cannot create extension "${name}": "${dir}" exists and is not a directory: choose another with --dir`,
    );
  }
  for await (const entry of Deno.readDir(dir)) {
    throw new Deno.errors.AlreadyExists(
      `Cannot create extension "${name}": the directory "${dir}" is not empty (it holds "${entry.name}"): choose another with --dir, or empty it`,
    );
  }
}

if (import.meta.main) {
  Deno.exit(await runNewExtension(Deno.args));
}
