// The phases of loadExtensions (SPEC §3), one function each. A phase takes one
// extension and answers a PhaseResult: it passes on to the next phase, or it
// is recorded in the load report (failed or skipped) and goes no further, so a
// phase that fails for one extension passes the others on. `runPhase` applies
// a phase to every extension, records what did not pass, and keeps the order.
import { fileURLToPath } from "node:url";
import { satisfiesRange } from "./_semver.ts";
import { runAsExtension } from "./attribution.ts";
import {
  CONFIG_SECTION,
  type ExtensionsConfig,
  type LoadEntry,
  parseExtensionsConfig,
  readExtensionsConfig,
} from "./config.ts";
import { extensionHints, instantiateExtension } from "./contract.ts";
import { withTimeLimit } from "./dispatcher.ts";
import { findCandidatePackages, type ImportMap, readImportMap, toFileUrl } from "./discovery.ts";
import { describeError, ExtensionLoadError, type LoadPhase } from "./errors.ts";
import type { Extension, ExtensionPermissions, Logger } from "./extension.ts";
import { BoundContext, type HostServices } from "./host_context.ts";
import type {
  LoadFailure,
  LoadOptions,
  LoadReport,
  ModuleNamespace,
  SandboxLauncher,
  SkippedSource,
} from "./loader.ts";
import { ExtensionManager, type ManagerOptions } from "./manager.ts";
import { formatRoute, type RouteSignature, routesOverlap } from "./routes.ts";
import {
  extensionModuleOf,
  EXTENSIONS_SUBPATH,
  isMissingExportError,
  isModuleNotFoundError,
  isPathSpecifier,
  parsePackageReference,
} from "./specifier.ts";
import { VERSION } from "./version.ts";

/** What one load shares across its phases: the settings, the report, the claims so far. */
export interface LoadRun {
  /** The `nailgun.extensions` section, defaults filled in. */
  readonly config: ExtensionsConfig;
  /** The config file's URL: paths in it are relative to it. */
  readonly baseUrl: URL;
  /** The host's import map. */
  readonly importMap: ImportMap;
  /** Imports a module, with the host's import map. */
  readonly importModule: (specifier: string) => Promise<ModuleNamespace>;
  /** What the host shares with extensions; `call` is bound in the setup phase. */
  readonly services: HostServices;
  /** The load's log. */
  readonly logger: Logger;
  /** The caller's options. */
  readonly options: LoadOptions;
  /** The report being written. */
  readonly report: LoadReport;
  /** Names, calls and routes taken by the extensions admitted so far, and by the core API. */
  readonly claims: Claims;
}

interface Claims {
  extensions: Instance[];
  routes: { route: RouteSignature; owner: string }[];
}

/** What a phase answers for one extension. */
export type PhaseResult<T> =
  | { readonly pass: T }
  | { readonly fail: LoadFailure }
  | { readonly skip: SkippedSource };

/** A source to import, after the resolve phase. */
export interface Candidate {
  /** The config entry or the import-map key. */
  readonly source: string;
  /** What to import. */
  readonly specifier: string;
  /** Whether it was found in the import map rather than listed. */
  readonly discovered: boolean;
  /** The grant of a sandboxed extension. */
  readonly sandbox?: ExtensionPermissions;
}

/** A candidate after the import phase; a sandboxed one is imported by its Worker. */
export interface Imported extends Candidate {
  /** The module namespace; absent for a sandboxed candidate. */
  readonly module?: ModuleNamespace;
}

/** A verified extension, after the validate or the sandbox phase. */
export interface Instance {
  /** The extension. */
  readonly extension: Extension;
  /** Where it came from. */
  readonly source: string;
  /** Its context, bound to its name. */
  readonly context: BoundContext;
  /** Whether it runs in the sandbox. */
  readonly sandboxed: boolean;
  /** The URL of its module, when known: faults are blamed by it when no async context names it. */
  readonly url?: string;
}

// The default importer, for hosts that pass no `importModule`. Written as a
// `Function` so that `deno publish` has no computed `import()` to warn about
// (it cannot rewrite one, and there is nothing to rewrite: the loader passes
// absolute URLs, `jsr:`/`npm:` specifiers or the host's own import-map keys).
// The body is a constant: no text from outside is ever evaluated.
const defaultImport = new Function("specifier", "return import(specifier)") as (
  specifier: string,
) => Promise<ModuleNamespace>;

