/**
 * The outbox of durable delivery (SPEC §3.1): for each extension with
 * `delivery: "durable"`, every notification it would receive is a row of
 * `delivery_outbox`, written in the same transaction as the change it
 * describes, and deleted once the extension has handled it.
 *
 * - A row is one event for one extension: `id` (the order of delivery),
 *   `event_id` (the `EventMeta.id` its handler receives, the same on every
 *   attempt), the hook, the arguments as JSON, when it happened, its status
 *   (`pending` or `parked`), the attempts so far and the last error.
 * - There is no cursor: a row is pending until it is deleted, and a loop
 *   always starts from the lowest pending id. On PostgreSQL transactions
 *   commit out of id order; a row that becomes visible after later ones were
 *   delivered is simply the next one delivered, never skipped. The rows of a
 *   transaction are inserted at its very end, after its row locks: changes
 *   of the same rows get ids, and are delivered, in commit order. (A
 *   transaction advisory lock around the inserts would order the ids of
 *   unrelated transactions too, but it serialized every commit: 35 to 45%
 *   fewer node creations per second on PostgreSQL with 8 clients.)
 * - `delivery_state` holds one row per durable extension: how many events it
 *   has handled, its last error, and the lease (owner and deadline) that lets
 *   one instance at a time deliver its events.
 *
 * The queries are built with Kysely and run through the store's own
 * transactions ({@linkcode OutboxStore}), so that they serialize with the
 * core writes as every other write does.
 *
 * @module
 */
