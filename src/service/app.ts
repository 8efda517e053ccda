/**
 * The HTTP application of the reference Nailgun: the core REST API under
 * `/api/v1` (SPEC §4), then the routes of the loaded extensions. Bad input
 * answers 4xx naming the field; an extension that throws answers 500 naming
 * the extension; the service keeps serving.
 *
 * @module
 */
import { withTimeLimit } from "../dispatcher.ts";
import { describeError, ExtensionError, ExtensionVetoError } from "../errors.ts";
import type { Extension, ExtensionRoute, Logger } from "../extension.ts";
import type { LoadReport } from "../loader.ts";
import type { ExtensionManager } from "../manager.ts";
import type { RouteSignature } from "../routes.ts";
import { DEFAULT_BODY_LIMIT, HttpError, json } from "./http.ts";
import { createLogger } from "./logger.ts";
import { Router } from "./router.ts";
import type { CoreRoute, ServiceState } from "./routes/_route.ts";
import { CLUSTER_ATTRIBUTE_ROUTES } from "./routes/cluster_attributes.ts";
import { CLUSTER_EXTENSION_ROUTES } from "./routes/cluster_extensions.ts";
import { CLUSTER_ROUTES } from "./routes/clusters.ts";
import { DEPLOYMENT_ROUTES } from "./routes/deployment.ts";
import { INFO_ROUTES } from "./routes/info.ts";
import { NODE_GROUP_ROUTES } from "./routes/nodegroups.ts";
import { NODE_ROUTES } from "./routes/nodes.ts";
import { StoreConflictError } from "./store/store.ts";
import type { Store } from "./store/store.ts";

/** Where the REST API is mounted. */
export const API_PREFIX = "/api/v1";

const CORE_ROUTE_TABLE: readonly CoreRoute[] = [
  ...INFO_ROUTES,
  ...CLUSTER_ROUTES,
  ...CLUSTER_EXTENSION_ROUTES,
  ...CLUSTER_ATTRIBUTE_ROUTES,
  ...DEPLOYMENT_ROUTES,
  ...NODE_ROUTES,
  ...NODE_GROUP_ROUTES,
];

/**
 * The routes the core API serves, relative to `/api/v1`: pass them to
 * `loadExtensions({ reservedRoutes })` so that an extension route that
 * collides with one is refused at load.
 */
export const CORE_ROUTES: readonly RouteSignature[] = CORE_ROUTE_TABLE.map((
  { method, path },
) => ({ method, path }));

/** Options of {@linkcode createNailgun}. */
export interface NailgunOptions {
  /** The database, core schema migrated. */
  store: Store;
  /** The loaded extensions. */
  manager: ExtensionManager;
  /** What loading did (`GET /api/v1/extensions/status/`). */
  report: LoadReport;
  /** The loading options; `clusterDefaults` are enabled on new clusters that name none. */
  config?: { clusterDefaults?: readonly string[] };
  /** The service log; default a console logger. */
  logger?: Logger;
  /** The largest request body accepted, in bytes; default 1 MiB. */
  bodyLimit?: number;
}

/** The application: a request handler over the store and the extensions. */
export interface Nailgun {
  /** Answers one request; never rejects. */
  handler(request: Request): Promise<Response>;
  /** What the handler serves from. */
  readonly state: ServiceState;
}

type Served =
  | { kind: "core"; route: CoreRoute }
  | { kind: "extension"; extension: Extension; route: ExtensionRoute };

/**
 * Makes the application: core routes, then extension routes, each request
 * logged in one line (method, path, status, milliseconds).
 *
 * @param options The store, the extensions, the report and the log.
 * @returns The application.
 *
 * @example Answer a request without a server
 * ```ts
 * import { ExtensionManager } from "../manager.ts";
 * import { createNailgun } from "./app.ts";
 * import { createLogger } from "./logger.ts";
 * import { openSqliteStore } from "./store/sql_store.ts";
 * import assert from "node:assert/strict";
 * const store = await openSqliteStore(":memory:");
 * await store.migrateCore();
 * const app = createNailgun({
 *   store,
 *   manager: new ExtensionManager([]),
 *   report: { loaded: [], failed: [], skipped: [] },
 *   logger: createLogger({ level: "silent" }),
 * });
 * const response = await app.handler(new Request("http://localhost/api/v1/nodes"));
 * assert.equal(response.status, 200);
 * assert.deepEqual(await response.json(), []);
 * await store.close();
 * ```
 */
