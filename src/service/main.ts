/**
 * `deno task run`: starts the reference Nailgun. It opens the database
 * (`DATABASE_URL`, default `.nailgun/nailgun.db`), brings the core schema up
 * to date, loads the extensions of `extensions.json` (`EXTENSIONS_CONFIG`)
 * and of the import map, applies their migrations, prints the load report
 * and serves on `HOST`:`PORT` (default 127.0.0.1:8000). SIGINT (Ctrl-C) or
 * SIGTERM stops it gracefully: no new connections, in-flight requests finish
 * (those still open after `SHUTDOWN_TIMEOUT_MS`, default 10 000, are cut),
 * extensions are torn down in reverse order, the database is closed, and the
 * exit code is 0. A request body that takes longer than `REQUEST_TIMEOUT_MS`
 * (default 30 000) to arrive answers 408.
 *
 * @module
 */
import { resolve } from "node:path";
import {
  createSandboxLauncher,
  describeError,
  ExtensionManager,
  loadExtensions,
  type LoadReport,
  type Logger,
  type ModuleNamespace,
} from "@nailgun/extensions";
import { CORE_ROUTES, createNailgun } from "./app.ts";
import type { DeliveryEngine } from "./delivery/delivery_loop.ts";
import { startDelivery } from "./delivery/start.ts";
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from "./http.ts";
import { createLogger, isLogLevel } from "./logger.ts";
import { openStore, parseDatabaseUrl, redact } from "./store/open_store.ts";
import type { Store } from "./store/store.ts";
import { formatLoadReport } from "./report_table.ts";

/** Options of {@linkcode startNailgun}. */
export interface StartOptions {
  /** The port; `0` picks a free one; default 8000. */
  port?: number;
  /** The address to listen on; default `127.0.0.1`. */
  hostname?: string;
  /** The database URL (see `parseDatabaseUrl`); default `.nailgun/nailgun.db`. */
  databaseUrl?: string;
  /** The `extensions.json` file; default `./extensions.json` (none if it does not exist). */
  configFile?: string;
  /**
   * Imports an extension module. main.ts passes its own `import()`, so that
   * bare specifiers resolve with the import map of the project it runs in.
   */
  importModule?: (specifier: string) => Promise<ModuleNamespace>;
  /** Any load failure stops the start (overrides the config's `strict`). */
  strict?: boolean;
  /** The service log; default a console logger. */
  logger?: Logger;
  /** The largest request body accepted, in bytes; default 1 MiB. */
  bodyLimit?: number;
  /** How long a request body may take to arrive, in milliseconds (then 408); default 30 000. */
  requestTimeoutMs?: number;
  /**
   * How long `shutdown()` waits for open responses and streams, in
   * milliseconds, before it cuts them; default 10 000.
   */
  shutdownTimeoutMs?: number;
  /**
   * How long `shutdown()` keeps serving, in milliseconds, before it closes
   * the connections, so that requests that already reached the service are
   * read and answered (with `Connection: close`); default 0. `main.ts` uses
   * {@linkcode SHUTDOWN_GRACE_MS}.
   */
  shutdownGraceMs?: number;
}

/** A running service. */
export interface RunningNailgun {
  /** The base URL, e.g. `http://127.0.0.1:8000`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** The database. */
  readonly store: Store;
  /** The loaded extensions. */
  readonly manager: ExtensionManager;
  /** What loading did. */
  readonly report: LoadReport;
  /**
   * Stops it: no new connections, in-flight requests finish (cut after the
   * shutdown timeout), teardown in reverse order, database closed.
   */
  shutdown(): Promise<void>;
  /** Settles when the service has stopped. */
  readonly finished: Promise<void>;
}

/**
 * The grace of `deno task run` on SIGINT and SIGTERM, in milliseconds:
 * Deno.serve's `shutdown()` closes a keep-alive connection whose next request
 * it has not read yet, so the service first serves this long.
 */
export const SHUTDOWN_GRACE_MS = 100;

const defaultImport = (specifier: string): Promise<ModuleNamespace> => import(specifier);

