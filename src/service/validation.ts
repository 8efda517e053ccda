/**
 * Request validation: a zod schema checks a body or a query, and the first
 * problem becomes a 400 answer that names the field and the reason, e.g.
 * `{"message": "Cannot create node: \"mac\" is required", "field": "mac"}`.
 *
 * @module
 */
import { formatValue } from "@nailgun/extensions";
import { z } from "zod";
import { HttpError } from "./http.ts";

/**
 * Checks a request body against a schema.
 *
 * @param schema The schema of the body.
 * @param body The parsed JSON body (`undefined` when empty).
 * @param action What the request does, for the message, e.g. `create node`.
 * @returns The parsed value.
 * @throws {HttpError} 400 naming the field, the reason and the current value.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { parseBody } from "./validation.ts";
 * import { HttpError } from "./http.ts";
 * import assert from "node:assert/strict";
 * const schema = z.object({ mac: z.string({ error: "must be a string" }) });
 * assert.throws(() => parseBody(schema, {}, "create node"), (error) =>
 *   error instanceof HttpError && error.status === 400 && error.extra.field === "mac" &&
 *   error.message === 'Cannot create node: "mac" is required');
 * ```
 */
export function parseBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
  action: string,
): z.output<S> {
  if (body === undefined) {
    throw new HttpError(400, `Cannot ${action}: the request has no JSON body`, { field: "body" });
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw invalidInput(schema, body, result.error.issues[0]!, action, "body");
}

/**
 * Checks the query of a request against a schema of its parameters (each
 * parameter's first value, as a string).
 *
 * @param schema The schema of the query parameters.
 * @param url The request URL.
 * @param action What the request does, for the message.
 * @returns The parsed parameters.
 * @throws {HttpError} 400 naming the parameter, the reason and the current value.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { parseQuery } from "./validation.ts";
 * import assert from "node:assert/strict";
 * const schema = z.object({ page: z.string().optional() });
 * assert.deepEqual(parseQuery(schema, new URL("http://x/?page=2"), "list nodes"), { page: "2" });
 * ```
 */
export function parseQuery<S extends z.ZodType>(schema: S, url: URL, action: string): z.output<S> {
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) if (!(key in query)) query[key] = value;
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  // Report the parameter, not the position inside its parsed value.
  const path = issue.path.length > 0 ? [issue.path[0]!] : issue.path;
  const reason = issue.code === "unrecognized_keys" ? undefined : issue.message;
  const field = issue.code === "unrecognized_keys" ? issue.keys[0]! : String(path[0] ?? "query");
  const value = query[field];
  throw invalid(
    action,
    field,
    reason ?? "is not a parameter of this request",
    value,
    field in query,
  );
}

/**
 * The 400 error of an invalid value, naming the field.
 *
 * @param schema The schema that rejected it (lists the known fields).
 * @param input What was checked.
 * @param issue The first problem zod found.
 * @param action What the request does.
 * @param root How to name the input itself when the problem is at its root.
 * @returns The error to throw.
 */
export function invalidInput(
  schema: z.ZodType,
  input: unknown,
  issue: z.core.$ZodIssue,
  action: string,
  root: string,
): HttpError {
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0]!;
    const path = [...issue.path, key];
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
    return new HttpError(
      400,
      `Cannot ${action}: "${formatField(path, root)}" is not a field that can be set here${
        known.length ? `: fields are ${known.join(", ")}` : ""
      }`,
      { field: formatField(path, root) },
    );
  }
  const parent = valueAt(input, issue.path.slice(0, -1));
  const last = issue.path.at(-1);
  const present = issue.path.length === 0 ||
    (parent !== null && typeof parent === "object" && last !== undefined &&
      Object.hasOwn(parent, last as PropertyKey));
  return invalid(
    action,
    formatField(issue.path, root),
    issue.message,
    valueAt(input, issue.path),
    present,
  );
}

function invalid(
  action: string,
  field: string,
  reason: string,
  value: unknown,
  present: boolean,
): HttpError {
  const message = present
    ? `Cannot ${action}: "${field}" ${reason}: current value is ${formatValue(value)}`
    : `Cannot ${action}: "${field}" is required`;
  return new HttpError(400, message, { field });
}

/**
 * Renders a path inside a body, e.g. `extensions[1]` or `meta.disks`.
 *
 * @param path The zod path.
 * @param root The name of the body itself.
 * @returns The field.
 */
export function formatField(path: readonly PropertyKey[], root = "body"): string {
  return path.length === 0 ? root : fieldName(path);
}

/** The value at `path` inside `root`, or `undefined` when the path leads nowhere. */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A path as a field name, e.g. `extensions[1]` or `meta.disks`. */
function fieldName(path: readonly PropertyKey[]): string {
  return path.map((key, index) =>
    typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`
  ).join("");
}