export function createNailgun(options: NailgunOptions): Nailgun {
  const logger = options.logger ?? createLogger();
  const { manager } = options;
  const defaults = options.config?.clusterDefaults ?? [];
  const missing = defaults.filter((name) => !manager.has(name));
  if (missing.length > 0) {
    logger.warn(
      `clusterDefaults names extensions that are not loaded, left out of new clusters: ${
        missing.join(", ")
      }`,
    );
  }
  const state: ServiceState = {
    store: options.store,
    manager,
    report: options.report,
    clusterDefaults: defaults.filter((name) => manager.has(name)),
    logger,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
  };
  const router = new Router<Served>();
  for (const route of CORE_ROUTE_TABLE) {
    router.add(route.method, route.path, { kind: "core", route });
  }
  for (const { extension } of manager.entries) {
    for (const route of extension.routes ?? []) {
      try {
        router.add(route.method, route.path, { kind: "extension", extension, route });
      } catch (error) {
        logger.error(
          `extension "${extension.name}": route "${route.method} ${route.path}" is not served: ${
            describeError(error)
          }`,
        );
      }
    }
  }

  async function answer(request: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    if (path !== API_PREFIX && !path.startsWith(`${API_PREFIX}/`)) {
      throw new HttpError(404, `Cannot find "${path}": the API is under ${API_PREFIX}/`);
    }
    const match = router.match(request.method, path.slice(API_PREFIX.length) || "/");
    if (match.kind === "not-found") {
      throw new HttpError(404, `Cannot find "${path}": no such route`);
    }
    if (match.kind === "method-not-allowed") {
      throw new HttpError(
        405,
        `Cannot ${request.method} "${path}": the method is not allowed: allowed are ${
          match.allowed.join(", ")
        }`,
        {},
        { allow: match.allowed.join(", ") },
      );
    }
    const served = match.value;
    if (served.kind === "core") {
      return await served.route.handle({ request, params: match.params, url, state });
    }
    return await serveExtension(served.extension, served.route, request, match.params, url);
  }

  async function serveExtension(
    extension: Extension,
    route: ExtensionRoute,
    request: Request,
    params: Record<string, string>,
    url: URL,
  ): Promise<Response> {
    const where = `route "${route.method} ${route.path}"`;
    const tooLarge = () =>
      new HttpError(
        413,
        `Cannot read the request body: it is larger than the limit of ${state.bodyLimit} bytes`,
        { field: "body" },
      );
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > state.bodyLimit) throw tooLarge();
    // A body streamed without Content-Length is cut at the limit as it is read.
    let exceeded = false;
    let given = request;
    if (request.body) {
      let size = 0;
      const limit = state.bodyLimit;
      given = new Request(request, {
        body: request.body.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              size += chunk.byteLength;
              if (size > limit) {
                exceeded = true;
                controller.error(tooLarge());
              } else {
                controller.enqueue(chunk);
              }
            },
          }),
        ),
      });
    }
    let response: unknown;
    try {
      response = await withTimeLimit(
        () => route.handler.call(route, given, { params, url }),
        manager.handlerTimeoutMs,
      );
    } catch (error) {
      if (exceeded) throw tooLarge();
      if (error instanceof HttpError) throw error;
      logger.error(`extension "${extension.name}" failed in ${where}: ${describeError(error)}`);
      return json({
        message: `Extension "${extension.name}" failed in ${where}: ${describeError(error)}`,
        extension: extension.name,
      }, 500);
    }
    if (exceeded) throw tooLarge();
    if (!(response instanceof Response)) {
      const message = `Extension "${extension.name}" failed in ${where}: it answered ${
        describeError(response)
      } instead of a Response`;
      logger.error(message);
      return json({ message, extension: extension.name }, 500);
    }
    return response;
  }

  function failure(request: Request, url: URL, error: unknown): Response {
    if (error instanceof HttpError) return error.toResponse();
    if (error instanceof StoreConflictError) {
      return json({ message: error.message, field: error.field }, 409);
    }
    if (error instanceof ExtensionVetoError) {
      return json({ message: error.message, extension: error.extension, hook: error.hook }, 409);
    }
    if (error instanceof ExtensionError) {
      logger.error(error.message);
      return json({ message: error.message, extension: error.extension }, 500);
    }
    logger.error(
      `${request.method} ${url.pathname} failed: ${
        error instanceof Error ? error.stack ?? describeError(error) : describeError(error)
      }`,
    );
    return json({
      message: `Cannot ${request.method} "${url.pathname}": internal error: ${
        describeError(error)
      }`,
    }, 500);
  }

  async function handler(request: Request): Promise<Response> {
    const started = performance.now();
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return json({ message: `Cannot read the request URL "${request.url}"` }, 400);
    }
    let response: Response;
    try {
      response = await answer(request, url);
    } catch (error) {
      response = failure(request, url, error);
    }
    const elapsed = (performance.now() - started).toFixed(1);
    logger.info(`${request.method} ${url.pathname} ${response.status} ${elapsed}ms`);
    return response;
  }

  return { handler, state };
}
