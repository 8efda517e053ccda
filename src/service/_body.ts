// Request bodies read before any route runs: within the size limit (413),
// within the time limit (408: a client that sends its body too slowly), and
// cut when the service shuts down (503).
import { HttpError } from "./http.ts";

/** The cut-offs of the extension responses still streaming. */
export type ServedResponses = Set<() => void>;

/** The limits a body is read within. */
export interface BodyLimits {
  /** The largest body, in bytes. */
  readonly bodyLimit: number;
  /** How long the body may take to arrive, in milliseconds. */
  readonly requestTimeoutMs: number;
  /** Aborted when the shutdown cuts what is still open. */
  readonly closing: AbortSignal;
}

/**
 * Reads the whole body of a request.
 *
 * @param request The request.
 * @param limits The size and time limits.
 * @returns The bytes; `undefined` when the request has no body.
 * @throws {HttpError} 413 past the size limit, 408 past the time limit, 503 at shutdown.
 */
export async function readBody(
  request: Request,
  limits: BodyLimits,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (!request.body) return undefined;
  const { bodyLimit, requestTimeoutMs, closing } = limits;
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (declared > bodyLimit) {
    await request.body.cancel().catch(() => {});
    throw tooLarge(bodyLimit);
  }
  const reader = request.body.getReader();
  let stopped: HttpError | undefined;
  const stop = (error: HttpError) => {
    stopped ??= error;
    reader.cancel(error.message).catch(() => {});
  };
  const timer = setTimeout(() =>
    stop(
      new HttpError(
        408,
        `Cannot read the request body: it did not arrive within ${requestTimeoutMs} ms (REQUEST_TIMEOUT_MS)`,
        { field: "body" },
        { connection: "close" },
      ),
    ), requestTimeoutMs);
  const onClosing = () =>
    stop(
      new HttpError(
        503,
        "Cannot read the request body: the service is shutting down",
        { field: "body" },
        { connection: "close", "retry-after": "1" },
      ),
    );
  closing.addEventListener("abort", onClosing, { once: true });
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  try {
    for (;;) {
      let read: ReadableStreamReadResult<Uint8Array<ArrayBuffer>>;
      try {
        read = await reader.read();
      } catch (error) {
        throw stopped ?? new HttpError(
          400,
          `Cannot read the request body: it was cut off: ${
            error instanceof Error ? error.message : String(error)
          }`,
          { field: "body" },
        );
      }
      if (stopped) throw stopped;
      const { done, value } = read;
      if (done) break;
      size += value.byteLength;
      if (size > bodyLimit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(bodyLimit);
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
    closing.removeEventListener("abort", onClosing);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(
    413,
    `Cannot read the request body: it is larger than the limit of ${limit} bytes`,
    { field: "body" },
  );
}
