/**
 * Route patterns and their collisions: an extension route that a core route
 * or an earlier extension's route would always answer first can never be
 * served, so loading refuses it.
 *
 * @module
 */
import type { RouteMethod } from "./extension.ts";

/** A method and a path pattern such as `/clusters/:cluster_id/`. */
export interface RouteSignature {
  /** The HTTP method. */
  method: RouteMethod;
  /** The path pattern; `:name` segments match any value. */
  path: string;
}

function segments(path: string): string[] {
  return path.replace(/\/+$/, "").split("/").filter((part) => part !== "");
}

/**
 * Whether some request path matches both patterns (with or without a
 * trailing slash), for the same method.
 *
 * @param a One route.
 * @param b The other route.
 * @returns `true` when they overlap.
 *
 * @example
 * ```ts
 * import { routesOverlap } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * assert.equal(routesOverlap({ method: "GET", path: "/nodes/:id/" }, { method: "GET", path: "/nodes/summary" }), true);
 * assert.equal(routesOverlap({ method: "GET", path: "/nodes/:id/" }, { method: "PUT", path: "/nodes/:id/" }), false);
 * ```
 */
export function routesOverlap(a: RouteSignature, b: RouteSignature): boolean {
  if (a.method !== b.method) return false;
  const left = segments(a.path);
  const right = segments(b.path);
  if (left.length !== right.length) return false;
  return left.every((part, index) => {
    const other = right[index]!;
    return part === other || part.startsWith(":") || other.startsWith(":");
  });
}

/**
 * Renders a route for messages, e.g. `GET /clusters/:id/`.
 *
 * @param route The route.
 * @returns The method and the path.
 */
export function formatRoute(route: RouteSignature): string {
  return `${route.method} ${route.path}`;
}
