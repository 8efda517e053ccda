/**
 * Start-up: `loadExtensions()` of 1, 10 and 100 generated extension modules,
 * listed in the config or discovered in the import map, against a plain
 * `import()` of the same modules (the baseline); and discovery over an import
 * map of 100 packages that are not extensions.
 *
 * Module loads are measured in a new worker per iteration: a worker has a
 * module graph of its own, so every iteration loads into an empty graph, as a
 * starting host does (in one isolate, each dynamic import costs more as the
 * graph grows, and the cases measured last would pay for the ones before).
 * The worker loads the library before the clock starts, as a host has it
 * loaded; only the request and its answer are timed, which adds the same
 * message round trip to every case. Module URLs also get a new `?v=<n>` query
 * per iteration, so that no cache can answer. The modules are plain `.js`, so
 * that no TypeScript emit is measured.
 *
 * Everything stays local. Discovery: the import map's keys name `npm:`
 * packages, and the `importModule` hook answers `<key>/nailgun.extensions`
 * with the generated module, as Deno answers it from an installed package.
 * Packages that are not extensions: `importModule` rejects with the error Deno
 * gives for an npm package whose `exports` lack the subpath, without loading
 * anything, as Deno fails while resolving, before any code of the package runs.
 *
 * @module
 */
import { loadExtensions, type ModuleNamespace } from "../mod.ts";
import { SILENT_LOGGER, writeExtensionModules } from "./_fixtures.ts";
import type { StartupReply, StartupRequest } from "./_startup_worker.ts";

const SIZES = [1, 10, 100];
const modules = writeExtensionModules(Math.max(...SIZES));
const configFile = `${modules.dir}/extensions.json`;
const WORKER = new URL("./_startup_worker.ts", import.meta.url);
globalThis.addEventListener("unload", () => Deno.removeSync(modules.dir, { recursive: true }));

let version = 0;

/** Starts a worker and waits until it has loaded the library. */
async function startWorker(): Promise<{ worker: Worker; next: () => Promise<unknown> }> {
  const worker = new Worker(WORKER, { type: "module" });
  let pending: PromiseWithResolvers<unknown> = Promise.withResolvers();
  worker.onmessage = (event) => pending.resolve(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    pending.reject(new Error(`Cannot benchmark start-up: the worker failed: ${event.message}`));
  };
  const next = () => {
    const current = pending.promise;
    current.finally(() => pending = Promise.withResolvers());
    return current;
  };
  await next();
  return { worker, next };
}

/** One iteration: a fresh worker; only its loading of `count` modules is timed. */
async function startUp(
  b: Deno.BenchContext,
  mode: StartupRequest["mode"],
  count: number,
): Promise<void> {
  const { worker, next } = await startWorker();
  try {
    const request: StartupRequest = {
      mode,
      urls: modules.urls.slice(0, count),
      configFile,
      query: `?v=${++version}`,
    };
    b.start();
    worker.postMessage(request);
    const reply = await next() as StartupReply;
    b.end();
    if ("error" in reply || reply.loaded !== count) {
      throw new Error(`Cannot benchmark start-up (${mode}): ${JSON.stringify(reply)}`);
    }
  } finally {
    worker.terminate();
  }
}

// A worker per iteration costs tens of milliseconds: iterations are counted.
const ITERATIONS = { n: 30, warmup: 3 };

for (const count of SIZES) {
  const group = `start-up, ${count} extension${count === 1 ? "" : "s"}`;
  Deno.bench({
    name: "plain import() of the modules",
    group,
    baseline: true,
    ...ITERATIONS,
    fn: async (b) => await startUp(b, "plain", count),
  });
  Deno.bench({
    name: "nailgun: loadExtensions() from the config",
    group,
    ...ITERATIONS,
    fn: async (b) => await startUp(b, "config", count),
  });
  Deno.bench({
    name: "nailgun: loadExtensions() by import-map discovery",
    group,
    ...ITERATIONS,
    fn: async (b) => await startUp(b, "discovery", count),
  });
}

// Discovery when there is nothing to find: no module is loaded, so it runs in process.
const LIBRARIES = 100;
const libraryImports: Record<string, string> = {};
for (let index = 0; index < LIBRARIES; index++) {
  libraryImports[`lib_${String(index).padStart(3, "0")}`] = `npm:lib_${index}@1.0.0`;
}

/** Rejects as Deno does for an npm package whose `exports` lack the subpath. */
function missingExport(specifier: string): Promise<ModuleNamespace> {
  const name = specifier.slice(0, specifier.indexOf("/"));
  const error = new TypeError(
    `[ERR_PACKAGE_PATH_NOT_EXPORTED] Package subpath './nailgun.extensions' is not defined by "exports" in '/deno/npm/${name}/1.0.0/package.json' imported from '${configFile}'`,
  );
  Object.assign(error, { code: "ERR_MODULE_NOT_FOUND" });
  return Promise.reject(error);
}

/** Discovery over `imports`, where no package is an extension; fails unless each is skipped. */
async function discoverNothing(imports: Record<string, string>): Promise<void> {
  const { manager, report } = await loadExtensions({
    configFile,
    config: { load: [], discover: true },
    importMap: { file: `${modules.dir}/deno.json`, imports },
    importModule: missingExport,
    services: { logger: SILENT_LOGGER },
  });
  const expected = Object.keys(imports).length;
  if (manager.size !== 0 || report.failed.length !== 0 || report.skipped.length !== expected) {
    throw new Error(
      `Cannot benchmark discovery: expected ${expected} packages skipped, none loaded or failed: ${
        JSON.stringify(report)
      }`,
    );
  }
}

await discoverNothing(libraryImports);
const nothing = `start-up, import map of ${LIBRARIES} packages that are not extensions`;
Deno.bench({
  name: `plain import() of ${LIBRARIES} modules`,
  group: nothing,
  baseline: true,
  ...ITERATIONS,
  fn: async (b) => await startUp(b, "plain", LIBRARIES),
});
Deno.bench({
  name: `nailgun: discovery over ${LIBRARIES} packages that are not extensions`,
  group: nothing,
  n: 300,
  warmup: 20,
  fn: async () => await discoverNothing(libraryImports),
});
Deno.bench({
  name: "nailgun: loadExtensions() with nothing to load",
  group: nothing,
  n: 300,
  warmup: 20,
  fn: async () => await discoverNothing({}),
});
