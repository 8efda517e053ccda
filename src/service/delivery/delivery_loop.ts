/**
 * The delivery loops of durable extensions (SPEC §3.1): one loop per
 * extension, each on its own, so that a slow or stuck extension delays
 * nothing but its own events.
 *
 * A loop delivers its extension's outbox rows in id order, one at a time,
 * each attempt under the handler time limit. A row leaves the outbox only
 * after its handler succeeded (at least once: a crash in between delivers it
 * again, with the same `EventMeta.id`). A failure is retried after an
 * exponential, jittered wait (`retryDelay`), and the rows behind it wait too
 * (order); after `maxAttempts` the row is parked, logged in one line, and the
 * loop moves on. On PostgreSQL a loop delivers only while its instance holds
 * the extension's lease (`Outbox.lease`), renewed every second; when an
 * instance dies its lease runs out and another instance's loop carries on.
 *
 * @module
 */
import {
  describeError,
  type EventMeta,
  type ExtensionManager,
  type Logger,
  type ManagedExtension,
  withTimeLimit,
} from "@nailgun/extensions";
import { retryDelay } from "./backoff.ts";
import type { Outbox, OutboxCounts, OutboxRow, OutboxStatus } from "./outbox.ts";

/** Options of {@linkcode DeliveryEngine}. */
export interface DeliveryOptions {
  /** The store's outbox. */
  readonly outbox: Outbox;
  /** The loaded extensions; those with `delivery: "durable"` get a loop. */
  readonly manager: ExtensionManager;
  /** Where parked events, retries and backlogs are logged. */
  readonly logger: Logger;
  /** Attempts of one event before it is parked. */
  readonly maxAttempts: number;
  /** First retry wait, in milliseconds. */
  readonly retryBaseMs: number;
  /** Longest retry wait, in milliseconds. */
  readonly retryMaxMs: number;
  /** Time limit of one attempt; default the manager's handler time limit. */
  readonly handlerTimeoutMs?: number;
  /** Whether loops need the lease (several instances on one PostgreSQL); default for PostgreSQL. */
  readonly lease?: boolean;
  /** How long a lease lasts without renewal, in milliseconds; default 5 000. */
  readonly leaseTtlMs?: number;
  /** How often an idle loop looks for rows other instances wrote, in milliseconds; default 250. */
  readonly pollMs?: number;
  /** Pending events of one extension past which a line is logged; default 1 000. */
  readonly backlogThreshold?: number;
  /** This instance's id in leases; default a random one. */
  readonly owner?: string;
}

/** What the status API shows of an extension's delivery. */
export interface DeliveryStatus extends OutboxCounts {
  /** How notifications reach it. */
  readonly mode: "inline" | "durable";
}

/** One outbox event as the API lists it. */
export interface ListedEvent {
  /** `EventMeta.id`. */
  readonly id: string;
  /** The row's place in the queue. */
  readonly seq: number;
  /** The notification hook. */
  readonly hook: string;
  /** `EventMeta.occurredAt`. */
  readonly occurredAt: string;
  /** Pending or parked. */
  readonly status: OutboxStatus;
  /** Failed attempts so far. */
  readonly attempts: number;
  /** The reason of the last failed attempt. */
  readonly lastError: string | null;
  /** The arguments of the hook. */
  readonly args: unknown[];
}

const BATCH = 64;
const ACK_EVERY_MS = 50;
const LEASE_RENEW_MS = 1_000;
const BACKLOG_CHECK_MS = 2_000;
const STOP_GRACE_MS = 2_000;
/**
 * After a commit wakes a loop, or a short batch, it waits this long for more
 * commits, so that one read and one acknowledgement serve many events
 * (measured in benchmarks/delivery_bench.ts).
 */
const GATHER_MS = 10;

function gather(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, GATHER_MS));
}

/**
 * The loops of every durable extension of a manager. `start()` them once
 * the outbox is migrated, `stop()` them before the store closes.
 */
export class DeliveryEngine {
  readonly #options: QueueOptions;
  readonly #queues = new Map<string, ExtensionQueue>();
  #unsubscribe: (() => void) | undefined;