/**
 * Reads the config and the import map: what every phase needs.
 *
 * @param options The options of `loadExtensions`.
 * @returns The run, with an empty report.
 */
export async function startLoad(options: LoadOptions): Promise<LoadRun> {
  const configFile = options.configFile ?? "extensions.json";
  const config = await resolveConfig(options, configFile);
  const baseUrl = toFileUrl(configFile);
  const importMap = typeof options.importMap === "object"
    ? options.importMap
    : await readImportMap(options.importMap ?? await projectConfigBeside(baseUrl));
  const services: HostServices = { ...options.services, settings: config.settings };
  return {
    config,
    baseUrl,
    importMap,
    importModule: options.importModule ?? defaultImport,
    services,
    logger: services.logger ?? console,
    options,
    report: { loaded: [], failed: [], skipped: [], warnings: [] },
    claims: {
      extensions: [],
      routes: (options.reservedRoutes ?? []).map((route) => ({ route, owner: "the core API" })),
    },
  };
}

/**
 * Applies a phase to each item and records those that do not pass, in the
 * order of the items. `concurrent` phases run at once (a file check, an
 * import); the others one after the other, as each may see what the ones
 * before it claimed.
 *
 * @returns The items that passed, in order.
 */
export async function runPhase<In, Out>(
  run: LoadRun,
  items: readonly In[],
  phase: (run: LoadRun, item: In) => PhaseResult<Out> | Promise<PhaseResult<Out>>,
  mode: "concurrent" | "in order" = "in order",
): Promise<Out[]> {
  const results: PhaseResult<Out>[] = [];
  if (mode === "concurrent") results.push(...await Promise.all(items.map((i) => phase(run, i))));
  else for (const item of items) results.push(await phase(run, item));
  const passed: Out[] = [];
  for (const [index, result] of results.entries()) {
    if ("pass" in result) {
      passed.push(result.pass);
      continue;
    }
    if ("fail" in result) {
      run.report.failed.push(result.fail);
      run.logger.error(`extension load failed (${result.fail.phase}): ${result.fail.message}`);
    } else {
      run.report.skipped.push(result.skip);
    }
    const dropped = (items[index] as { extension?: Extension }).extension;
    if (dropped) await dispose(dropped);
  }
  return passed;
}

// Phase: resolve.

/**
 * The config's entries to resolve: each source once, none that the config
 * excludes (those are recorded as skipped).
 */
export function listEntries(run: LoadRun): LoadEntry[] {
  const excluded = new Set(run.config.exclude);
  const seen = new Set<string>();
  const entries: LoadEntry[] = [];
  for (const raw of run.config.load) {
    const entry: LoadEntry = typeof raw === "string" ? { specifier: raw } : raw;
    const source = entry.specifier;
    if (seen.has(source)) {
      run.report.skipped.push({
        source,
        reason: "listed more than once in the config: loaded once",
      });
      continue;
    }
    seen.add(source);
    if (excluded.has(source) || excluded.has(parsePackageReference(source)?.name ?? "")) {
      run.report.skipped.push({ source, reason: "excluded by the config" });
      continue;
    }
    entries.push(entry);
  }
  return entries;
}

/** Phase resolve: what a config entry designates (a path must exist). */
export async function resolvePhase(
  run: LoadRun,
  entry: LoadEntry,
): Promise<PhaseResult<Candidate>> {
  const source = entry.specifier;
  try {
    const specifier = await resolveSpecifier(source, run.baseUrl, run.importMap);
    return { pass: { source, specifier, discovered: false, sandbox: entry.sandbox } };
  } catch (error) {
    return { fail: failure(source, error, "resolve") };
  }
}

/**
 * The import-map packages to try, sorted by key, except those the config
 * lists or excludes (discovery, the second half of the resolve phase).
 */
export function discoverCandidates(run: LoadRun): Candidate[] {
  if (!run.config.discover) return [];
  const { importMap } = run;
  const listed = new Set(
    run.config.load.map((raw) => typeof raw === "string" ? raw : raw.specifier).flatMap((
      specifier,
    ) => [specifier, parsePackageReference(importMap.imports[specifier] ?? specifier)?.name]),
  );
  return findCandidatePackages(importMap, run.config.exclude)
    .filter((found) => !listed.has(found.key) && !listed.has(found.package.name))
    .map((found) => ({
      source: found.key,
      specifier: extensionModuleOf(found.key, false),
      discovered: true,
    }));
}

