/**
 * Loading extensions in phases (SPEC §3): resolve, import, validate, check
 * conflicts and host version, migrate, set up. Each failure is isolated to
 * its extension and recorded with its phase in the load report.
 *
 * @module
 */
import { satisfiesRange } from "./_semver.ts";
import {
  CONFIG_SECTION,
  type ExtensionsConfig,
  type LoadEntry,
  parseExtensionsConfig,
  readExtensionsConfig,
} from "./config.ts";
import { instantiateExtension } from "./contract.ts";
import { withTimeLimit } from "./dispatcher.ts";
import { findCandidatePackages, type ImportMap, readImportMap, toFileUrl } from "./discovery.ts";
import { describeError, ExtensionLoadError, type LoadPhase } from "./errors.ts";
import type { Extension, ExtensionContext, ExtensionPermissions } from "./extension.ts";
import { BoundContext, type HostServices } from "./host_context.ts";
import { ExtensionManager, type ManagedExtension } from "./manager.ts";
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

/** A loaded extension as the report, the CLI and the REST API show it. */
export interface LoadedExtensionInfo {
  /** The extension's name. */
  name: string;
  /** Its version. */
  version: string;
  /** What it does. */
  description: string;
  /** The calls it provides. */
  provides: string[];
  /** Where it came from: the config entry or the import-map key. */
  source: string;
}

/** An extension that did not load, and why. */
export interface LoadFailure {
  /** Where it came from: the config entry or the import-map key. */
  source: string;
  /** Its name, when loading got that far. */
  name?: string;
  /** The phase that failed. */
  phase: LoadPhase;
  /** What went wrong and what to fix. */
  message: string;
}

/** An import-map package or config entry that was passed over on purpose. */
export interface SkippedSource {
  /** The import-map key or config entry. */
  source: string;
  /** Why, e.g. that it does not export `./nailgun.extensions`. */
  reason: string;
}

/** What loading did: the `GET /api/v1/extensions/status/` document. */
export interface LoadReport {
  /** The extensions that loaded, in dispatch order. */
  loaded: LoadedExtensionInfo[];
  /** The extensions that failed, in the order they were tried. */
  failed: LoadFailure[];
  /** Sources passed over on purpose (not an extension package, excluded). */
  skipped: SkippedSource[];
}

/** A module namespace, as `import()` answers it. */
export type ModuleNamespace = Record<string, unknown>;

/** Runs a sandboxed extension; see `sandbox.ts`. */
export type SandboxLauncher = (request: {
  source: string;
  specifier: string;
  grant: ExtensionPermissions;
  settings: Record<string, Record<string, unknown>>;
  handlerTimeoutMs?: number;
  context?: ExtensionContext;
}) => Promise<Extension>;

/** Options of {@linkcode loadExtensions}. */
export interface LoadOptions {
  /**
   * The configuration: the parsed `nailgun.extensions` section, or the whole
   * file as an object. When absent, `configFile` is read.
   */
  config?: ExtensionsConfig | Record<string, unknown>;
  /**
   * The `extensions.json` file; relative paths in it are relative to it.
   * Default `./extensions.json`; a missing default file means no entries.
   */
  configFile?: string;
  /** The import map to discover from, or the `deno.json` to read it from. Default: `deno.json` beside the config file. */
  importMap?: ImportMap | string;
  /**
   * Imports a module. Pass `(specifier) => import(specifier)` from the host
   * so that bare keys resolve with the host's import map and local files
   * load when this library itself comes from JSR.
   */
  importModule?: (specifier: string) => Promise<ModuleNamespace>;
  /** What the host shares with extensions: logger, database, settings. */
  services?: HostServices;
  /** Routes the host serves itself; an extension route that overlaps one is a conflict. */
  reservedRoutes?: readonly RouteSignature[];
  /** Applies an extension's migrations, between the checks and setup. */
  migrate?: (extension: Extension, source: string) => Promise<void>;
  /** Starts a sandboxed extension (config entries with `sandbox`). */
  sandbox?: SandboxLauncher;
  /** Overrides the config's `strict`: any failure rejects the whole load. */
  strict?: boolean;
}