  /**
   * @param options The outbox, the extensions, the retry options and the log.
   * @throws {RangeError} When `maxAttempts` is below 1.
   */
  constructor(options: DeliveryOptions) {
    if (!(options.maxAttempts >= 1)) {
      throw new RangeError(
        `Cannot deliver durable events: "delivery.maxAttempts" must be 1 or more: current value is ${options.maxAttempts}`,
      );
    }
    this.#options = {
      lease: options.outbox.dialect === "postgres",
      leaseTtlMs: 5_000,
      pollMs: 250,
      backlogThreshold: 1_000,
      owner: crypto.randomUUID(),
      ...options,
      handlerTimeoutMs: options.handlerTimeoutMs ?? options.manager.handlerTimeoutMs,
    };
    for (const entry of options.manager.entries) {
      if (entry.extension.delivery === "durable") {
        this.#queues.set(entry.extension.name, new ExtensionQueue(entry, this.#options));
      }
    }
  }

  /** The durable extensions, in dispatch order. */
  get extensions(): string[] {
    return [...this.#queues.keys()];
  }

  /** Starts every loop; they deliver what is already in the outbox first. */
  start(): void {
    this.#unsubscribe ??= this.#options.outbox.onCommitted(() => {
      for (const queue of this.#queues.values()) queue.wake();
    });
    for (const queue of this.#queues.values()) queue.start();
  }

  /**
   * Stops every loop: each finishes (or times out) the attempt under way,
   * records what was delivered and gives up its lease.
   */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await Promise.all([...this.#queues.values()].map((queue) => queue.stop()));
  }

  /**
   * Whether an extension is durable here.
   *
   * @param name The extension's name.
   * @returns `true` when it has a delivery loop.
   */
  has(name: string): boolean {
    return this.#queues.has(name);
  }

  /**
   * The delivery of every loaded extension, for the status API.
   *
   * @returns The mode and counts, by extension name.
   */
  async status(): Promise<Map<string, DeliveryStatus>> {
    const counts = this.#queues.size > 0 ? await this.#options.outbox.counts() : new Map();
    const status = new Map<string, DeliveryStatus>();
    for (const name of this.#options.manager.names) {
      const durable = counts.get(name);
      status.set(
        name,
        durable ? { mode: "durable", ...durable } : {
          mode: "inline",
          pending: 0,
          parked: 0,
          delivered: 0,
        },
      );
    }
    return status;
  }

  /**
   * The events of a durable extension with one status, in delivery order.
   *
   * @param name The extension's name.
   * @param status Pending or parked.
   * @param limit How many at most; default 100.
   * @returns The events.
   */
  async events(name: string, status: OutboxStatus, limit = 100): Promise<ListedEvent[]> {
    const rows = await this.#options.outbox.list(name, status, limit);
    return rows.map((row) => ({
      id: row.eventId,
      seq: row.seq,
      hook: row.hook,
      occurredAt: row.occurredAt,
      status: row.status,
      attempts: row.attempts,
      lastError: row.lastError,
      args: JSON.parse(row.argsJson),
    }));
  }

  /**
   * Puts parked events of a durable extension back in its queue.
   *
   * @param name The extension's name.
   * @param ids Only these events (`EventMeta.id`); default every parked one.
   * @returns The ids of the events re-queued.
   */
  async retry(name: string, ids?: readonly string[]): Promise<string[]> {
    const requeued = await this.#options.outbox.requeue(name, ids);
    if (requeued.length > 0) {
      this.#options.logger.info(
        `extension "${name}": ${requeued.length} parked event(s) re-queued for delivery`,
      );
    }
    return requeued;
  }
}

type QueueOptions = Required<Omit<DeliveryOptions, "handlerTimeoutMs">> & {
  handlerTimeoutMs: number;
};

/** One durable extension's loop. */
class ExtensionQueue {
  readonly #entry: ManagedExtension;
  readonly #options: QueueOptions;
  readonly #name: string;
  /** How often the lease is renewed: every second, or thrice per lease if it is shorter. */
  readonly #renewMs: number;
  #running: Promise<void> | undefined;
  #stopped = false;
  #abandoned = false;
  #wake: (() => void) | undefined;
  #woken = false;
  #leasedAt = -Infinity;
  #leaseHeld = false;
  #renewing: Promise<boolean> | undefined;
  #backlogCheckedAt = -Infinity;
  #backlogWarned = false;
  #lastTrouble = "";
  /**
   * The handler call of the last attempt. A handler that ran past the time
   * limit is not stopped (JavaScript cannot stop it): the next attempt waits
   * for it, so that one extension never has two deliveries running at once.
   */
  #lastCall: Promise<unknown> | undefined;

