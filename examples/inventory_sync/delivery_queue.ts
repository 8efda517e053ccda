/**
 * `DeliveryQueue`: sends HTTP requests to another service in the background,
 * one at a time and in order, with bounded retries and exponential backoff.
 * Adding a request never waits for the network, so the event handlers that
 * add them return at once even when the other service is down.
 *
 * @module
 */
import type { Logger } from "@nailgun/extensions";

/** HTTP methods the queue sends. */
export type DeliveryMethod = "POST" | "PUT" | "DELETE";

/** One request to send. */
export interface Delivery {
  /** The HTTP method. */
  method: DeliveryMethod;
  /** The path relative to the base URL, e.g. `nodes/3/`. */
  path: string;
  /** The JSON body, already serialized, if any. */
  body?: string;
  /** The event that caused it, sent as the `x-nailgun-event` header. */
  event: string;
}

/** Options of {@linkcode DeliveryQueue}. */
export interface DeliveryQueueOptions {
  /** Base URL of the other service, ending with `/`. */
  url: string;
  /** Most requests waiting, the one being sent included. */
  maxQueue: number;
  /** Attempts per request before it is given up on. */
  maxAttempts: number;
  /** Wait before the first retry, in milliseconds; it doubles with each retry. */
  retryBaseMs: number;
  /** Longest wait between two attempts, in milliseconds. */
  retryMaxMs: number;
  /** Time limit of one request, in milliseconds. */
  requestTimeoutMs: number;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  /** Where retries, failures and drops are logged. */
  logger: Logger;
}

/** What the queue has done so far: the `syncStatus` call of the extension. */
export interface SyncStatus {
  /** Base URL of the other service. */
  url: string;
  /** Requests not sent yet, the one being sent included. */
  queued: number;
  /** Requests the other service accepted (a 2xx answer). */
  sent: number;
  /** Requests given up on: refused with a 4xx answer, or still failing after every attempt. */
  failed: number;
  /** Requests never tried to the end: the queue was full, or it was closed before them. */
  dropped: number;
  /** Attempts that were retries of an earlier one. */
  retries: number;
  /** The reason of the last failed attempt, or `null`. */
  lastError: string | null;
  /** Whether the queue was closed: it takes no more requests. */
  closed: boolean;
}

interface Pending extends Delivery {
  /** Sent as `idempotency-key`: the same on every attempt of one request. */
  key: string;
  attempts: number;
}

type Outcome = { ok: true } | { ok: false; retryable: boolean; reason: string };

/**
 * Sends requests in order, in the background. A request that fails with a
 * network error, a time-out, a 5xx, 408 or 429 answer is retried after
 * `retryBaseMs`, then twice as long each time (at most `retryMaxMs`), up to
 * `maxAttempts` attempts; a 4xx answer is not retried. Either way the next
 * request follows. When `maxQueue` requests are waiting, the oldest waiting
 * one is dropped, with a warning, to make room for the new one.
 *
 * @example Send a request and close the queue
 * ```ts
 * import { DeliveryQueue } from "./delivery_queue.ts";
 * import assert from "node:assert/strict";
 *
 * const received: string[] = [];
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
 *   received.push(`${request.method} ${new URL(request.url).pathname}`);
 *   return new Response(null, { status: 204 });
 * });
 * const queue = new DeliveryQueue({
 *   url: `http://127.0.0.1:${server.addr.port}/`,
 *   maxQueue: 100, maxAttempts: 3, retryBaseMs: 10, retryMaxMs: 100, requestTimeoutMs: 1000,
 *   logger: console,
 * });
 * queue.enqueue({ method: "DELETE", path: "nodes/3/", event: "onNodeDelete" });
 * const status = await queue.close(1000);
 * await server.shutdown();
 * assert.deepEqual(received, ["DELETE /nodes/3/"]);
 * assert.equal(status.sent, 1);
 * ```
 */
export class DeliveryQueue {
  readonly #options: DeliveryQueueOptions;
  #waiting: Pending[] = [];
  #current: Pending | undefined;
  #running = false;
  #closed = false;
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  #idle: (() => void)[] = [];
  #sent = 0;
  #failed = 0;
  #dropped = 0;
  #retries = 0;
  #lastError: string | null = null;

  /**
   * Makes an empty queue; nothing runs until a request is added.
   *
   * @param options Where to send, and the limits.
   */
  constructor(options: DeliveryQueueOptions) {
    this.#options = options;
  }

  /** What the queue has done so far. */
  get status(): SyncStatus {
    return {
      url: this.#options.url,
      queued: this.#size(),
      sent: this.#sent,
      failed: this.#failed,
      dropped: this.#dropped,
      retries: this.#retries,
      lastError: this.#lastError,
      closed: this.#closed,
    };
  }

