// A bounded load generator over loopback: `concurrency` clients create nodes
// (POST /api/v1/nodes/) with fetch (or the raw HTTP/1.1 client, which tells
// when a request was written) until `total` requests were sent, the deadline
// passes, or `stop()` is called. Every request is recorded: when it started,
// was written and ended, and whether it got a complete 201, another status, a
// response cut short, or no response at all.
import { mac } from "../_service/harness.ts";
import { NoAnswerError, RawConnection } from "./raw_http.ts";

/** What one request came to. */
export type Outcome =
  /** A 201 whose JSON body is the node that was asked for. */
  | "acknowledged"
  /** A complete response with another status. */
  | "refused"
  /** Headers arrived but the body did not (or was not the node asked for). */
  | "truncated"
  /** No response: the connection was refused or reset. */
  | "unanswered";

/** One request of the load. */
export interface Sent {
  /** The MAC address of the node it asked for. */
  mac: string;
  /** `performance.now()` when the request was sent. */
  started: number;
  /** `performance.now()` when its last byte was written (raw client only). */
  written?: number;
  /** `performance.now()` when it came to its outcome. */
  ended: number;
  /** What it came to. */
  outcome: Outcome;
  /** The HTTP status, if a response arrived. */
  status?: number;
  /** The id of the stored node (acknowledged requests). */
  id?: number;
  /** What went wrong (other outcomes). */
  detail?: string;
}

/** Options of {@linkcode startLoad}. */
export interface LoadOptions {
  /** The service, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** How many requests at most. */
  total: number;
  /** How many clients send at once. */
  concurrency: number;
  /** Stop sending after this long, in milliseconds (requests under way are aborted). */
  deadlineMs: number;
  /** The first MAC number; default 1. */
  firstMac?: number;
  /** `fetch` (default), or `raw`: one keep-alive connection per client, written by hand. */
  client?: "fetch" | "raw";
}

/** A load under way. */
export interface Load {
  /** Every request so far, in the order they ended. */
  readonly sent: readonly Sent[];
  /** How many requests were acknowledged so far. */
  readonly acknowledged: number;
  /** Raw client only: requests written to their socket and not answered yet. */
  readonly inFlight: number;
  /** Resolves once at least `count` requests were acknowledged (or the load ended). */
  until(count: number): Promise<void>;
  /** No new requests until `resume()`; those under way finish. */
  pause(): void;
  /** New requests again after `pause()`. */
  resume(): void;
  /** No new requests; those under way finish. */
  stop(): void;
  /** Settles when every client is done. */
  readonly done: Promise<LoadSummary>;
}

/** The figures of a finished load. */
export interface LoadSummary {
  /** Requests sent. */
  requests: number;
  /** Clients. */
  concurrency: number;
  /** Acknowledged requests. */
  acknowledged: number;
  /** Requests per outcome. */
  outcomes: Record<Outcome, number>;
  /** From the first request to the last outcome, in milliseconds. */
  elapsedMs: number;
  /** Acknowledged requests per second. */
  throughput: number;
  /** Latency percentiles of the acknowledged requests, in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Whether the deadline stopped it. */
  timedOut: boolean;
}

/**
 * The `q` quantile of `values` (nearest rank).
 *
 * @param values The values, in any order.
 * @param q Between 0 and 1.
 * @returns The value; 0 for none.
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function send(url: string, address: string, signal: AbortSignal): Promise<Sent> {
  const started = performance.now();
  const record = (outcome: Outcome, extra: Partial<Sent> = {}): Sent => ({
    mac: address,
    started,
    ended: performance.now(),
    outcome,
    ...extra,
  });
  let response: Response;
  try {
    response = await fetch(`${url}/api/v1/nodes/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ mac: address }),
      signal,
    });
  } catch (error) {
    return record("unanswered", { detail: describe(error) });
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    return record("truncated", { status: response.status, detail: describe(error) });
  }
  let body: { id?: unknown; mac?: unknown; message?: unknown } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    return record("truncated", {
      status: response.status,
      detail: `not JSON: ${text.slice(0, 200)}`,
    });
  }
  if (response.status !== 201) {
    return record("refused", { status: response.status, detail: String(body?.message) });
  }
  if (body?.mac !== address || typeof body.id !== "number") {
    return record("truncated", {
      status: 201,
      detail: `not the node asked for: ${text.slice(0, 200)}`,
    });
  }
  return record("acknowledged", { status: 201, id: body.id });
}

/** A client of the raw load: its connection, opened on first use and again after a close. */
interface RawClient {
  connection?: RawConnection;
}

