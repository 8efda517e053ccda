// Test helper (not published): a real HTTP service on loopback that records
// what it receives and answers as the test tells it to.
import type { Logger } from "@nailgun/extensions";

/** One request as the receiver saw it. */
export interface Received {
  method: string;
  /** Path and query, e.g. `/api/nodes/?ids=1,2`. */
  path: string;
  /** The parsed JSON body, or `null` when there is none. */
  body: unknown;
  event: string | null;
  key: string | null;
  contentType: string | null;
  /** `performance.now()` when it arrived. */
  at: number;
}

/** Decides the answer to the request number `index` (from 0). */
export type Answer = (request: Received, index: number) => Response | Promise<Response>;

/** A running receiver; `close()` it in a `finally`. */
export interface Receiver {
  /** Base URL, e.g. `http://127.0.0.1:40000/api/`. */
  readonly url: string;
  /** Every request received, in order of arrival. */
  readonly received: Received[];
  /** Waits until `count` requests arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  /** Answers requests that are still held (see `hold`), then stops the server. */
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 and a free port; by default it answers 204. */
export function startReceiver(
  answer: Answer = () => new Response(null, { status: 204 }),
): Receiver {
  const received: Received[] = [];
  const released: (() => void)[] = [];
  let closed = false;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const text = await request.text();
      const entry: Received = {
        method: request.method,
        path: new URL(request.url).pathname + new URL(request.url).search,
        body: text ? JSON.parse(text) : null,
        event: request.headers.get("x-nailgun-event"),
        key: request.headers.get("idempotency-key"),
        contentType: request.headers.get("content-type"),
        at: performance.now(),
      };
      received.push(entry);
      const response = answer(entry, received.length - 1);
      if (response instanceof Promise) {
        // A held answer: released when the receiver closes, at the latest.
        return await Promise.race([
          response,
          new Promise<Response>((resolve) => {
            if (closed) resolve(new Response(null, { status: 503 }));
            released.push(() => resolve(new Response(null, { status: 503 })));
          }),
        ]);
      }
      return response;
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/api/`,
    received,
    async waitFor(count: number, timeoutMs = 5000): Promise<void> {
      const deadline = performance.now() + timeoutMs;
      while (received.length < count) {
        if (performance.now() > deadline) {
          throw new Error(
            `expected ${count} request(s) within ${timeoutMs} ms, received ${received.length}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    async close(): Promise<void> {
      closed = true;
      for (const release of released.splice(0)) release();
      await server.shutdown();
    },
  };
}

/** An answer that never comes (until the receiver closes). */
export function hold(): Promise<Response> {
  return new Promise<Response>(() => {});
}

/** A loopback port on which nothing listens. */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A logger that records `level: line`. */
export function recordingLogger(lines: string[]): Logger {
  return {
    debug: (line) => lines.push(`debug: ${line}`),
    info: (line) => lines.push(`info: ${line}`),
    warn: (line) => lines.push(`warn: ${line}`),
    error: (line) => lines.push(`error: ${line}`),
  };
}