  constructor(entry: ManagedExtension, options: QueueOptions) {
    this.#entry = entry;
    this.#options = options;
    this.#name = entry.extension.name;
    this.#renewMs = Math.min(LEASE_RENEW_MS, Math.floor(options.leaseTtlMs / 3));
  }

  start(): void {
    this.#running ??= this.#run();
  }

  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Stops the loop; an attempt still under way after `graceMs` is abandoned (delivered again later). */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.#stopped = true;
    this.wake();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
    await Promise.race([this.#running, late]);
    clearTimeout(timer);
    this.#abandoned = true;
  }

  async #run(): Promise<void> {
    const { outbox, logger, pollMs } = this.#options;
    while (!this.#stopped) {
      try {
        if (!(await this.#holdLease())) {
          await this.#sleep(this.#renewMs);
          continue;
        }
        this.#woken = false;
        const rows = await outbox.head(this.#name, BATCH);
        this.#lastTrouble = "";
        if (rows.length === 0) {
          await this.#sleep(pollMs);
          await gather();
          continue;
        }
        if (rows.length === BATCH) await this.#checkBacklog();
        await this.#deliver(rows);
        if (rows.length < BATCH) await gather();
      } catch (error) {
        // the database is unreachable, or closing: say it once, try again shortly
        const trouble = describeError(error);
        if (trouble !== this.#lastTrouble) {
          logger.warn(`extension "${this.#name}": delivery paused: ${trouble}`);
          this.#lastTrouble = trouble;
        }
        await this.#sleep(1_000);
      }
    }
    if (this.#leaseHeld && !this.#abandoned) {
      await outbox.release(this.#name, this.#options.owner).catch(() => {});
    }
  }

  /** Delivers rows in order until one fails, one is not due yet, or the lease is lost. */
  async #deliver(rows: readonly OutboxRow[]): Promise<void> {
    const { outbox } = this.#options;
    const done: number[] = [];
    let ackedAt = performance.now();
    const acknowledge = async () => {
      if (done.length === 0) return;
      await outbox.acknowledge(this.#name, done.splice(0));
      ackedAt = performance.now();
    };
    try {
      for (const row of rows) {
        if (this.#stopped) return;
        const wait = row.nextAttemptAt - Date.now();
        if (wait > 0) {
          await acknowledge();
          await this.#sleep(wait);
          return;
        }
        if (!(await this.#holdLease())) return;
        const attempt = row.attempts + 1;
        try {
          await this.#attempt(row, attempt);
        } catch (error) {
          if (this.#abandoned || error === STOPPED) return;
          await acknowledge();
          await this.#failed(row, attempt, error);
          return;
        }
        done.push(row.seq);
        if (performance.now() - ackedAt >= ACK_EVERY_MS) await acknowledge();
      }
    } finally {
      if (!this.#abandoned) await acknowledge();
    }
  }

  /** One attempt: the handler with the row's arguments and its EventMeta, under the time limit. */
  async #attempt(row: OutboxRow, attempt: number): Promise<void> {
    const { extension } = this.#entry;
    const handler = (extension as unknown as Record<string, unknown>)[row.hook];
    if (typeof handler !== "function") return; // it no longer handles the hook: nothing to do
    const args = (JSON.parse(row.argsJson) as unknown[]).map(freeze);
    const meta: EventMeta = Object.freeze({
      id: row.eventId,
      hook: row.hook,
      occurredAt: row.occurredAt,
      attempt,
    });
    await this.#afterLastCall(row);
    if (this.#stopped) throw STOPPED; // not an attempt: the row stays pending
    const call = () =>
      withTimeLimit(() => {
        const returned = (handler as (...a: unknown[]) => unknown).call(extension, ...args, meta);
        this.#lastCall = Promise.resolve(returned).catch(() => {});
        return returned;
      }, this.#options.handlerTimeoutMs);
    // runAs() runs it in the extension's async context and counts it in its health.
    const { manager } = this.#options;
    // An attempt may outlast the lease: it is renewed meanwhile, so no other instance starts
    // on the same events while this one is still delivering.
    const renewal = this.#options.lease
      ? setInterval(() => {
        if (!this.#stopped) void this.#holdLease().catch(() => {});
      }, this.#renewMs)
      : undefined;
    try {
      await manager.runAs(extension.name, call);
    } finally {
      clearInterval(renewal);
    }
  }

  /**
   * Waits until the previous attempt's handler call has settled (or stop()):
   * a handler past its time limit is not stopped, so the next attempt, of
   * the same event or the next, waits for it rather than run beside it. A
   * handler that never settles holds its own extension's queue, and only
   * that (its backlog and timeouts show in the status API); it says so once.
   */
  async #afterLastCall(row: OutboxRow): Promise<void> {
    const last = this.#lastCall;
    if (last === undefined) return;
    let settled = false;
    void last.then(() => {
      settled = true;
      this.wake();
    });
    const warnAt = Date.now() + this.#options.handlerTimeoutMs;
    let warned = false;
    while (!settled && !this.#stopped) {
      if (!warned && Date.now() >= warnAt) {
        warned = true;
        this.#options.logger.warn(
          `extension "${this.#name}": its previous delivery is still running, past twice the time limit: event ${row.eventId} (${row.hook}) waits for it`,
        );
      }
      await this.#sleep(warned ? 1_000 : Math.max(1, warnAt - Date.now()));
    }
    if (settled) this.#lastCall = undefined;
  }

  async #failed(row: OutboxRow, attempt: number, error: unknown): Promise<void> {
    const { outbox, logger, maxAttempts } = this.#options;
    const reason = describeError(error);
    const park = attempt >= maxAttempts;
    const delay = park ? 0 : retryDelay(attempt, this.#options);
    await outbox.recordFailure(row, {
      attempt,
      error: reason,
      nextAttemptAt: Date.now() + delay,
      park,
    });
    if (park) {
      logger.error(
        `extension "${this.#name}" parked event ${row.eventId} (${row.hook}) after ${attempt} attempt(s): ${reason}: re-queue it with \`deno task extensions retry ${this.#name} ${row.eventId}\``,
      );
    } else {
      logger.warn(
        `extension "${this.#name}" failed in ${row.hook} (event ${row.eventId}, attempt ${attempt} of ${maxAttempts}): ${reason}: retrying in ${delay} ms`,
      );
    }
  }

  /** Takes or renews the lease when it is due; always `true` without leases. */
  async #holdLease(): Promise<boolean> {
    const { lease, outbox, owner, leaseTtlMs, logger } = this.#options;
    if (!lease) return true;
    const now = performance.now();
    if (this.#leaseHeld && now - this.#leasedAt < this.#renewMs) return true;
    if (this.#renewing) return await this.#renewing;
    this.#renewing = outbox.lease(this.#name, owner, leaseTtlMs);
    let held: boolean;
    try {
      held = await this.#renewing;
    } finally {
      this.#renewing = undefined;
    }
    if (held !== this.#leaseHeld) {
      logger.info(
        `extension "${this.#name}": ${
          held ? "this instance delivers its events" : "another instance delivers its events"
        }`,
      );
    }
    this.#leaseHeld = held;
    if (held) this.#leasedAt = now;
    return held;
  }

  /** Logs one line when the backlog grows past the threshold, and again only once it has shrunk. */
  async #checkBacklog(): Promise<void> {
    const now = performance.now();
    if (now - this.#backlogCheckedAt < BACKLOG_CHECK_MS) return;
    this.#backlogCheckedAt = now;
    const { outbox, logger, backlogThreshold } = this.#options;
    const pending = await outbox.pending(this.#name);
    if (!this.#backlogWarned && pending > backlogThreshold) {
      this.#backlogWarned = true;
      logger.warn(
        `extension "${this.#name}": ${pending} events wait for delivery (more than ${backlogThreshold}): it is slower than the changes`,
      );
    } else if (this.#backlogWarned && pending < backlogThreshold / 2) {
      this.#backlogWarned = false;
    }
  }

  /** Waits `ms`, or less when woken (a commit, a re-queue, stop()). */
  #sleep(ms: number): Promise<void> {
    if (this.#stopped || this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

/** Thrown by an attempt that stop() came before: nothing was delivered, nothing failed. */
const STOPPED = new Error("the delivery loop is stopping");

function freeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) freeze(item);
  }
  return value;
}