import {
  type CompiledQuery,
  DummyDriver,
  type Generated,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type RawBuilder,
  sql,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";
import type { HookArguments, NotificationHook } from "@nailgun/extensions";

/** The SQL dialects the outbox speaks. */
export type OutboxDialect = "sqlite" | "postgres";

/** One compiled outbox query run in a store transaction. */
export interface OutboxTransaction {
  /**
   * Runs the query in the transaction.
   *
   * @param query A query compiled for the store's dialect.
   * @returns The rows it answers (none for a statement that answers none).
   */
  execute<R>(query: CompiledQuery<R>): Promise<readonly R[]>;
}

/** What the outbox needs of the store: its dialect and its serialized transactions. */
export interface OutboxStore {
  /** The store's SQL dialect. */
  readonly dialect: OutboxDialect;
  /** Runs `fn` in one transaction that serializes with the store's other writers. */
  transaction<T>(fn: (tx: OutboxTransaction) => Promise<T>): Promise<T>;
}

/** A notification enqueued by a change, before it is written. */
export interface QueuedEvent {
  /** The notification hook. */
  readonly hook: NotificationHook;
  /** Its arguments, as JSON (serialized when enqueued: later changes of the objects do not count). */
  readonly argsJson: string;
  /** When it was enqueued, ISO 8601. */
  readonly occurredAt: string;
}

/** What `write()` hands the outbox: the events of one change, and when it has committed. */
export interface OutboxHook {
  /** Writes the rows of `events` for every durable extension that handles them, in `tx`, last. */
  append(tx: OutboxTransaction, events: readonly QueuedEvent[]): Promise<void>;
  /** Tells the outbox a transaction that appended rows has committed. */
  committed(): void;
}

/** Whether an event is waiting for delivery or was parked after its last attempt. */
export type OutboxStatus = "pending" | "parked";

/** One outbox row as the delivery loop and the API read it. */
export interface OutboxRow {
  /** The row's id: the order of delivery. */
  readonly seq: number;
  /** The durable extension it is for. */
  readonly extension: string;
  /** `EventMeta.id`: the same on every attempt. */
  readonly eventId: string;
  /** The notification hook. */
  readonly hook: NotificationHook;
  /** The arguments, as JSON. */
  readonly argsJson: string;
  /** `EventMeta.occurredAt`. */
  readonly occurredAt: string;
  /** Pending or parked. */
  readonly status: OutboxStatus;
  /** Failed attempts so far. */
  readonly attempts: number;
  /** Not before this time (milliseconds since the epoch) is the next attempt due. */
  readonly nextAttemptAt: number;
  /** The reason of the last failed attempt. */
  readonly lastError: string | null;
}

/** The counts of one durable extension's events. */
export interface OutboxCounts {
  /** Events waiting for delivery. */
  readonly pending: number;
  /** Events parked after their last attempt. */
  readonly parked: number;
  /** Events handled since the outbox was made. */
  readonly delivered: number;
  /** The reason of the last failed attempt, if any. */
  readonly lastError?: string;
}

interface OutboxTable {
  id: Generated<number>;
  extension: string;
  event_id: string;
  hook: string;
  args: string;
  occurred_at: string;
  status: Generated<string>;
  attempts: Generated<number>;
  next_attempt_at: Generated<number>;
  last_error: string | null;
}

interface StateTable {
  extension: string;
  delivered: number;
  last_error: string | null;
  lease_owner: string | null;
  lease_expires_at: number;
}

interface Tables {
  delivery_outbox: OutboxTable;
  delivery_state: StateTable;
}

/** The core tables of durable delivery; no extension prefix may match them. */
export const OUTBOX_TABLES: readonly string[] = ["delivery_outbox", "delivery_state"];

/** Key of the transaction advisory lock under which instances make the tables on PostgreSQL. */
const MIGRATE_LOCK_KEY = "7310593858020270958";

/** Kysely as a query builder only: the store runs what it compiles. */
function builder(dialect: OutboxDialect): Kysely<Tables> {
  return new Kysely<Tables>({
    dialect: dialect === "postgres"
      ? {
        createAdapter: () => new PostgresAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (db) => new PostgresIntrospector(db),
        createQueryCompiler: () => new PostgresQueryCompiler(),
      }
      : {
        createAdapter: () => new SqliteAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (db) => new SqliteIntrospector(db),
        createQueryCompiler: () => new SqliteQueryCompiler(),
      },
  });
}

/** The database clock in milliseconds: one clock for every instance of a PostgreSQL deployment. */
function nowMs(dialect: OutboxDialect): RawBuilder<number> {
  return dialect === "postgres"
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`;
}

type Row = Record<string, unknown>;

function toRow(row: Row): OutboxRow {
  return {
    seq: Number(row.id),
    extension: String(row.extension),
    eventId: String(row.event_id),
    hook: row.hook as NotificationHook,
    argsJson: String(row.args),
    occurredAt: String(row.occurred_at),
    status: row.status as OutboxStatus,
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    lastError: row.last_error === null ? null : String(row.last_error),
  };
}

/**
 * The outbox of one store: its tables, the rows of each change, and the
 * queries of the delivery loop and of the operators' API.
 *
 * @example Append an event and read it back (SQLite, in memory)
 * ```ts ignore
 * const outbox = new Outbox(store, { audit: new Set(["onNodeCreate"]) });
 * await outbox.migrate();
 * await store.write(async (tx) => { tx.enqueue("onNodeCreate", node); });
 * assert.equal((await outbox.head("audit", 10)).length, 1);
 * ```
 */
export class Outbox implements OutboxHook {
  readonly #store: OutboxStore;
  readonly #db: Kysely<Tables>;
  readonly #receivers: ReadonlyMap<NotificationHook, readonly string[]>;
  readonly #extensions: readonly string[];
  readonly #listeners = new Set<() => void>();

  /**
   * @param store The store whose transactions the outbox writes in.
   * @param durable For each durable extension, the notification hooks it handles.
   */
  constructor(
    store: OutboxStore,
    durable: Readonly<Record<string, ReadonlySet<NotificationHook>>>,
  ) {
    this.#store = store;
    this.#db = builder(store.dialect);
    this.#extensions = Object.keys(durable);
    const receivers = new Map<NotificationHook, string[]>();
    for (const [name, hooks] of Object.entries(durable)) {
      for (const hook of hooks) receivers.set(hook, [...(receivers.get(hook) ?? []), name]);
    }
    this.#receivers = receivers;
  }

  /** The durable extensions, in dispatch order. */
  get extensions(): readonly string[] {
    return this.#extensions;
  }

  /** The store's dialect. */
  get dialect(): OutboxDialect {
    return this.#store.dialect;
  }

  /**
   * Makes the tables (once; concurrent starts on PostgreSQL serialize on an
   * advisory lock) and one state row per durable extension.
   */
  async migrate(): Promise<void> {
    const postgres = this.#store.dialect === "postgres";
    const id = postgres ? sql`bigserial primary key` : sql`integer primary key autoincrement`;
    const big = postgres ? sql`bigint` : sql`integer`;
    const statements = [
      sql`create table if not exists delivery_outbox (
        id ${id},
        extension text not null,
        event_id text not null,
        hook text not null,
        args text not null,
        occurred_at text not null,
        status text not null default 'pending',
        attempts integer not null default 0,
        next_attempt_at ${big} not null default 0,
        last_error text
      )`,
      sql`create index if not exists delivery_outbox_queue
        on delivery_outbox (extension, status, id)`,
      sql`create table if not exists delivery_state (
        extension text primary key,
        delivered ${big} not null default 0,
        last_error text,
        lease_owner text,
        lease_expires_at ${big} not null default 0
      )`,
    ];
    await this.#store.transaction(async (tx) => {
      if (postgres) {
        await tx.execute(
          sql`select pg_advisory_xact_lock(${MIGRATE_LOCK_KEY}::bigint)`.compile(this.#db),
        );
      }
      for (const statement of statements) await tx.execute(statement.compile(this.#db));
      for (const extension of this.#extensions) {
        await tx.execute(
          this.#db.insertInto("delivery_state").values({
            extension,
            delivered: 0,
            last_error: null,
            lease_owner: null,
            lease_expires_at: 0,
          }).onConflict((conflict) => conflict.column("extension").doNothing()).compile(),
        );
      }
    });
  }

  /**
   * Writes one row per event and durable extension that handles it, in
   * the order of the events: the last statement of the change's
   * transaction, after its row locks.
   *
   * @param tx The change's transaction.
   * @param events What the change enqueued.
   */
  async append(tx: OutboxTransaction, events: readonly QueuedEvent[]): Promise<void> {
    const rows = [];
    for (const event of events) {
      const eventId = crypto.randomUUID();
      for (const extension of this.#receivers.get(event.hook) ?? []) {
        rows.push({
          extension,
          event_id: eventId,
          hook: event.hook,
          args: event.argsJson,
          occurred_at: event.occurredAt,
          last_error: null,
        });
      }
    }
    if (rows.length === 0) return;
    await tx.execute(this.#db.insertInto("delivery_outbox").values(rows).compile());
  }

  /** Wakes every delivery loop waiting for new rows. */
  committed(): void {
    for (const listener of this.#listeners) listener();
  }

  /**
   * Calls `listener` after each commit that appended rows.
   *
   * @param listener What to call.
   * @returns A function that removes it.
   */
  onCommitted(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Whether the hook reaches any durable extension.
   *
   * @param hook A notification hook.
   * @returns `true` when at least one durable extension handles it.
   */
  wants(hook: NotificationHook): boolean {
    return this.#receivers.has(hook);
  }

  /**
   * The first pending rows of an extension, in delivery order.
   *
   * @param extension The durable extension.
   * @param limit How many at most.
   * @returns The rows.
   */
  async head(extension: string, limit: number): Promise<OutboxRow[]> {
    const query = this.#db.selectFrom("delivery_outbox").selectAll()
      .where("extension", "=", extension).where("status", "=", "pending")
      .orderBy("id").limit(limit).compile();
    const rows = await this.#store.transaction((tx) => tx.execute(query));
    return rows.map((row) => toRow(row as unknown as Row));
  }

  /**
   * Deletes rows the extension has handled and counts them as delivered.
   *
   * @param extension The durable extension.
   * @param seqs The rows' ids.
   */
  async acknowledge(extension: string, seqs: readonly number[]): Promise<void> {
    if (seqs.length === 0) return;
    const db = this.#db;
    await this.#store.transaction(async (tx) => {
      const deleted = await tx.execute(
        db.deleteFrom("delivery_outbox").where("extension", "=", extension)
          .where("id", "in", [...seqs]).returning("id").compile(),
      );
      await tx.execute(
        db.updateTable("delivery_state").set((eb) => ({
          delivered: eb("delivered", "+", deleted.length),
        })).where("extension", "=", extension).compile(),
      );
    });
  }

  /**
   * Records a failed attempt: the row waits until `nextAttemptAt`, or is
   * parked.
   *
   * @param row The row.
   * @param failure The attempt number, the reason, when to try again, and whether to park it.
   */
  async recordFailure(
    row: OutboxRow,
    failure: { attempt: number; error: string; nextAttemptAt: number; park: boolean },
  ): Promise<void> {
    const db = this.#db;
    await this.#store.transaction(async (tx) => {
      await tx.execute(
        db.updateTable("delivery_outbox").set({
          attempts: failure.attempt,
          last_error: failure.error,
          next_attempt_at: failure.nextAttemptAt,
          status: failure.park ? "parked" : "pending",
        }).where("id", "=", row.seq).compile(),
      );
      await tx.execute(
        db.updateTable("delivery_state").set({ last_error: failure.error })
          .where("extension", "=", row.extension).compile(),
      );
    });
  }

  /**
   * The rows of an extension of one status, in delivery order.
   *
   * @param extension The durable extension.
   * @param status Pending or parked.
   * @param limit How many at most.
   * @returns The rows.
   */
  async list(extension: string, status: OutboxStatus, limit: number): Promise<OutboxRow[]> {
    const query = this.#db.selectFrom("delivery_outbox").selectAll()
      .where("extension", "=", extension).where("status", "=", status)
      .orderBy("id").limit(limit).compile();
    const rows = await this.#store.transaction((tx) => tx.execute(query));
    return rows.map((row) => toRow(row as unknown as Row));
  }

  /**
   * Puts parked events back in the queue, with their attempts reset. They
   * keep their place: older than what came after them, they go first.
   *
   * @param extension The durable extension.
   * @param eventIds Only these events (`EventMeta.id`); default every parked one.
   * @returns The ids of the events re-queued.
   */
  async requeue(extension: string, eventIds?: readonly string[]): Promise<string[]> {
    let query = this.#db.updateTable("delivery_outbox").set({
      status: "pending",
      attempts: 0,
      next_attempt_at: 0,
      last_error: null,
    }).where("extension", "=", extension).where("status", "=", "parked");
    if (eventIds !== undefined) {
      if (eventIds.length === 0) return [];
      query = query.where("event_id", "in", [...eventIds]);
    }
    const rows = await this.#store.transaction((tx) =>
      tx.execute(query.returning("event_id").compile())
    );
    if (rows.length > 0) this.committed();
    return rows.map((row) => String((row as unknown as Row).event_id));
  }

  /**
   * The counts of every durable extension.
   *
   * @returns Pending, parked and delivered events and the last error, by extension.
   */
  async counts(): Promise<Map<string, OutboxCounts>> {
    const db = this.#db;
    const [grouped, states] = await this.#store.transaction(async (tx) => [
      await tx.execute(
        db.selectFrom("delivery_outbox").select(["extension", "status"])
          .select((eb) => eb.fn.countAll().as("count")).groupBy(["extension", "status"]).compile(),
      ),
      await tx.execute(db.selectFrom("delivery_state").selectAll().compile()),
    ]);
    const counts = new Map<
      string,
      { pending: number; parked: number; delivered: number; lastError?: string }
    >();
    for (const extension of this.#extensions) {
      counts.set(extension, { pending: 0, parked: 0, delivered: 0 });
    }
    for (const row of states as unknown as Row[]) {
      const entry = counts.get(String(row.extension));
      if (!entry) continue;
      entry.delivered = Number(row.delivered);
      if (row.last_error !== null) entry.lastError = String(row.last_error);
    }
    for (const row of grouped as unknown as Row[]) {
      const entry = counts.get(String(row.extension));
      if (!entry) continue;
      if (row.status === "pending") entry.pending = Number(row.count);
      if (row.status === "parked") entry.parked = Number(row.count);
    }
    return counts;
  }

  /**
   * The events kept for extensions that are not durable here (no longer
   * loaded, or now inline): nothing delivers them until they are again.
   *
   * @returns The number of pending and parked rows, by extension.
   */
  async leftovers(): Promise<Map<string, number>> {
    const query = this.#db.selectFrom("delivery_outbox").select("extension")
      .select((eb) => eb.fn.countAll().as("count")).groupBy("extension").compile();
    const rows = await this.#store.transaction((tx) => tx.execute(query));
    const left = new Map<string, number>();
    for (const row of rows as unknown as Row[]) {
      const name = String(row.extension);
      if (!this.#extensions.includes(name)) left.set(name, Number(row.count));
    }
    return left;
  }

  /**
   * How many events of an extension wait for delivery.
   *
   * @param extension The durable extension.
   * @returns The number of pending rows.
   */
  async pending(extension: string): Promise<number> {
    const query = this.#db.selectFrom("delivery_outbox")
      .select((eb) => eb.fn.countAll().as("count"))
      .where("extension", "=", extension).where("status", "=", "pending").compile();
    const [row] = await this.#store.transaction((tx) => tx.execute(query));
    return Number((row as unknown as Row | undefined)?.count ?? 0);
  }

  /**
   * Takes or renews the lease on an extension's events: it succeeds when
   * nobody holds it, `owner` holds it, or the holder's deadline has passed.
   *
   * @param extension The durable extension.
   * @param owner Who asks (one id per service instance).
   * @param ttlMs How long the lease lasts without a renewal.
   * @returns `true` when `owner` now holds the lease.
   */
  async lease(extension: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = nowMs(this.#store.dialect);
    const deadline = sql<number>`${now} + ${ttlMs}`;
    const query = this.#db.insertInto("delivery_state").values({
      extension,
      delivered: 0,
      last_error: null,
      lease_owner: owner,
      lease_expires_at: deadline,
    }).onConflict((conflict) =>
      conflict.column("extension").doUpdateSet({
        lease_owner: owner,
        lease_expires_at: deadline,
      }).where((eb) =>
        eb.or([
          eb("delivery_state.lease_owner", "is", null),
          eb("delivery_state.lease_owner", "=", owner),
          eb("delivery_state.lease_expires_at", "<", now),
        ])
      )
    ).returning("lease_owner").compile();
    const rows = await this.#store.transaction((tx) => tx.execute(query));
    return rows.length === 1;
  }

  /**
   * Gives up a lease, so that another instance takes over at once.
   *
   * @param extension The durable extension.
   * @param owner Who holds it.
   */
  async release(extension: string, owner: string): Promise<void> {
    const query = this.#db.updateTable("delivery_state").set({
      lease_owner: null,
      lease_expires_at: 0,
    })
      .where("extension", "=", extension).where("lease_owner", "=", owner).compile();
    await this.#store.transaction((tx) => tx.execute(query));
  }
}

/**
 * Serializes the arguments of an enqueued notification.
 *
 * @param hook The notification hook.
 * @param args Its arguments.
 * @returns The event, ready for {@linkcode OutboxHook.append}.
 */
export function queuedEvent<H extends NotificationHook>(
  hook: H,
  args: HookArguments<H>,
): QueuedEvent {
  return { hook, argsJson: JSON.stringify(args), occurredAt: new Date().toISOString() };
}

/**
 * The notifications one `store.write()` enqueues, held until the end of its
 * transaction. A store makes one per transaction: its writer's `enqueue` is
 * {@linkcode PendingEvents.enqueue}, it calls `flush` right before the commit
 * and `committed` right after it.
 */
export class PendingEvents {
  readonly #outbox: OutboxHook & { wants(hook: NotificationHook): boolean } | undefined;
  readonly #events: QueuedEvent[] = [];

  /** @param outbox The store's outbox, if any durable extension is loaded. */
  constructor(outbox: Outbox | undefined) {
    this.#outbox = outbox;
  }

  /**
   * Enqueues a notification of this change for the durable extensions that
   * handle it (nothing happens when none does). The arguments are
   * serialized at once.
   *
   * @param hook The notification hook.
   * @param args Its arguments.
   */
  readonly enqueue = <H extends NotificationHook>(hook: H, ...args: HookArguments<H>): void => {
    if (this.#outbox?.wants(hook)) this.#events.push(queuedEvent(hook, args));
  };

  /**
   * Writes the enqueued rows in the transaction: call it right before the commit.
   *
   * @param tx The transaction.
   */
  async flush(tx: OutboxTransaction): Promise<void> {
    if (this.#events.length > 0) await this.#outbox!.append(tx, this.#events);
  }

  /** Wakes the delivery loops: call it right after the commit. */
  committed(): void {
    if (this.#events.length > 0) this.#outbox!.committed();
  }
}
