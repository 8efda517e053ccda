/**
 * A small router over `URLPattern`: routes are tried in the order they were
 * added (core routes first, then extension routes), and every path matches
 * with or without its trailing slash, as in Nailgun.
 *
 * @module
 */

/** What a request path matched. */
export type RouteMatch<T> =
  | { kind: "found"; value: T; params: Record<string, string> }
  | { kind: "method-not-allowed"; allowed: string[] }
  | { kind: "not-found" };

interface Entry<T> {
  method: string;
  pattern: URLPattern;
  value: T;
}

/**
 * Matches a method and a path to the first route added for them.
 *
 * @example
 * ```ts
 * import { Router } from "./router.ts";
 * import assert from "node:assert/strict";
 * const router = new Router<string>();
 * router.add("GET", "/nodes/:id/", "one node");
 * const match = router.match("GET", "/nodes/7");
 * assert.equal(match.kind, "found");
 * assert.deepEqual(match.kind === "found" && match.params, { id: "7" });
 * assert.equal(router.match("PUT", "/nodes/7/").kind, "method-not-allowed");
 * ```
 */
export class Router<T> {
  readonly #entries: Entry<T>[] = [];

  /**
   * Adds a route after those already added.
   *
   * @param method The HTTP method.
   * @param path A `URLPattern` path such as `/clusters/:id/`; a trailing slash is optional.
   * @param value What a match answers (a handler).
   * @throws {TypeError} When the path is not a valid pattern.
   */
  add(method: string, path: string, value: T): void {
    const pathname = trimSlash(path);
    this.#entries.push({
      method: method.toUpperCase(),
      pattern: new URLPattern({ pathname }),
      value,
    });
  }

  /**
   * Finds the first route for a method and path.
   *
   * @param method The request method.
   * @param path The request path, with or without its trailing slash.
   * @returns The route and its parameters, the methods the path allows, or not found.
   */
  match(method: string, path: string): RouteMatch<T> {
    const pathname = trimSlash(path);
    const allowed: string[] = [];
    for (const entry of this.#entries) {
      const result = entry.pattern.exec({ pathname });
      if (!result) continue;
      if (entry.method !== method) {
        if (!allowed.includes(entry.method)) allowed.push(entry.method);
        continue;
      }
      return { kind: "found", value: entry.value, params: decodeGroups(result.pathname.groups) };
    }
    return allowed.length > 0 ? { kind: "method-not-allowed", allowed } : { kind: "not-found" };
  }
}

function trimSlash(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

function decodeGroups(groups: Record<string, string | undefined>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(groups)) {
    if (value === undefined) continue;
    try {
      params[key] = decodeURIComponent(value);
    } catch {
      params[key] = value;
    }
  }
  return params;
}
