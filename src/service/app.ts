/**
 * The HTTP application of the reference Nailgun on Hono: the core REST API
 * under `/api/v1` (SPEC §4), then the routes of the loaded extensions. Every
 * path is served with or without its trailing slashes; routing reads the
 * request path only, never the Host header. Bad input answers 4xx naming the
 * field; an extension that throws answers 500 naming the extension; the
 * service keeps serving.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { TrieRouter } from "hono/router/trie-router";
import {
  describeError,
  type Extension,
  ExtensionError,
  type ExtensionManager,
  type ExtensionRoute,
  ExtensionVetoError,
  type LoadReport,
  type Logger,
  type RouteSignature,
  withTimeLimit,
} from "@nailgun/extensions";
import { readBody, type ServedResponses } from "./_body.ts";
import { DEFAULT_BODY_LIMIT, DEFAULT_REQUEST_TIMEOUT_MS, HttpError, json } from "./http.ts";
import { createLogger } from "./logger.ts";
import type { CoreRoute, ServiceState } from "./routes/_route.ts";
import { CLUSTER_ATTRIBUTE_ROUTES } from "./routes/cluster_attributes.ts";
import { CLUSTER_EXTENSION_ROUTES } from "./routes/cluster_extensions.ts";
import { CLUSTER_ROUTES } from "./routes/clusters.ts";
import { DEPLOYMENT_ROUTES } from "./routes/deployment.ts";
import { INFO_ROUTES } from "./routes/info.ts";
import { NODE_GROUP_ROUTES } from "./routes/nodegroups.ts";
import { DELIVERY_ROUTES } from "./delivery/routes.ts";
import type { DeliveryEngine } from "./delivery/delivery_loop.ts";
import { NODE_ROUTES } from "./routes/nodes.ts";
import { StoreConflictError, StoreUnavailableError, StoreValueError } from "./store/store.ts";
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
  ...DELIVERY_ROUTES,
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
  /** How long a request body may take to arrive, in milliseconds (then 408); default 30 000. */
  requestTimeoutMs?: number;
  /** The delivery loops of durable extensions (`delivery/`). */
  delivery?: DeliveryEngine;
}

/** The application: a request handler over the store and the extensions. */
export interface Nailgun {
  /** Answers one request; never rejects. */
  handler(request: Request): Promise<Response>;
  /** What the handler serves from. */
  readonly state: ServiceState;
  /**
   * Cuts what is still open at the end of a shutdown: request bodies still
   * arriving (answered 503) and extension responses still streaming.
   */
  cut(): void;
}

/** What each request carries through the Hono app. */
type Env = { Bindings: { url: URL; body?: Uint8Array<ArrayBuffer> } };

