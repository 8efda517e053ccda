// Module graph confinement: before a sandboxed extension's Worker starts,
// the host resolves the extension's whole module graph (`deno info --json`,
// with the host's working directory and config) and refuses the extension if
// a module of it lies outside what the extension may read.
//
// Why: Deno checks no permission for the modules of a Worker's static graph
// (static imports, literal dynamic imports, JSON, text and bytes imports):
// they are loaded with the host's permissions, whatever the Worker's are.
// Everything else the Worker loads later (a computed `import()`, a `data:`
// or `blob:` module and their imports, a nested Worker) is checked against
// the grant by Deno itself: `deno info` lists exactly the modules Deno does
// not check, literal dynamic imports included (`isDynamic`).
import { basename, dirname, isAbsolute, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describeError } from "../errors.ts";
import type { ExtensionPermissions } from "../extension.ts";

/** What the graph check needs to know about the host. */
export interface GraphOptions {
  /** The directory relative `read` grants start from. */
  baseDir: string;
  /** The host's project directory: no extension's package contains it. */
  projectDir: string;
  /** Files no extension may import unless its grant's `read` names them (the host's config, its database). */
  hostFiles: readonly string[];
  /** The `deno.json` to resolve with (`deno info --config`); default: Deno's discovery from `projectDir`. */
  config?: string;
}

/** A module of the graph an extension may not import. */
export interface Escape {
  /** The import as written. */
  written: string;
  /** The file it resolves to. */
  path: string;
  /** The module that imports it. */
  referrer: string;
  /** Why it is outside. */
  reason: string;
}

/** What the check found: the extension's package, and what lies outside it. */
export interface GraphVerdict {
  /** The extension's package directory, or its file when the package would contain the host's files. */
  packageRoot: string | undefined;
  escapes: Escape[];
}

interface InfoDependency {
  specifier?: string;
  code?: { specifier?: string };
  isDynamic?: boolean;
  assertionType?: string;
}

interface InfoModule {
  specifier: string;
  kind?: string;
  error?: string;
  dependencies?: InfoDependency[];
}

interface Info {
  roots?: string[];
  modules?: InfoModule[];
  redirects?: Record<string, string>;
}

/** Thrown when the graph cannot be resolved at all. */
export class GraphUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GraphUnavailable";
  }
}

// The library's own folder, when it runs from files (a clone, or the cache of
// a local path); from JSR its modules are remote URLs, never host files.
const LIBRARY_URL = new URL("../../", import.meta.url);
const LIBRARY_IS_LOCAL = LIBRARY_URL.protocol === "file:";
const LIBRARY_ROOT = LIBRARY_IS_LOCAL ? fileURLToPath(LIBRARY_URL) : "";

/** `deno info --json` of one module, with the host's directory and config. */
export async function resolveGraph(specifier: string, options: GraphOptions): Promise<Info> {
  const args = ["info", "--json"];
  if (options.config) args.push("--config", options.config);
  args.push(specifier);
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: options.projectDir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
  } catch (error) {
    throw new GraphUnavailable(
      `its module graph cannot be checked: "deno info" cannot run: ${
        describeError(error)
      }: run the host with --allow-run (or -A)`,
    );
  }
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n")[0] ?? "";
    throw new GraphUnavailable(`its module graph cannot be resolved: ${stderr}`);
  }
  try {
    return JSON.parse(text) as Info;
  } catch (error) {
    throw new GraphUnavailable(
      `its module graph cannot be read: "deno info" answered no JSON: ${describeError(error)}`,
    );
  }
}

/**
 * Checks every module reachable from the root through code imports (types
 * are not loaded at run time): a local file must lie in the extension's
 * package (and not be one of the host's files), be a code module of this
 * library, or lie under a path the grant's `read` lists. Remote, `jsr:`,
 * `npm:`, `node:` and `data:` modules hold no host file and pass; the files
 * they import are checked like any other.
 */
