/**
 * The worker of the start-up benchmark: a fresh module graph per iteration.
 * It loads the library first (a host has it loaded already), says "ready",
 * then, on request, imports the generated modules or loads them with
 * `loadExtensions()`, and says how many it got.
 *
 * @module
 */
import { loadExtensions, type ModuleNamespace } from "../mod.ts";
import { SILENT_LOGGER } from "./_fixtures.ts";

/** What the benchmark asks of the worker. */
export interface StartupRequest {
  /** Plain `import()`, or `loadExtensions()` from the config or by discovery. */
  mode: "plain" | "config" | "discovery";
  /** The generated modules to load, as `file:` URLs. */
  urls: string[];
  /** The `extensions.json` beside them. */
  configFile: string;
  /** Appended to every module URL, so that no cache can answer. */
  query: string;
}

/** What the worker answers: how many modules or extensions it got, or what failed. */
export type StartupReply = { loaded: number } | { error: string };

/** The import-map key of generated module `index`. */
function keyOf(index: number): string {
  return `@bench/ext_${String(index).padStart(3, "0")}`;
}

async function handle(request: StartupRequest): Promise<StartupReply> {
  const { mode, urls, configFile, query } = request;
  if (mode === "plain") {
    const namespaces = await Promise.all(
      urls.map((url): Promise<ModuleNamespace> => import(url + query)),
    );
    return { loaded: namespaces.filter((namespace) => namespace.default).length };
  }
  const imports: Record<string, string> = {};
  const targets = new Map<string, string>();
  if (mode === "discovery") {
    urls.forEach((url, index) => {
      imports[keyOf(index)] = `npm:${keyOf(index)}@1.0.0`;
      targets.set(`${keyOf(index)}/nailgun.extensions`, url);
    });
  }
  const { manager, report } = await loadExtensions({
    configFile,
    config: mode === "config"
      ? { load: urls.map((url) => `./${url.split("/").pop()}`), discover: false }
      : { load: [], discover: true },
    importMap: { file: configFile.replace(/extensions\.json$/, "deno.json"), imports },
    importModule: (specifier): Promise<ModuleNamespace> =>
      import((targets.get(specifier) ?? specifier) + query),
    services: { logger: SILENT_LOGGER },
  });
  if (report.failed.length > 0) return { error: report.failed[0]!.message };
  return { loaded: manager.size };
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<StartupRequest>) => void) | null;
  postMessage(message: StartupReply | "ready"): void;
};
scope.onmessage = async (event) => {
  try {
    scope.postMessage(await handle(event.data));
  } catch (error) {
    scope.postMessage({ error: String(error) });
  }
};
scope.postMessage("ready");