  /**
   * Adds a request and returns at once; the background sender sends it
   * after those added before.
   *
   * @param delivery The request.
   * @returns `false` when the request was dropped: the queue is closed, or
   * it is full and the only request in it is being sent.
   */
  enqueue(delivery: Delivery): boolean {
    if (this.#closed) {
      this.#dropped++;
      this.#options.logger.warn(
        `dropped ${describe(delivery)}: the queue is closed (Nailgun is shutting down)`,
      );
      return false;
    }
    if (this.#size() >= this.#options.maxQueue) {
      const oldest = this.#waiting.shift();
      this.#dropped++;
      if (!oldest) {
        this.#options.logger.warn(
          `queue full (${this.#options.maxQueue} requests): dropped ${
            describe(delivery)
          }: ${this.#options.url} may now be out of date`,
        );
        return false;
      }
      this.#options.logger.warn(
        `queue full (${this.#options.maxQueue} requests): dropped the oldest, ${
          describe(oldest)
        }: ${this.#options.url} may now be out of date`,
      );
    }
    this.#waiting.push({ ...delivery, key: crypto.randomUUID(), attempts: 0 });
    if (!this.#running) {
      this.#running = true;
      queueMicrotask(() => this.#run());
    }
    return true;
  }

  /**
   * Waits until every request has been sent or given up on, or until the
   * deadline, whichever comes first.
   *
   * @param deadlineMs How long to wait at most, in milliseconds.
   * @returns `true` when the queue is empty.
   */
  async flush(deadlineMs: number): Promise<boolean> {
    if (!this.#running) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = new Promise<boolean>((resolve) => this.#idle.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), deadlineMs);
    });
    try {
      return await Promise.race([drained, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Flushes until the deadline, then stops: the request being sent is
   * aborted, the waiting ones are dropped (and logged), and later requests
   * are refused. Resolves once the background sender has stopped.
   *
   * @param deadlineMs How long to let the queue drain, in milliseconds.
   * @returns The final status.
   */
  async close(deadlineMs: number): Promise<SyncStatus> {
    const drained = await this.flush(deadlineMs);
    this.#closed = true;
    if (!drained) {
      const left = this.#size();
      this.#dropped += left;
      this.#waiting = [];
      this.#options.logger.warn(
        `${left} request(s) not delivered to ${this.#options.url} within ${deadlineMs} ms: dropped`,
      );
      const stopped = new Promise<void>((resolve) => this.#idle.push(resolve));
      this.#abort?.abort(new Error("the queue was closed"));
      this.#wake?.();
      if (this.#running) await stopped;
    }
    return this.status;
  }

  #size(): number {
    return this.#waiting.length + (this.#current ? 1 : 0);
  }

  async #run(): Promise<void> {
    try {
      while (!this.#closed) {
        const next = this.#waiting.shift();
        if (!next) break;
        this.#current = next;
        await this.#deliver(next);
        this.#current = undefined;
      }
    } finally {
      this.#current = undefined;
      this.#running = false;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #deliver(pending: Pending): Promise<void> {
    const { maxAttempts, retryBaseMs, retryMaxMs, logger, url } = this.#options;
    while (!this.#closed) {
      pending.attempts++;
      const outcome = await this.#attempt(pending);
      if (outcome.ok) {
        this.#sent++;
        return;
      }
      if (this.#closed) return;
      this.#lastError = `${describe(pending)}: ${outcome.reason}`;
      if (!outcome.retryable || pending.attempts >= maxAttempts) {
        this.#failed++;
        logger.error(
          `Cannot deliver ${
            describe(pending)
          } to ${url}: ${outcome.reason}: gave up after ${pending.attempts} attempt(s)`,
        );
        return;
      }
      const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** (pending.attempts - 1));
      this.#retries++;
      logger.warn(
        `${
          describe(pending)
        } failed (attempt ${pending.attempts} of ${maxAttempts}): ${outcome.reason}: retrying in ${delay} ms`,
      );
      await this.#sleep(delay);
    }
  }

  async #attempt(pending: Pending): Promise<Outcome> {
    const { url, requestTimeoutMs, headers } = this.#options;
    const abort = new AbortController();
    this.#abort = abort;
    const timer = setTimeout(
      () => abort.abort(new Error(`no answer within ${requestTimeoutMs} ms`)),
      requestTimeoutMs,
    );
    try {
      const response = await fetch(new URL(pending.path, url), {
        method: pending.method,
        headers: {
          ...headers,
          ...(pending.body === undefined ? {} : { "content-type": "application/json" }),
          "x-nailgun-event": pending.event,
          "idempotency-key": pending.key,
        },
        body: pending.body,
        signal: abort.signal,
      });
      const text = await response.text();
      if (response.ok) return { ok: true };
      const status = response.status;
      return {
        ok: false,
        retryable: status >= 500 || status === 408 || status === 429,
        reason: `answered ${status}${text ? `: ${oneLine(text)}` : ""}`,
      };
    } catch (error) {
      const reason = abort.signal.aborted ? abort.signal.reason : error;
      return { ok: false, retryable: true, reason: oneLine(messageOf(reason)) };
    } finally {
      clearTimeout(timer);
      this.#abort = undefined;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }
}

function describe(delivery: Delivery): string {
  return `${delivery.method} ${delivery.path} (${delivery.event})`;
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch() says "fetch failed"; its cause says why (e.g. "Connection refused").
  return error.cause === undefined ? error.message : `${error.message}: ${messageOf(error.cause)}`;
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}
