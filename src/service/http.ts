/**
 * HTTP helpers of the reference Nailgun: JSON answers, errors that carry
 * their status, and JSON request bodies checked for what cannot be stored.
 *
 * @module
 */

/** The largest request body the service reads, in bytes (1 MiB). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** How long a request body may take to arrive, in milliseconds (`REQUEST_TIMEOUT_MS`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * How long a shutdown waits for open responses and streams, in milliseconds
 * (`SHUTDOWN_TIMEOUT_MS`), before it cuts them.
 */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * The deepest nesting of arrays and objects a request body may have. Deeper
 * values would overflow the stack of the code that copies, freezes or
 * serializes them, after the change was stored.
 */
export const MAX_BODY_DEPTH = 64;

/**
 * An error that answers a request: its status and JSON body
 * `{"message": …, …extra}`.
 *
 * @example
 * ```ts
 * import { HttpError } from "./http.ts";
 * import assert from "node:assert/strict";
 * const error = new HttpError(404, "Cannot find node 7: it does not exist");
 * assert.equal(error.toResponse().status, 404);
 * ```
 */
export class HttpError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** Members of the JSON body beside `message`, e.g. `field`. */
  readonly extra: Record<string, unknown>;
  /** Headers of the answer, e.g. `Allow`. */
  readonly headers: Record<string, string>;

  /**
   * @param status The HTTP status.
   * @param message What is wrong.
   * @param extra Members of the JSON body beside `message`.
   * @param headers Headers of the answer.
   */
  constructor(
    status: number,
    message: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.extra = extra;
    this.headers = headers;
  }

  /**
   * The answer this error stands for.
   *
   * @returns A JSON response with the status, the message and the extra members.
   */
  toResponse(): Response {
    return json({ message: this.message, ...this.extra }, this.status, this.headers);
  }
}

/**
 * A JSON answer.
 *
 * @param body What to send.
 * @param status The HTTP status; default 200.
 * @param headers More headers.
 * @returns The response.
 *
 * @example
 * ```ts
 * import { json } from "./http.ts";
 * import assert from "node:assert/strict";
 * const response = json({ ok: true }, 201);
 * assert.equal(response.headers.get("content-type"), "application/json");
 * assert.deepEqual(await response.json(), { ok: true });
 * ```
 */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * An empty answer, e.g. to a DELETE.
 *
 * @returns A 204 response.
 */
export function noContent(): Response {
  return new Response(null, { status: 204 });
}

/**
 * Parses a JSON request body, already read within the size and time limits.
 *
 * @param bytes The body; `undefined` when the request had none.
 * @returns The parsed body; `undefined` when it is empty.
 * @throws {HttpError} 400 when it is not UTF-8 JSON, or holds what cannot be
 * stored (U+0000, an unpaired surrogate, a `__proto__` key, a nesting deeper
 * than {@linkcode MAX_BODY_DEPTH}), naming the field.
 *
 * @example
 * ```ts
 * import { HttpError, parseJsonBody } from "./http.ts";
 * import assert from "node:assert/strict";
 * const body = (text: string) => new TextEncoder().encode(text);
 * assert.deepEqual(parseJsonBody(body('{"mac": "x"}')), { mac: "x" });
 * assert.throws(() => parseJsonBody(body('{"meta": {"a\\u0000": 1}}')), (error) =>
 *   error instanceof HttpError && error.status === 400 && error.extra.field === "meta");
 * ```
 */
export function parseJsonBody(bytes: Uint8Array | undefined): unknown {
  if (bytes === undefined) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "Cannot read the request body: it is not UTF-8 text", {
      field: "body",
    });
  }
  if (text.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpError(
      400,
      `Cannot read the request body: it is not valid JSON: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { field: "body" },
    );
  }
  const problem = structureProblem(value);
  if (problem) {
    throw new HttpError(400, `Cannot read the request body: ${problem.message}`, {
      field: problem.field,
    });
  }
  return value;
}

/**
 * What makes a parsed body unsafe to store as sent, without recursion: a
 * nesting deeper than {@linkcode MAX_BODY_DEPTH}, a `__proto__` key (an
 * assignment would drop it), text with an unpaired surrogate (it has no
 * UTF-8 form), or U+0000 in text or in a key (PostgreSQL cannot store it in
 * `text` nor in `jsonb`; both stores refuse it alike).
 */
function structureProblem(root: unknown): { message: string; field: string } | undefined {
  const pending: [value: unknown, depth: number, path: string][] = [[root, 0, ""]];
  const at = (path: string) => (path === "" ? "the body" : `"${path}"`);
  const problem = (path: string, message: string) => ({ message, field: path || "body" });
  const NUL = "U+0000 (NUL), which the database cannot store";
  while (pending.length > 0) {
    const [value, depth, path] = pending.pop()!;
    if (typeof value === "string") {
      if (!value.isWellFormed()) {
        return problem(
          path,
          `${at(path)} is not valid Unicode text: it holds an unpaired surrogate`,
        );
      }
      if (value.includes("\0")) return problem(path, `${at(path)} holds ${NUL}`);
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    if (depth >= MAX_BODY_DEPTH) {
      return problem(
        path,
        `${at(path)} nests arrays and objects more than ${MAX_BODY_DEPTH} levels deep`,
      );
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push([item, depth + 1, `${path}[${index}]`]));
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      const inner = path === "" ? key : `${path}.${key}`;
      if (key === "__proto__") {
        return problem(path, `the key "__proto__" (at "${inner}") cannot be stored`);
      }
      if (!key.isWellFormed()) {
        return problem(
          path,
          `a key at ${at(path)} is not valid Unicode text: it holds an unpaired surrogate`,
        );
      }
      if (key.includes("\0")) {
        return problem(
          path,
          `a key at ${at(path)} holds ${NUL}: current value is ${JSON.stringify(key)}`,
        );
      }
      pending.push([item, depth + 1, inner]);
    }
  }
  return undefined;
}