/** What {@linkcode loadExtensions} returns. */
export interface LoadResult {
  /** The manager of the extensions that loaded. */
  manager: ExtensionManager;
  /** What loaded, what failed and what was passed over. */
  report: LoadReport;
  /** The configuration that was used, with defaults filled in. */
  config: ExtensionsConfig;
}

interface Candidate {
  source: string;
  specifier: string;
  discovered: boolean;
  sandbox?: ExtensionPermissions;
}

interface Accepted extends ManagedExtension {
  context: BoundContext;
}

const defaultImport = (specifier: string): Promise<ModuleNamespace> => import(specifier);

/**
 * Loads every extension the config lists and every import-map package that
 * exports `./nailgun.extensions`, in a deterministic order (config order,
 * then import-map keys sorted). One broken extension never stops the others:
 * it is recorded in the report with its phase.
 *
 * @param options Where the config and import map are, and what the host shares.
 * @returns The manager and the load report.
 * @throws {ExtensionConfigError} When the config file is malformed.
 * @throws {ExtensionLoadError} In strict mode, when any extension failed.
 *
 * @example Load an extension from a file
 * ```ts
 * import { loadExtensions } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/hello.ts`, `export default {
 *   name: "hello", version: "1.0.0", description: "Says hello.",
 * };`);
 * await Deno.writeTextFile(`${dir}/extensions.json`, '{ "nailgun.extensions": ["./hello.ts"] }');
 * const { manager, report } = await loadExtensions({ configFile: `${dir}/extensions.json` });
 * assert.deepEqual(manager.names, ["hello"]);
 * assert.equal(report.failed.length, 0);
 * ```
 */