// Phase: import.

/**
 * Phase import: the module of a candidate. A discovered package that does
 * not export `./nailgun.extensions` is skipped (none of its code ran).
 */
export async function importPhase(
  run: LoadRun,
  candidate: Candidate,
): Promise<PhaseResult<Imported>> {
  if (candidate.sandbox) return { pass: candidate };
  const { source } = candidate;
  try {
    return { pass: { ...candidate, module: await run.importModule(candidate.specifier) } };
  } catch (error) {
    if (isMissingExportError(error)) {
      if (candidate.discovered) {
        return {
          skip: { source, reason: `the package does not export "${EXTENSIONS_SUBPATH}"` },
        };
      }
      return {
        fail: {
          source,
          phase: "resolve",
          message:
            `Cannot load extension "${source}": the package does not export "${EXTENSIONS_SUBPATH}": add it to "exports" in the package's deno.json or package.json, or list the module itself`,
        },
      };
    }
    if (isModuleNotFoundError(error, candidate.specifier)) {
      return {
        fail: {
          source,
          phase: "resolve",
          message: `Cannot load extension "${source}": the module cannot be found: ${
            describeError(error)
          }`,
        },
      };
    }
    return {
      fail: {
        source,
        phase: "import",
        message: `Cannot load extension "${source}": importing it threw: ${describeError(error)}`,
      },
    };
  }
}

// Phases: validate, or sandbox.

/** Phase validate (in process) or sandbox (in a Worker): the verified extension. */
export function instantiatePhase(
  run: LoadRun,
  imported: Imported,
): PhaseResult<Instance> | Promise<PhaseResult<Instance>> {
  return imported.sandbox ? sandboxPhase(run, imported) : validatePhase(run, imported);
}

/** Phase validate: the module's default export, instantiated and checked against the contract. */
export function validatePhase(run: LoadRun, imported: Imported): PhaseResult<Instance> {
  const context = new BoundContext(imported.source, run.services);
  try {
    const extension = instantiateExtension(imported.module!, imported.source, context);
    context.bind(extension.name);
    const url = /^(file|https?):/.test(imported.specifier) ? imported.specifier : undefined;
    return { pass: { extension, source: imported.source, context, sandboxed: false, url } };
  } catch (error) {
    return { fail: failure(imported.source, error, "validate") };
  }
}

/** Phase sandbox: the extension started in its Worker, with exactly its grant. */
export async function sandboxPhase(
  run: LoadRun,
  imported: Imported,
): Promise<PhaseResult<Instance>> {
  const { source } = imported;
  const launcher: SandboxLauncher | undefined = run.options.sandbox;
  if (!launcher) {
    return {
      fail: {
        source,
        phase: "sandbox",
        message:
          `Cannot load extension "${source}": it is configured to run in the sandbox, but this host has no sandbox`,
      },
    };
  }
  const context = new BoundContext(source, run.services);
  try {
    const extension = await launcher({
      source,
      specifier: imported.specifier,
      grant: imported.sandbox!,
      settings: run.services.settings ?? {},
      handlerTimeoutMs: run.config.handlerTimeoutMs,
      calls: run.config.calls,
      context,
    });
    context.bind(extension.name);
    return { pass: { extension, source, context, sandboxed: true } };
  } catch (error) {
    return { fail: failure(source, error, "sandbox") };
  }
}

/**
 * Load-time hints (not failures): a method named like a hook that is not
 * one, a misspelt pipeline step. Recorded as warnings and logged; every
 * extension passes.
 */
export function hintPhase(run: LoadRun, instance: Instance): PhaseResult<Instance> {
  if (instance.sandboxed) return { pass: instance };
  const { name } = instance.extension;
  let hints: string[];
  try {
    hints = extensionHints(instance.extension);
  } catch {
    return { pass: instance }; // A proxy that refuses reflection: no hint, no harm.
  }
  for (const message of hints) {
    run.report.warnings.push({ source: instance.source, name, message });
    run.logger.warn(`extension "${name}" (from ${instance.source}): ${message}`);
  }
  return { pass: instance };
}

