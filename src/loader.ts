/**
 * Loading extensions in phases (SPEC §3): resolve, import, validate (or
 * start in the sandbox), check the host version and conflicts, migrate, set
 * up; each phase is a function of `_load_phases.ts`. Each failure is isolated
 * to its extension and recorded with its phase in the load report, beside
 * the warnings (hints that are not failures).
 *
 * @module
 */
import type { ExtensionsConfig } from "./config.ts";
import type { LoadPhase } from "./errors.ts";
import { ExtensionLoadError } from "./errors.ts";
import type { Extension, ExtensionContext, ExtensionPermissions } from "./extension.ts";
import type { HostServices } from "./host_context.ts";
import type { ExtensionManager } from "./manager.ts";
import type { RouteSignature } from "./routes.ts";
import type { ImportMap } from "./discovery.ts";
import {
  conflictPhase,
  discoverCandidates,
  excludePhase,
  hintPhase,
  hostVersionPhase,
  importPhase,
  instantiatePhase,
  listEntries,
  type LoadRun,
  migratePhase,
  resolvePhase,
  runPhase,
  setUpAll,
  startLoad,
} from "./_load_phases.ts";

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

/** Something suspicious but loadable, with the likely fix: a hint, not a failure. */
export interface LoadWarning {
  /** Where the extension came from: the config entry or the import-map key. */
  source: string;
  /** The extension's name, when loading got that far. */
  name?: string;
  /** What looks wrong and what to do, e.g. `onNodeCreated is not a hook: did you mean onNodeCreate?`. */
  message: string;
}

/** What loading did: the `GET /api/v1/extensions/status/` document. */
export interface LoadReport {
  /** The extensions that loaded, in dispatch order. */
  loaded: LoadedExtensionInfo[];
  /** The extensions that failed, in the order they were tried. */
  failed: LoadFailure[];
  /** Sources passed over on purpose (not an extension package, excluded). */
  skipped: SkippedSource[];
  /** Hints about extensions that loaded or failed: suspicious but not failures. */
  warnings: LoadWarning[];
}

/** A module namespace, as `import()` answers it. */
export type ModuleNamespace = Record<string, unknown>;

/** Runs a sandboxed extension; see `src/sandbox/launcher.ts`. */
export type SandboxLauncher = (request: {
  source: string;
  specifier: string;
  grant: ExtensionPermissions;
  settings: Record<string, Record<string, unknown>>;
  handlerTimeoutMs?: number;
  context?: ExtensionContext;
  calls?: { maxDepth?: number; maxPending?: number };
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
  /**
   * The import map to discover from, or the `deno.json` to read it from.
   * Default: `deno.json` beside the config file (`deno.jsonc` when only that exists).
   */
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
  const run = await startLoad(options);
  const listed = await runPhase(run, listEntries(run), resolvePhase, "concurrent");
  const candidates = [...listed, ...discoverCandidates(run)];
  const imported = await runPhase(run, candidates, importPhase, "concurrent");
  const verified = await runPhase(run, imported, instantiatePhase);
  const wanted = await runPhase(run, verified, excludePhase);
  const hinted = await runPhase(run, wanted, hintPhase);
  const compatible = await runPhase(run, hinted, hostVersionPhase);
  const admitted = await runPhase(run, compatible, conflictPhase);
  const migrated = await runPhase(run, admitted, migratePhase);
  const manager = await setUpAll(run, migrated);
  return await finishLoad(run, manager, options.strict ?? run.config.strict);
}

/** Writes the loaded extensions into the report; in strict mode, any failure rejects. */
async function finishLoad(
  run: LoadRun,
  manager: ExtensionManager,
  strict: boolean,
): Promise<LoadResult> {
  const { report, logger, config } = run;
  report.loaded = manager.entries.map(({ extension, source }) => describeLoaded(extension, source));
  for (const info of report.loaded) {
    logger.info(`extension "${info.name}" ${info.version} loaded from ${info.source}`);
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
