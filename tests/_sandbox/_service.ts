// The reference service over an in-memory SQLite database with the sandbox
// launcher wired in, on a free loopback port, for the sandbox tests.
import { fileURLToPath } from "node:url";
import {
  type ExtensionManager,
  type LoadEntry,
  loadExtensions,
  type LoadReport,
  type Logger,
} from "../../mod.ts";
import { createSandboxLauncher, type SandboxLauncherOptions } from "../../src/sandbox/launcher.ts";
import { CORE_ROUTES, createNailgun } from "../../src/service/app.ts";
import { openSqliteStore } from "../../src/service/store/sql_store.ts";

/** A running test service. */
export interface SandboxedNailgun {
  /** The API's base URL, ending in `/api/v1`. */
  api: string;
  manager: ExtensionManager;
  report: LoadReport;
  /** Stops the server, tears the extensions down, closes the database. */
  close(): Promise<void>;
}

/**
 * Starts the service with `load` (paths relative to tests/_sandbox/). The
 * faults the sandbox reports go to `manager.recordFault()`, unless
 * `launcher.onFault` says otherwise.
 */
export async function startSandboxedNailgun(options: {
  load: (string | LoadEntry)[];
  settings?: Record<string, Record<string, unknown>>;
  handlerTimeoutMs: number;
  breaker?: { failures?: number; cooldownMs?: number };
  logger: Logger;
  launcher?: SandboxLauncherOptions;
}): Promise<SandboxedNailgun> {
  const { logger, handlerTimeoutMs } = options;
  // The launcher is made before the manager: its onFault finds the manager here.
  const host: { manager?: ExtensionManager } = {};
  const store = await openSqliteStore(":memory:");
  await store.migrateCore();
  const { manager, report, config } = await loadExtensions({
    configFile: fileURLToPath(new URL("./extensions.json", import.meta.url)),
    importMap: { file: "<none>", imports: {} },
    config: {
      load: options.load,
      discover: false,
      handlerTimeoutMs,
      settings: options.settings,
      breaker: options.breaker,
    },
    sandbox: createSandboxLauncher({
      logger,
      handlerTimeoutMs,
      onFault: (name, error, report) => host.manager?.recordFault(name, error, report),
      ...options.launcher,
    }),
    services: { logger, database: store.database },
    reservedRoutes: CORE_ROUTES,
    migrate: (extension, source) => store.migrateExtension(extension, source),
  });
  host.manager = manager;
  const app = createNailgun({ store, manager, report, config, logger });
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    handler: app.handler,
  });
  return {
    api: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/api/v1`,
    manager,
    report,
    async close() {
      await server.shutdown();
      await manager.teardown();
      await store.close();
    },
  };
}

/** Sends a JSON request and reads the JSON answer. */
export async function call(
  url: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? undefined : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