async function sendRaw(
  url: string,
  address: string,
  client: RawClient,
  onWritten: () => void,
): Promise<Sent> {
  const started = performance.now();
  let written: number | undefined;
  const record = (outcome: Outcome, extra: Partial<Sent> = {}): Sent => ({
    mac: address,
    started,
    ...(written === undefined ? {} : { written }),
    ended: performance.now(),
    outcome,
    ...extra,
  });
  try {
    client.connection ??= await RawConnection.open(url);
  } catch (error) {
    return record("unanswered", { detail: describe(error) });
  }
  let answer;
  try {
    answer = await client.connection.request("POST", "/api/v1/nodes/", { mac: address }, () => {
      written = performance.now();
      onWritten();
    });
  } catch (error) {
    client.connection.close();
    client.connection = undefined;
    const partial = error instanceof NoAnswerError && error.partial;
    return record(partial ? "truncated" : "unanswered", { detail: describe(error) });
  }
  if (answer.headers.get("connection")?.toLowerCase() === "close") {
    client.connection.close();
    client.connection = undefined;
  }
  let body: { id?: unknown; mac?: unknown; message?: unknown } | undefined;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return record("truncated", {
      status: answer.status,
      detail: `not JSON: ${answer.body.slice(0, 200)}`,
    });
  }
  if (answer.status !== 201) {
    return record("refused", { status: answer.status, detail: String(body?.message) });
  }
  if (body?.mac !== address || typeof body.id !== "number") {
    return record("truncated", {
      status: 201,
      detail: `not the node asked for: ${answer.body.slice(0, 200)}`,
    });
  }
  return record("acknowledged", { status: 201, id: body.id });
}

/**
 * Starts the load; it runs in the background.
 *
 * @param options Where, how many, how many at once, how long.
 * @returns The load under way.
 */
export function startLoad(options: LoadOptions): Load {
  const sent: Sent[] = [];
  const abort = new AbortController();
  const rawClients = new Set<RawClient>();
  const firstMac = options.firstMac ?? 1;
  let next = 0;
  let stopped = false;
  let finished = false;
  let paused: { promise: Promise<void>; resolve: () => void } | undefined;
  let acknowledged = 0;
  let inFlight = 0;
  let timedOut = false;
  const waiters: { count: number; resolve: () => void }[] = [];
  const wake = (all = false) => {
    for (const waiter of [...waiters]) {
      if (all || acknowledged >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const deadline = setTimeout(() => {
    timedOut = true;
    stopped = true;
    paused?.resolve();
    abort.abort(new Error(`the load outlived its deadline of ${options.deadlineMs} ms`));
    for (const raw of rawClients) raw.connection?.close();
  }, options.deadlineMs);
  const began = performance.now();

  async function client(): Promise<void> {
    const raw: RawClient = {};
    rawClients.add(raw);
    while (!stopped && next < options.total) {
      if (paused) {
        await paused.promise;
        continue;
      }
      const index = next++;
      const address = mac(firstMac + index);
      const result = options.client === "raw"
        ? await sendRaw(options.url, address, raw, () => inFlight++)
        : await send(options.url, address, abort.signal);
      if (result.written !== undefined) inFlight--;
      sent.push(result);
      if (result.outcome === "acknowledged") {
        acknowledged++;
        wake();
      }
    }
    raw.connection?.close();
  }

  const done = Promise.all(Array.from({ length: options.concurrency }, client)).then(() => {
    clearTimeout(deadline);
    finished = true;
    wake(true);
    const latencies = sent.filter((s) => s.outcome === "acknowledged").map((s) =>
      s.ended - s.started
    );
    const outcomes: Record<Outcome, number> = {
      acknowledged: 0,
      refused: 0,
      truncated: 0,
      unanswered: 0,
    };
    for (const s of sent) outcomes[s.outcome]++;
    const elapsedMs = Math.max(...sent.map((s) => s.ended), began) - began;
    return {
      requests: sent.length,
      concurrency: options.concurrency,
      acknowledged,
      outcomes,
      elapsedMs: Math.round(elapsedMs),
      throughput: Math.round(acknowledged / (elapsedMs / 1000)),
      p50Ms: round(quantile(latencies, 0.5)),
      p99Ms: round(quantile(latencies, 0.99)),
      maxMs: round(quantile(latencies, 1)),
      timedOut,
    };
  });

  return {
    sent,
    get acknowledged() {
      return acknowledged;
    },
    get inFlight() {
      return inFlight;
    },
    until(count: number): Promise<void> {
      if (acknowledged >= count || stopped || finished) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    pause() {
      if (paused) return;
      let resolve!: () => void;
      const promise = new Promise<void>((done) => resolve = done);
      paused = { promise, resolve };
    },
    resume() {
      paused?.resolve();
      paused = undefined;
    },
    stop() {
      stopped = true;
      paused?.resolve();
      paused = undefined;
      wake(true);
    },
    done,
  };
}

function describe(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined
    ? `: ${describe(error.cause)}`
    : "";
  return `${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}${cause}`;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