/**
 * Starts the service: database, core schema, extensions (with their
 * migrations), HTTP server.
 *
 * @param options Port, database, config and log.
 * @returns The running service.
 * @throws {ExtensionConfigError} When `extensions.json` is malformed.
 * @throws {ExtensionLoadError} In strict mode, when an extension failed to load.
 * @throws {Error} When the database cannot be opened or the port is taken (naming the port and `PORT`).
 *
 * @example Start on a free port with an in-memory database
 * ```ts
 * import { startNailgun } from "./main.ts";
 * import { createLogger, isLogLevel } from "./logger.ts";
 * import assert from "node:assert/strict";
 * const service = await startNailgun({
 *   port: 0,
 *   databaseUrl: ":memory:",
 *   configFile: await Deno.makeTempFile({ suffix: ".json" }).then(async (file) => {
 *     await Deno.writeTextFile(file, '{ "nailgun.extensions": [] }');
 *     return file;
 *   }),
 *   logger: createLogger({ level: "silent" }),
 * });
 * try {
 *   const response = await fetch(`${service.url}/api/v1/version/`);
 *   assert.equal((await response.json()).api, "1");
 * } finally {
 *   await service.shutdown();
 * }
 * ```
 */
export async function startNailgun(options: StartOptions = {}): Promise<RunningNailgun> {
  const logger = options.logger ?? createLogger();
  // Until the extensions are loaded, a fault nobody can be blamed for (an
  // extension's top-level code or setup leaving a rejection behind, a driver's
  // stray error) is logged as the host's; then the manager's guard blames it.
  let guard: Disposable = new ExtensionManager([], { logger }).guardFaults();
  let store: Store;
  try {
    store = await openStore(options.databaseUrl);
  } catch (error) {
    guard[Symbol.dispose]();
    throw error;
  }
  let manager: ExtensionManager | undefined;
  let delivery: DeliveryEngine | undefined;
  try {
    await store.migrateCore();
    const configFile = resolve(options.configFile ?? "extensions.json");
    const database = parseDatabaseUrl(options.databaseUrl);
    const loaded = await loadExtensions({
      configFile: options.configFile,
      importModule: options.importModule ?? defaultImport,
      services: { logger, database: store.database },
      reservedRoutes: CORE_ROUTES,
      migrate: (extension, source) => store.migrateExtension(extension, source),
      sandbox: createSandboxLauncher({
        logger,
        onFault: (name, error, report) => manager?.recordFault(name, error, report),
        // No sandboxed extension may import the config (every extension's
        // settings) or the SQLite file, wherever they are.
        hostFiles: database.dialect === "sqlite" && database.path !== ":memory:"
          ? [configFile, resolve(database.path)]
          : [configFile],
      }),
      strict: options.strict,
    });
    manager = loaded.manager;
    const early = guard;
    guard = manager.guardFaults();
    early[Symbol.dispose]();
    const { report, config } = loaded;
    delivery = await startDelivery(store, manager, { delivery: config.delivery, logger });
    const app = createNailgun({
      delivery,
      store,
      manager,
      report,
      config,
      logger,
      bodyLimit: options.bodyLimit,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    const hostname = options.hostname ?? "127.0.0.1";
    const wanted = options.port ?? 8000;
    let draining = false;
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        port: wanted,
        hostname,
        onListen: () => {},
        handler: async (request) => {
          const response = await app.handler(request);
          if (draining) {
            try {
              response.headers.set("connection", "close");
            } catch {
              // an extension answered with immutable headers: the connection closes at shutdown
            }
          }
          return response;
        },
      });
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
      throw new Error(
        `Cannot listen on ${hostname}:${wanted}: the port is in use by another process: stop it, or choose another port with PORT, e.g. PORT=${
          wanted + 1
        }`,
        { cause: error },
      );
    }
    const { port } = server.addr as Deno.NetAddr;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    const running = manager;
    let stopping: Promise<void> | undefined;
    const shutdown = (): Promise<void> =>
      stopping ??= (async () => {
        // Deno.serve's shutdown() closes a keep-alive connection whose next
        // request it has not read yet: serve a moment longer so that the
        // requests that already arrived are answered, and tell clients to
        // stop reusing their connections.
        const grace = options.shutdownGraceMs ?? 0;
        if (grace > 0) {
          draining = true;
          await new Promise((resolve) => setTimeout(resolve, grace));
        }
        await stopServing(server, app.cut, options.shutdownTimeoutMs, logger);
        await delivery?.stop();
        await running.teardown(); // logs each failure itself
        await closeWithin(store, CLOSE_GRACE_MS, logger);
        guard[Symbol.dispose]();
        logger.info("stopped");
      })();
    return {
      url: `http://${host}:${port}`,
      port,
      store,
      manager,
      report,
      shutdown,
      get finished() {
        return server.finished.then(() => stopping);
      },
    };
  } catch (error) {
    await delivery?.stop();
    await manager?.teardown();
    await store.close();
    guard[Symbol.dispose]();
    throw error;
  }
}