export async function loadExtensions(options: LoadOptions = {}): Promise<LoadResult> {
  const configFile = options.configFile ?? "extensions.json";
  const config = await resolveConfig(options, configFile);
  const baseUrl = toFileUrl(configFile);
  const importMap = typeof options.importMap === "object"
    ? options.importMap
    : await readImportMap(options.importMap ?? new URL("deno.json", baseUrl).pathname);
  const importModule = options.importModule ?? defaultImport;
  const services: HostServices = { ...options.services, settings: config.settings };
  const strict = options.strict ?? config.strict;
  const report: LoadReport = { loaded: [], failed: [], skipped: [] };
  const fail = (source: string, phase: LoadPhase, message: string, name?: string) => {
    report.failed.push(name ? { source, name, phase, message } : { source, phase, message });
    (services.logger ?? console).error(`extension load failed (${phase}): ${message}`);
  };
  const failWith = (source: string, error: unknown, fallback: LoadPhase) => {
    if (error instanceof ExtensionLoadError) {
      fail(source, error.phase, error.message, error.extension);
    } else {
      fail(source, fallback, `Cannot load extension "${source}": ${describeError(error)}`);
    }
  };

  // Phase: resolve (concurrently: a path costs a file-system check; the order stays the config's).
  const candidates: Candidate[] = [];
  const excluded = new Set(config.exclude);
  const entries: LoadEntry[] = [];
  const seen = new Set<string>();
  for (const raw of config.load) {
    const entry: LoadEntry = typeof raw === "string" ? { specifier: raw } : raw;
    const source = entry.specifier;
    if (seen.has(source)) {
      report.skipped.push({ source, reason: "listed more than once in the config: loaded once" });
      continue;
    }
    seen.add(source);
    if (excluded.has(source) || excluded.has(parsePackageReference(source)?.name ?? "")) {
      report.skipped.push({ source, reason: "excluded by the config" });
      continue;
    }
    entries.push(entry);
  }
  const resolved = await Promise.all(entries.map(async (entry) => {
    try {
      return { entry, specifier: await resolveEntry(entry.specifier, baseUrl, importMap) };
    } catch (error) {
      return { entry, specifier: undefined, error };
    }
  }));
  for (const { entry, specifier, error } of resolved) {
    if (specifier === undefined) failWith(entry.specifier, error, "resolve");
    else {
      candidates.push({
        source: entry.specifier,
        specifier,
        discovered: false,
        sandbox: entry.sandbox,
      });
    }
  }
  if (config.discover) {
    const listed = new Set(
      config.load.map((raw) => typeof raw === "string" ? raw : raw.specifier).flatMap((
        specifier,
      ) => [specifier, parsePackageReference(importMap.imports[specifier] ?? specifier)?.name]),
    );
    for (const found of findCandidatePackages(importMap, config.exclude)) {
      if (listed.has(found.key) || listed.has(found.package.name)) continue;
      candidates.push({
        source: found.key,
        specifier: extensionModuleOf(found.key, false),
        discovered: true,
      });
    }
  }

  // Phase: import (concurrently; the order of the report stays the config's).
  const imported = await Promise.all(candidates.map(async (candidate) => {
    if (candidate.sandbox) return { candidate, module: undefined, error: undefined };
    try {
      return { candidate, module: await importModule(candidate.specifier), error: undefined };
    } catch (error) {
      return { candidate, module: undefined, error };
    }
  }));

  // Phases: validate, conflict, host version.
  const accepted: Accepted[] = [];
  const takenRoutes: { route: RouteSignature; owner: string }[] = (options.reservedRoutes ?? [])
    .map((route) => ({ route, owner: "the core API" }));
  for (const { candidate, module, error } of imported) {
    const { source } = candidate;
    if (error !== undefined) {
      if (isMissingExportError(error)) {
        if (candidate.discovered) {
          report.skipped.push({
            source,
            reason: `the package does not export "${EXTENSIONS_SUBPATH}"`,
          });
        } else {
          fail(
            source,
            "resolve",
            `Cannot load extension "${source}": the package does not export "${EXTENSIONS_SUBPATH}": add it to "exports" in the package's deno.json or package.json, or list the module itself`,
          );
        }
      } else if (
        isModuleNotFoundError(error) &&
        !/at file:|at https?:|at jsr:|at npm:/.test(describeError(error))
      ) {
        fail(
          source,
          "resolve",
          `Cannot load extension "${source}": the module cannot be found: ${describeError(error)}`,
        );
      } else {
        fail(
          source,
          "import",
          `Cannot load extension "${source}": importing it threw: ${describeError(error)}`,
        );
      }
      continue;
    }
    const context = new BoundContext(source, services);
    let extension: Extension;
    try {
      extension = candidate.sandbox
        ? await launchSandboxed(options.sandbox, candidate, {
          settings: services.settings ?? {},
          handlerTimeoutMs: config.handlerTimeoutMs,
          context,
        })
        : instantiateExtension(module!, source, context);
    } catch (caught) {
      failWith(source, caught, candidate.sandbox ? "sandbox" : "validate");
      continue;
    }
    const { name } = extension;
    context.bind(name);
    if (excluded.has(name)) {
      report.skipped.push({ source, reason: `the extension "${name}" is excluded by the config` });
      await dispose(extension);
      continue;
    }
    const conflict = findConflict(extension, source, accepted, takenRoutes);
    if (conflict) {
      fail(source, "conflict", conflict, name);
      await dispose(extension);
      continue;
    }
    if (extension.hostVersion !== undefined && !satisfiesRange(VERSION, extension.hostVersion)) {
      fail(
        source,
        "host-version",
        `Cannot load extension "${source}": "hostVersion" is "${extension.hostVersion}" but this host runs @nailgun/extensions ${VERSION}: install a version of "${name}" written for ${VERSION}`,
        name,
      );
      await dispose(extension);
      continue;
    }
    for (const route of extension.routes ?? []) takenRoutes.push({ route, owner: `"${name}"` });
    accepted.push({ extension, source, context });
  }

  // Phase: migrate.
  const migrated: Accepted[] = [];
  for (const entry of accepted) {
    try {
      await options.migrate?.(entry.extension, entry.source);
      migrated.push(entry);
    } catch (error) {
      failWith(entry.source, error, "migrate");
      await dispose(entry.extension);
    }
  }

  // Phase: setup. Calls made from setup() see the extensions set up so far.
  const managerOptions = { handlerTimeoutMs: config.handlerTimeoutMs, logger: services.logger };
  const ready: Accepted[] = [];
  let manager = new ExtensionManager(migrated, managerOptions);
  services.call = (call, ...args) => manager.call(call, ...args);
  for (const entry of migrated) {
    const { extension, source, context } = entry;
    if (typeof extension.setup === "function") {
      try {
        await withTimeLimit(() => extension.setup!(context), config.handlerTimeoutMs);
      } catch (error) {
        fail(
          source,
          "setup",
          `Cannot load extension "${source}": setup() of "${extension.name}" failed: ${
            describeError(error)
          }`,
          extension.name,
        );
        await dispose(extension);
        continue;
      }
    }
    ready.push(entry);
  }
  manager = new ExtensionManager(ready, managerOptions);
  report.loaded = ready.map(({ extension, source }) => describeLoaded(extension, source));
  for (const info of report.loaded) {
    (services.logger ?? console).info(
      `extension "${info.name}" ${info.version} loaded from ${info.source}`,
    );
  }

  if (strict && report.failed.length > 0) {
    await manager.teardown();
    const first = report.failed[0]!;
    throw new ExtensionLoadError(
      `Cannot start in strict mode: ${report.failed.length} extension(s) failed to load: ${
        report.failed.map((failed) => failed.message).join("; ")
      }`,
      { source: first.source, phase: first.phase, extension: first.name },
    );
  }
  return { manager, report, config };
}