/** Skips an extension whose name the config excludes. */
export function excludePhase(run: LoadRun, instance: Instance): PhaseResult<Instance> {
  const { name } = instance.extension;
  if (!run.config.exclude.includes(name)) return { pass: instance };
  return {
    skip: { source: instance.source, reason: `the extension "${name}" is excluded by the config` },
  };
}

// Phase: host version.

/** Phase host-version: the extension's `hostVersion` range admits this library's version. */
export function hostVersionPhase(_run: LoadRun, instance: Instance): PhaseResult<Instance> {
  const { extension, source } = instance;
  if (extension.hostVersion === undefined || satisfiesRange(VERSION, extension.hostVersion)) {
    return { pass: instance };
  }
  return {
    fail: {
      source,
      name: extension.name,
      phase: "host-version",
      message:
        `Cannot load extension "${source}": "hostVersion" is "${extension.hostVersion}" but this host runs @nailgun/extensions ${VERSION}: install a version of "${extension.name}" written for ${VERSION}`,
    },
  };
}

// Phase: conflict.

/**
 * Phase conflict: the extension's name, calls and routes are free. It runs
 * last of the checks, so that only extensions that will load claim them.
 */
export function conflictPhase(run: LoadRun, instance: Instance): PhaseResult<Instance> {
  const { extension, source } = instance;
  const message = findConflict(extension, source, run.claims);
  if (message) return { fail: { source, name: extension.name, phase: "conflict", message } };
  run.claims.extensions.push(instance);
  for (const route of extension.routes ?? []) {
    run.claims.routes.push({ route, owner: `"${extension.name}"` });
  }
  return { pass: instance };
}

function findConflict(extension: Extension, source: string, claims: Claims): string | undefined {
  const prefix = `Cannot load extension "${source}"`;
  const same = claims.extensions.find((entry) => entry.extension.name === extension.name);
  if (same) {
    return `${prefix}: the name "${extension.name}" is already taken by the extension from "${same.source}": exclude one of the two sources`;
  }
  for (const call of extension.provides ?? []) {
    const provider = claims.extensions.find((entry) => entry.extension.provides?.includes(call));
    if (provider) {
      return `${prefix}: the call "${call}" of "${extension.name}" is already provided by "${provider.extension.name}" (from "${provider.source}"): a call has one provider`;
    }
  }
  for (const route of extension.routes ?? []) {
    const taken = claims.routes.find((other) => routesOverlap(other.route, route));
    if (taken) {
      return `${prefix}: the route "${formatRoute(route)}" of "${extension.name}" collides with "${
        formatRoute(taken.route)
      }" of ${taken.owner}: choose another path`;
    }
  }
  return undefined;
}

// Phase: migrate.

/** Phase migrate: the host applies the extension's migrations, in the extension's async context. */
export async function migratePhase(
  run: LoadRun,
  instance: Instance,
): Promise<PhaseResult<Instance>> {
  const migrate = run.options.migrate;
  if (!migrate) return { pass: instance };
  const { extension, source } = instance;
  try {
    await runAsExtension({ name: extension.name, source }, () => migrate(extension, source));
    return { pass: instance };
  } catch (error) {
    return { fail: failure(source, error, "migrate") };
  }
}

// Phase: setup.

/**
 * Phase setup, for every extension in order: `setup(context)` under the
 * handler time limit, in the extension's async context. Calls made from
 * `setup()` see the extensions set up before it.
 *
 * @returns The manager of the extensions that are set up.
 */
export async function setUpAll(
  run: LoadRun,
  migrated: readonly Instance[],
): Promise<ExtensionManager> {
  const managerOptions: ManagerOptions = {
    handlerTimeoutMs: run.config.handlerTimeoutMs,
    logger: run.services.logger,
    breaker: run.config.breaker,
  };
  let manager = new ExtensionManager(migrated, managerOptions);
  run.services.call = (call, ...args) => manager.call(call, ...args);
  const ready = await runPhase(run, migrated, setupPhase);
  manager = new ExtensionManager(ready, managerOptions);
  return manager;
}