/** A path segment of an extension route: a literal, or a `:name` parameter. */
const ROUTE_SEGMENT = /^(?::[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9._~!$&'()+,;=@%-]+)$/;

/**
 * The path Hono routes on: the request path without its trailing slashes
 * (Nailgun serves every path with or without them), cut in one linear scan.
 */
function routedPath(request: Request, options?: { env?: { url: URL } }): string {
  const path = options?.env?.url.pathname ?? new URL(request.url).pathname;
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

/** A request path for messages and the log: at most 200 characters of it. */
function shown(path: string): string {
  return path.length <= 200 ? path : `${path.slice(0, 200)}…(${path.length} characters)`;
}

/** A route path as Hono registers it: below the prefix, without trailing slashes. */
function mounted(path: string): string {
  return routedPath(new Request(`http://localhost${API_PREFIX}${path}`));
}

/**
 * Makes the application: core routes, then extension routes, each request
 * logged in one line (method, path, status, milliseconds).
 *
 * @param options The store, the extensions, the report and the log.
 * @returns The application.
 *
 * @example Answer a request without a server
 * ```ts
 * import { loadExtensions } from "@nailgun/extensions";
 * import { createNailgun } from "./app.ts";
 * import { createLogger } from "./logger.ts";
 * import { openStore } from "./store/open_store.ts";
 * import assert from "node:assert/strict";
 * const store = await openStore(":memory:");
 * await store.migrateCore();
 * const { manager, report } = await loadExtensions({
 *   config: { "nailgun.extensions": { load: [], discover: false } },
 * });
 * const app = createNailgun({ store, manager, report, logger: createLogger({ level: "silent" }) });
 * const response = await app.handler(new Request("http://localhost/api/v1/nodes//"));
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
  const closing = new AbortController();
  const state: ServiceState = {
    store: options.store,
    manager,
    report: options.report,
    clusterDefaults: defaults.filter((name) => manager.has(name)),
    logger,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    closing: closing.signal,
    delivery: options.delivery,
  };
  const streams: ServedResponses = new Set();
  // Which methods each path allows, for the 405 answers and their Allow header.
  const methods = new TrieRouter<string>();
  const app = new Hono<Env>({ getPath: routedPath });

  // Every body is read (within the size and time limits) before any route
  // runs: no route holds a database lock while a client sends.
  app.use(async (c, next) => {
    c.env.body = await readBody(c.req.raw, state);
    await next();
  });
  for (const route of CORE_ROUTE_TABLE) {
    const path = mounted(route.path);
    methods.add("ALL", path, route.method);
    app.on(route.method, path, (c) =>
      route.handle({
        request: c.req.raw,
        params: c.req.param(),
        url: c.env.url,
        body: c.env.body,
        state,
      }));
  }
  for (const { extension } of manager.entries) {
    for (const route of extension.routes ?? []) {
      const segments = route.path.split("/").filter((part) => part !== "");
      if (!route.path.startsWith("/") || !segments.every((part) => ROUTE_SEGMENT.test(part))) {
        logger.error(
          `extension "${extension.name}": route "${route.method} ${route.path}" is not served: a path is made of "/"-separated names and ":name" parameters`,
        );
        continue;
      }
      const path = mounted(route.path);
      methods.add("ALL", path, route.method);
      app.on(route.method, path, (c) => serveExtension(extension, route, c));
    }
  }
  app.notFound((c) => {
    const { pathname } = c.env.url;
    const path = shown(pathname);
    if (pathname !== API_PREFIX && !pathname.startsWith(`${API_PREFIX}/`)) {
      throw new HttpError(404, `Cannot find "${path}": the API is under ${API_PREFIX}/`);
    }
    const [matched] = methods.match("ALL", routedPath(c.req.raw, { env: c.env }));
    const allowed = [...new Set(matched.map(([method]) => method))];
    if (allowed.length === 0) throw new HttpError(404, `Cannot find "${path}": no such route`);
    throw new HttpError(
      405,
      `Cannot ${c.req.method} "${path}": the method is not allowed: allowed are ${
        allowed.join(", ")
      }`,
      {},
      { allow: allowed.join(", ") },
    );
  });
  app.onError((error, c) => failure(c.req.raw, c.env.url, error));

  async function serveExtension(
    extension: Extension,
    route: ExtensionRoute,
    c: Context<Env>,
  ): Promise<Response> {
    const where = `route "${route.method} ${route.path}"`;
    const { body, url } = c.env;
    const request = body === undefined ? c.req.raw : new Request(c.req.raw, { body });
    const call = () => route.handler.call(route, request, { params: c.req.param(), url });
    let response: unknown;
    try {
      // In the extension's async context, time limit included: a failure or
      // a time-out counts in its health.
      response = await manager.runAs(
        extension.name,
        () => withTimeLimit(call, manager.handlerTimeoutMs),
      );
    } catch (error) {
      if (error instanceof HttpError) throw error;
      logger.error(`extension "${extension.name}" failed in ${where}: ${describeError(error)}`);
      return json({
        message: `Extension "${extension.name}" failed in ${where}: ${describeError(error)}`,
        extension: extension.name,
      }, 500);
    }
    if (!(response instanceof Response)) {
      const message = `Extension "${extension.name}" failed in ${where}: it answered ${
        describeError(response)
      } instead of a Response`;
      logger.error(message);
      return json({ message, extension: extension.name }, 500);
    }
    return cuttable(response, streams);
  }

  function failure(request: Request, url: URL, error: unknown): Response {
    if (error instanceof HttpError) return error.toResponse();
    if (error instanceof StoreConflictError) {
      return json({ message: error.message, field: error.field }, 409);
    }
    if (error instanceof StoreValueError) {
      return json({ message: error.message, field: error.field }, 400);
    }
    if (error instanceof StoreUnavailableError) {
      logger.warn(`${request.method} ${shown(url.pathname)}: ${error.message}`);
      return json({ message: error.message }, 503, {
        "retry-after": String(error.retryAfterSeconds),
      });
    }
    if (error instanceof ExtensionVetoError) {
      return json({ message: error.message, extension: error.extension, hook: error.hook }, 409);
    }
    if (error instanceof ExtensionError) {
      logger.error(error.message);
      return json({ message: error.message, extension: error.extension }, 500);
    }
    logger.error(
      `${request.method} ${shown(url.pathname)} failed: ${
        error instanceof Error ? error.stack ?? describeError(error) : describeError(error)
      }`,
    );
    return json({
      message: `Cannot ${request.method} "${shown(url.pathname)}": internal error: ${
        describeError(error)
      }`,
    }, 500);
  }

  async function handler(request: Request): Promise<Response> {
    const started = performance.now();
    // Deno.serve builds request.url from the Host header: one that holds a
    // path, a query or a fragment would move the request to another route.
    const host = request.headers.get("host") ?? "";
    if (/[/?#\\]/.test(host)) {
      const response = json({
        message:
          `Cannot read the request: the Host header must name a host and a port only: current value is ${
            JSON.stringify(host)
          }`,
        field: "host",
      }, 400);
      logger.info(`${request.method} - 400 host ${(performance.now() - started).toFixed(1)}ms`);
      return response;
    }
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return json({ message: `Cannot read the request URL "${request.url}"` }, 400);
    }
    let response: Response;
    try {
      response = await app.fetch(request, { url });
    } catch (error) {
      response = failure(request, url, error);
    }
    const elapsed = (performance.now() - started).toFixed(1);
    logger.info(`${request.method} ${shown(url.pathname)} ${response.status} ${elapsed}ms`);
    return response;
  }

  function cut(): void {
    closing.abort();
    for (const cutOff of streams) cutOff();
    streams.clear();
  }

  return { handler, state, cut };
}

/**
 * The response of an extension, with a body that {@linkcode Nailgun.cut}
 * can end: a stream that never finishes would otherwise hold the shutdown.
 */
function cuttable(response: Response, streams: ServedResponses): Response {
  const source = response.body;
  if (!source) return response;
  const reader = source.getReader();
  let cutOff = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      cutOff = () => {
        controller.error(new Error("the service is shutting down"));
        reader.cancel("the service is shutting down").catch(() => {});
      };
      streams.add(cutOff);
    },
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        streams.delete(cutOff); // the extension's stream failed: nothing left to cut
        throw error;
      }
      if (chunk.done) {
        streams.delete(cutOff);
        controller.close();
      } else {
        controller.enqueue(chunk.value);
      }
    },
    cancel(reason) {
      streams.delete(cutOff);
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