/**
 * Stops the server: it closes idle connections and waits for the open ones;
 * those still open after the timeout (a stream that never ends, a body that
 * never arrives) are cut, and the wait goes on a short while more.
 */
async function stopServing(
  server: Deno.HttpServer,
  cut: () => void,
  timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS,
  logger: Logger,
): Promise<void> {
  const finished = server.shutdown();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const within = (ms: number) =>
    Promise.race([
      finished.then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms)),
    ]).finally(() => clearTimeout(timer));
  if (await within(timeoutMs)) return;
  logger.warn(
    `shutdown: responses still open after ${timeoutMs} ms (SHUTDOWN_TIMEOUT_MS): cutting them`,
  );
  cut();
  if (!(await within(CUT_GRACE_MS))) {
    logger.warn(
      `shutdown: requests still running ${CUT_GRACE_MS} ms after the cut: stopping anyway`,
    );
  }
}

/** How long a shutdown waits, once it cut what was open, for the server to let go. */
const CUT_GRACE_MS = 1_000;

/** How long shutdown waits for the database to close (a request cut mid-transaction holds it). */
const CLOSE_GRACE_MS = 2_000;

/** Closes the store, but waits at most `ms`: the process ends all the same, and says so. */
async function closeWithin(store: Store, ms: number, logger: Logger): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    store.close().then(() => true, (error) => {
      logger.warn(`shutdown: the database did not close cleanly: ${describeError(error)}`);
      return true;
    }),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]).finally(() => clearTimeout(timer));
  if (!closed) {
    logger.warn(
      `shutdown: the database is still busy ${ms} ms after teardown (a transaction that was cut): stopping anyway; what it did not commit is rolled back`,
    );
  }
}

/** Reads a time limit in milliseconds from the environment; `undefined` when unset. */
function millisecondsFrom(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0) {
    throw new RangeError(
      `Cannot start Nailgun: ${name} must be a whole number of milliseconds: current value is "${value}"`,
    );
  }
  return ms;
}

async function main(): Promise<number> {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const level = env("LOG_LEVEL");
  const logger = createLogger({ level: isLogLevel(level) ? level : "info" });
  const portText = env("PORT") ?? "8000";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(
      `Cannot start Nailgun: PORT must be a port number: current value is "${portText}"`,
    );
    return 1;
  }
  const databaseUrl = env("DATABASE_URL");
  let requestTimeoutMs: number | undefined;
  let shutdownTimeoutMs: number | undefined;
  try {
    requestTimeoutMs = millisecondsFrom("REQUEST_TIMEOUT_MS", env("REQUEST_TIMEOUT_MS"));
    shutdownTimeoutMs = millisecondsFrom("SHUTDOWN_TIMEOUT_MS", env("SHUTDOWN_TIMEOUT_MS"));
  } catch (error) {
    console.error((error as Error).message);
    return 1;
  }
  let service: RunningNailgun;
  try {
    const location = parseDatabaseUrl(databaseUrl);
    logger.info(
      `database: ${location.dialect === "sqlite" ? location.path : redact(location.url)}`,
    );
    service = await startNailgun({
      port,
      hostname: env("HOST") ?? "127.0.0.1",
      databaseUrl,
      configFile: env("EXTENSIONS_CONFIG"),
      logger,
      shutdownGraceMs: SHUTDOWN_GRACE_MS,
      requestTimeoutMs,
      shutdownTimeoutMs,
    });
  } catch (error) {
    console.error(`Cannot start Nailgun: ${describeError(error)}`);
    return 1;
  }
  console.log(formatLoadReport(service.report));
  logger.info(`Nailgun listening on ${service.url}/api/v1/ (Ctrl-C stops it)`);
  let signals = 0;
  const stop = (signal: Deno.Signal) => {
    signals++;
    if (signals > 1) {
      logger.warn(`${signal} again: exiting without waiting`);
      Deno.exit(1);
    }
    logger.info(`${signal}: shutting down`);
    service.shutdown().catch((error) => logger.error(`shutdown failed: ${describeError(error)}`));
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  await service.finished;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