export async function checkGraph(
  info: Info,
  grant: ExtensionPermissions,
  options: GraphOptions,
): Promise<GraphVerdict> {
  const modules = new Map((info.modules ?? []).map((module) => [module.specifier, module]));
  const redirects = info.redirects ?? {};
  const follow = (specifier: string): string => {
    let current = specifier;
    for (let hops = 0; hops < 20 && redirects[current] !== undefined; hops++) {
      current = redirects[current]!;
    }
    return current;
  };
  const root = info.roots?.[0] ? follow(info.roots[0]) : undefined;
  const packageRoot = root?.startsWith("file:") ? await packageOf(root, options) : undefined;
  const granted = await Promise.all(
    (grant.read ?? []).map((path) => real(absolute(path, options.baseDir))),
  );
  const hostFiles = await Promise.all(options.hostFiles.map((path) => real(resolve(path))));
  const escapes: Escape[] = [];
  const seen = new Set<string>();
  const queue: { specifier: string; written: string; referrer: string; asData: boolean }[] = root
    ? [{ specifier: root, written: root, referrer: "the extension's entry", asData: false }]
    : [];
  while (queue.length > 0) {
    const { specifier, written, referrer, asData } = queue.shift()!;
    if (seen.has(`${specifier} ${asData}`)) continue;
    seen.add(`${specifier} ${asData}`);
    const module = modules.get(specifier);
    if (specifier.startsWith("file:")) {
      const path = await real(fileURLToPath(specifier));
      const reason = outside(path, asData || (module !== undefined && module.kind !== "esm"));
      if (reason !== undefined) {
        escapes.push({ written, path, referrer, reason });
        continue;
      }
    }
    for (const dependency of module?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (!target) continue;
      queue.push({
        specifier: follow(target),
        written: dependency.specifier ?? target,
        referrer: specifier,
        asData: dependency.assertionType !== undefined,
      });
    }
  }
  return { packageRoot, escapes };

  function outside(path: string, asData: boolean): string | undefined {
    if (granted.some((base) => within(path, base))) return undefined;
    if (hostFiles.includes(path)) return "it is one of the host's files";
    if (packageRoot !== undefined && within(path, packageRoot)) return undefined;
    if (!asData && LIBRARY_IS_LOCAL && isLibraryCode(path)) return undefined;
    return packageRoot === undefined
      ? "it lies outside the extension's package"
      : `it lies outside the extension's package ${packageRoot}`;
  }
}

/** The library's own code: `mod.ts` and `src/`, as code (not as JSON or text). */
function isLibraryCode(path: string): boolean {
  return path === join(LIBRARY_ROOT, "mod.ts") || within(path, join(LIBRARY_ROOT, "src"));
}

/**
 * The package of a local module: the nearest directory, from the module's
 * own upwards, with a `deno.json`, `deno.jsonc` or `package.json`, unless it
 * contains the host's project directory or one of its files (then the
 * module's own directory, under the same condition; else only the module).
 */
async function packageOf(root: string, options: GraphOptions): Promise<string> {
  const file = await real(fileURLToPath(root));
  const project = await real(resolve(options.projectDir));
  const hostFiles = await Promise.all(options.hostFiles.map((path) => real(resolve(path))));
  const acceptable = (dir: string) =>
    !within(project, dir) && !hostFiles.some((hostFile) => within(hostFile, dir));
  for (let dir = dirname(file);; dir = dirname(dir)) {
    if (!acceptable(dir)) break;
    if (await hasManifest(dir)) return dir;
    if (dirname(dir) === dir) break;
  }
  return acceptable(dirname(file)) ? dirname(file) : file;
}

async function hasManifest(dir: string): Promise<boolean> {
  for (const name of ["deno.json", "deno.jsonc", "package.json"]) {
    try {
      if ((await Deno.stat(join(dir, name))).isFile) return true;
    } catch {
      // not there
    }
  }
  return false;
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
}

function absolute(path: string, baseDir: string): string {
  if (path.startsWith("file:")) return fileURLToPath(path);
  return isAbsolute(path) ? resolve(path) : resolve(baseDir, path);
}

/** The real path (symbolic links resolved) of a path, or of its nearest existing parent. */
async function real(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await real(parent), basename(path));
  }
}

/** The message of a refused graph: the first escape, and how many more. */
export function describeEscapes(verdict: GraphVerdict, grant: ExtensionPermissions): string {
  const [first, ...rest] = verdict.escapes;
  if (!first) return "";
  const more = rest.length > 0
    ? ` (and ${rest.length} more: ${rest.map((escape) => JSON.stringify(escape.path)).join(", ")})`
    : "";
  const read = [...new Set([...(grant.read ?? []), first.path])];
  return `it imports ${
    JSON.stringify(first.written)
  } (${first.path}) from ${first.referrer}, and ${first.reason}: a sandboxed extension may import only its own package, this library and the paths its grant lets it read: move the file into the extension's package or grant read access to it (${
    JSON.stringify({ read })
  } in its "sandbox" entry)${more}`;
}