/** Phase setup of one extension. */
export async function setupPhase(run: LoadRun, instance: Instance): Promise<PhaseResult<Instance>> {
  const { extension, source, context } = instance;
  if (typeof extension.setup !== "function") return { pass: instance };
  try {
    await runAsExtension(
      { name: extension.name, source },
      () => withTimeLimit(() => extension.setup!(context), run.config.handlerTimeoutMs),
    );
    return { pass: instance };
  } catch (error) {
    return {
      fail: {
        source,
        name: extension.name,
        phase: "setup",
        message: `Cannot load extension "${source}": setup() of "${extension.name}" failed: ${
          describeError(error)
        }`,
      },
    };
  }
}

// Helpers.

/** The report entry of an error: its own phase when it is a load error, `fallback` otherwise. */
function failure(source: string, error: unknown, fallback: LoadPhase): LoadFailure {
  if (error instanceof ExtensionLoadError) {
    return error.extension
      ? { source, name: error.extension, phase: error.phase, message: error.message }
      : { source, phase: error.phase, message: error.message };
  }
  return {
    source,
    phase: fallback,
    message: `Cannot load extension "${source}": ${describeError(error)}`,
  };
}

async function resolveConfig(options: LoadOptions, configFile: string): Promise<ExtensionsConfig> {
  const given = options.config;
  if (given === undefined) {
    return await readExtensionsConfig(configFile, { optional: options.configFile === undefined });
  }
  if (CONFIG_SECTION in given) return parseExtensionsConfig(given, configFile);
  return parseExtensionsConfig({ [CONFIG_SECTION]: given }, configFile);
}

/** File extensions of modules: a source that ends with one is meant as a path. */
const MODULE_FILE = /\.(?:[cm]?[jt]s|[jt]sx|json)$/;

/** A package name as `deno add` takes it: `@scope/name` or `name`. */
const PACKAGE_NAME = /^(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i;

async function resolveSpecifier(
  source: string,
  baseUrl: URL,
  importMap: ImportMap,
): Promise<string> {
  if (isPathSpecifier(source)) {
    const url = new URL(source, baseUrl);
    if (!await exists(url)) {
      throw new ExtensionLoadError(
        `Cannot load extension "${source}": the file "${
          fileURLToPath(url)
        }" does not exist: paths are relative to the config file`,
        { source, phase: "resolve" },
      );
    }
    return url.href;
  }
  const reference = parsePackageReference(source);
  if (reference) return extensionModuleOf(source, reference.subpath !== undefined);
  if (/^https?:/.test(source)) return source;
  const target = importMap.imports[source];
  if (target !== undefined) {
    const mapped = parsePackageReference(target);
    return extensionModuleOf(source, !mapped || mapped.subpath !== undefined);
  }
  const prefix = Object.keys(importMap.imports).find((key) =>
    source.startsWith(key.endsWith("/") ? key : `${key}/`)
  );
  if (prefix) return source;
  const unknown =
    `Cannot load extension "${source}": it is not a path, a jsr: or npm: specifier, nor a key of the import map "${importMap.file}"`;
  if (MODULE_FILE.test(source) || !PACKAGE_NAME.test(source)) {
    const path = `./${source.replace(/^\.?\/*/, "")}`;
    const url = new URL(path, baseUrl);
    throw new ExtensionLoadError(
      await exists(url)
        ? `${unknown}: a path starts with "./" or "../": write "${path}"`
        : `${unknown}: a path starts with "./" or "../", and the file "${
          fileURLToPath(url)
        }" does not exist either: paths are relative to the config file`,
      { source, phase: "resolve" },
    );
  }
  const add = source.startsWith("@") ? `jsr:${source}" (or npm:)` : `npm:${source}"`;
  throw new ExtensionLoadError(
    `${unknown}: install it with "deno add ${add}, or write a path such as "./${source}.ts"`,
    { source, phase: "resolve" },
  );
}

/** The `deno.json` beside the config file, or the `deno.jsonc` when only that exists. */
async function projectConfigBeside(baseUrl: URL): Promise<string> {
  const json = new URL("deno.json", baseUrl);
  const jsonc = new URL("deno.jsonc", baseUrl);
  return fileURLToPath(!await exists(json) && await exists(jsonc) ? jsonc : json);
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}

/** Releases what an extension that will not be used holds (a sandboxed one's Worker). */
async function dispose(extension: Extension): Promise<void> {
  try {
    await (extension as Partial<AsyncDisposable>)[Symbol.asyncDispose]?.();
  } catch {
    // It is being dropped already; its failure is in the report.
  }
}