/**
 * The report entry of a loaded extension.
 *
 * @param extension The extension.
 * @param source Where it came from.
 * @returns Its name, version, description, provided calls and source.
 */
export function describeLoaded(extension: Extension, source: string): LoadedExtensionInfo {
  return {
    name: extension.name,
    version: extension.version,
    description: extension.description,
    provides: [...(extension.provides ?? [])],
    source,
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

async function resolveEntry(source: string, baseUrl: URL, importMap: ImportMap): Promise<string> {
  if (isPathSpecifier(source)) {
    const url = new URL(source, baseUrl);
    try {
      await Deno.stat(url);
    } catch {
      throw new ExtensionLoadError(
        `Cannot load extension "${source}": the file "${
          decodeURIComponent(url.pathname)
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
  throw new ExtensionLoadError(
    `Cannot load extension "${source}": it is not a path, a jsr: or npm: specifier, nor a key of the import map "${importMap.file}": install it with "deno add jsr:${source}" (or npm:), or write a path such as "./${source}.ts"`,
    { source, phase: "resolve" },
  );
}

function findConflict(
  extension: Extension,
  source: string,
  accepted: readonly Accepted[],
  takenRoutes: readonly { route: RouteSignature; owner: string }[],
): string | undefined {
  const prefix = `Cannot load extension "${source}"`;
  const same = accepted.find((entry) => entry.extension.name === extension.name);
  if (same) {
    return `${prefix}: the name "${extension.name}" is already taken by the extension from "${same.source}": exclude one of the two sources`;
  }
  for (const call of extension.provides ?? []) {
    const provider = accepted.find((entry) => entry.extension.provides?.includes(call));
    if (provider) {
      return `${prefix}: the call "${call}" of "${extension.name}" is already provided by "${provider.extension.name}" (from "${provider.source}"): a call has one provider`;
    }
  }
  for (const route of extension.routes ?? []) {
    const taken = takenRoutes.find((other) => routesOverlap(other.route, route));
    if (taken) {
      return `${prefix}: the route "${formatRoute(route)}" of "${extension.name}" collides with "${
        formatRoute(taken.route)
      }" of ${taken.owner}: choose another path`;
    }
  }
  return undefined;
}

async function launchSandboxed(
  launcher: SandboxLauncher | undefined,
  candidate: Candidate,
  given: Pick<Parameters<SandboxLauncher>[0], "settings" | "handlerTimeoutMs" | "context">,
): Promise<Extension> {
  if (!launcher) {
    throw new ExtensionLoadError(
      `Cannot load extension "${candidate.source}": it is configured to run in the sandbox, but this host has no sandbox`,
      { source: candidate.source, phase: "sandbox" },
    );
  }
  return await launcher({
    source: candidate.source,
    specifier: candidate.specifier,
    grant: candidate.sandbox!,
    ...given,
  });
}

/** Releases what an extension that will not be used holds (a sandboxed one's Worker). */
async function dispose(extension: Extension): Promise<void> {
  try {
    await (extension as Partial<AsyncDisposable>)[Symbol.asyncDispose]?.();
  } catch {
    // It is being dropped already; its failure is in the report.
  }
}
