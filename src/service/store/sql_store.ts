/**
 * The one store of the reference Nailgun, over Kysely, for SQLite
 * (`node:sqlite`, the default: a file of its own) and PostgreSQL (several
 * service instances sharing one database). The core schema, the migration
 * runners, the queries and the row mapping are written once; what differs
 * between the dialects is in {@linkcode DIALECT_RULES} and in the two small
 * drivers (`_sqlite_driver.ts`, `_postgres_driver.ts`).
 *
 * Writers serialize: `write()` is one transaction; on SQLite it is
 * `BEGIN IMMEDIATE` on the one connection, which every other call waits
 * for; on PostgreSQL its reads take `FOR UPDATE` row locks. Migrations,
 * core and extension alike, run one step per transaction, under an advisory
 * lock on PostgreSQL, so that instances starting at the same moment on one
 * empty database apply each step exactly once.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { DatabaseSync } from "node:sqlite";
import { type Outbox, PendingEvents } from "../delivery/outbox.ts";
import { type CompiledQuery, type Generated, Kysely, sql, type Transaction } from "kysely";
import postgres from "postgres";
import {
  type Cluster,
  describeError,
  type Extension,
  type ExtensionDatabase,
  ExtensionLoadError,
  type Node,
  type NodeGroup,
  type SqlDialect,
  withTimeLimit,
} from "@nailgun/extensions";
import { type AnyKysely, type Begin, databaseOver, savepointsOf } from "./_extension_database.ts";
import { postgresJsDialect, storeErrorOf } from "./_postgres_driver.ts";
import { nulPath } from "./_sql_text.ts";
import { nodeSqliteDialect } from "./_sqlite_driver.ts";
import {
  COLUMN_TYPES,
  type ColumnTypes,
  CORE_MIGRATIONS,
  CORE_VERSION_TABLE,
  defaultHostname,
  defaultNodeName,
} from "./core_schema.ts";
import {
  migrationFailed,
  prefixViolation,
  reservedNameClash,
  unprefixedChanges,
  versionTableOf,
} from "./extension_tables.ts";
import {
  type AppliedMigration,
  type ClusterPatch,
  type NewCluster,
  type NewNode,
  type NewNodeGroup,
  type NodePatch,
  type Store,
  StoreConflictError,
  StoreValueError,
  type StoreWriter,
} from "./store.ts";

// --- the tables as Kysely sees them -------------------------------------

/** A JSON column: text in SQLite, parsed `jsonb` in PostgreSQL; written as JSON text. */
type JsonColumn = unknown;
/** A boolean column: 0/1 in SQLite, a boolean in PostgreSQL. */
type BoolColumn = boolean | number;

interface ClusterTable {
  id: Generated<number>;
  name: string;
  mode: string;
  status: string;
  release: string;
  extensions: JsonColumn;
  attributes: JsonColumn;
}

interface NodeGroupTable {
  id: Generated<number>;
  name: string;
  cluster_id: number;
}

interface NodeTable {
  id: Generated<number>;
  uuid: string;
  mac: string;
  name: string;
  hostname: string;
  status: string;
  cluster_id: number | null;
  group_id: number | null;
  roles: JsonColumn;
  pending_roles: JsonColumn;
  pending_addition: BoolColumn;
  pending_deletion: BoolColumn;
  online: BoolColumn;
  meta: JsonColumn;
}

interface CoreDatabase {
  clusters: ClusterTable;
  nodegroups: NodeGroupTable;
  nodes: NodeTable;
}

type Db = Kysely<CoreDatabase>;
type Row = Record<string, unknown>;

// --- what differs between the dialects ----------------------------------

/** Everything the store does differently on SQLite and PostgreSQL. */
interface DialectRules {
  /** Column types of the core schema. */
  readonly types: ColumnTypes;
  /** Whether the reads of a write lock their rows (`FOR UPDATE`). */
  readonly rowLocks: boolean;
  /** The DDL of a version table (kept as each dialect has always had it). */
  versionTable(table: string): string;
  /** The column that orders a version table. */
  readonly versionOrder: string;
  /** Waits for the migration lock of the database inside a migration transaction. */
  migrationLock(trx: AnyKysely): Promise<void>;
  /** Names of the tables and views, without the database's own. */
  tableNames(db: AnyKysely): Promise<string[]>;
}

/**
 * Key of the advisory lock that every migration step, core or extension, of
 * every instance holds for its transaction: one step at a time per database.
 */
const MIGRATION_LOCK_KEY = "7310593858020270957";

/** How many times `write()` runs a callback that PostgreSQL ended for a deadlock. */
const WRITE_ATTEMPTS = 4;

/** PostgreSQL's longest identifier, in bytes; longer ones are silently cut. */
const MAX_IDENTIFIER_BYTES = 63;

/** The rules of each dialect. */
export const DIALECT_RULES: Readonly<Record<SqlDialect, DialectRules>> = {
  sqlite: {
    types: COLUMN_TYPES.sqlite,
    rowLocks: false, // BEGIN IMMEDIATE holds the whole database
    versionTable: (table) =>
      `CREATE TABLE IF NOT EXISTS ${table} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`,
    versionOrder: "rowid",
    migrationLock: async () => {}, // BEGIN IMMEDIATE is the lock
    tableNames: async (db) => {
      const { rows } = await sql<{ name: string }>`
        SELECT name FROM sqlite_master WHERE type IN ('table', 'view')`.execute(db);
      return rows.map((row) => row.name).filter((name) => !name.startsWith("sqlite_"));
    },
  },
  postgres: {
    types: COLUMN_TYPES.postgres,
    rowLocks: true,
    versionTable: (table) =>
      `CREATE TABLE IF NOT EXISTS ${table} (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL UNIQUE,
        applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`,
    versionOrder: "id",
    migrationLock: async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${sql.raw(MIGRATION_LOCK_KEY)})`.execute(trx);
    },
    tableNames: async (db) => {
      const { rows } = await sql<{ name: string }>`
        SELECT c.relname AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%'
          AND n.nspname NOT LIKE 'pg\\_temp\\_%'`.execute(db);
      return rows.map((row) => row.name);
    },
  },
};

// --- opening ------------------------------------------------------------

/** Time limits of both stores. */
export interface StoreTimeLimits {
  /** Time limit of one extension migration step, in milliseconds; default 60 000. */
  migrationTimeoutMs?: number;
  /**
   * Time limit of one `context.database.transaction()` of an extension, in
   * milliseconds, after which it is rolled back; default 30 000.
   */
  extensionTransactionTimeoutMs?: number;
}

/** Options of {@linkcode openSqliteStore}. */
export interface SqliteStoreOptions extends StoreTimeLimits {
  /** How long a write waits for another process's lock, in milliseconds; default 5 000. */
  busyTimeoutMs?: number;
}

/** Options of {@linkcode openPostgresStore}. */
export interface PostgresStoreOptions extends StoreTimeLimits {
  /** Most connections the store opens (lazily); default 10, or `?max=` in the URL. */
  max?: number;
  /** Seconds to wait for a connection before failing; default 5. */
  connectTimeout?: number;
}

/** The time limits a store runs with. */
interface StoreLimits {
  migrationMs: number;
  extensionTransactionMs: number;
}

function limitsOf(options: StoreTimeLimits): StoreLimits {
  return {
    migrationMs: options.migrationTimeoutMs ?? 60_000,
    extensionTransactionMs: options.extensionTransactionTimeoutMs ?? 30_000,
  };
}

/**
 * Opens (and creates, with its directory) an SQLite database as a store:
 * WAL journal, foreign keys on, a busy timeout for other processes on the
 * same file. The core schema is not migrated yet: call `migrateCore()`.
 *
 * @param path The database file, or `:memory:`.
 * @param options Busy timeout and migration time limit.
 * @returns The store.
 * @throws {Error} When the file cannot be opened.
 *
 * @example Store a cluster in memory
 * ```ts
 * import { openSqliteStore } from "./sql_store.ts";
 * import assert from "node:assert/strict";
 * const store = await openSqliteStore(":memory:");
 * await store.migrateCore();
 * const cluster = await store.write((tx) =>
 *   tx.createCluster({
 *     name: "env-1", mode: "ha_compact", release: "mitaka-9.0", extensions: [], attributes: {},
 *   })
 * );
 * assert.equal((await store.getCluster(cluster.id))?.name, "env-1");
 * await store.close();
 * ```
 */
export async function openSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Promise<SqlStore> {
  if (path !== ":memory:") {
    const slash = path.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  }
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
  db.exec("PRAGMA foreign_keys = ON");
  if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  return new SqlStore(
    "sqlite",
    new Kysely<CoreDatabase>({ dialect: nodeSqliteDialect(db) }),
    path,
    limitsOf(options),
  );
}

/**
 * Opens a PostgreSQL database as a store: connects once to check the URL,
 * then opens connections as they are needed. The schema is not touched
 * until `migrateCore()` runs. While the database cannot be reached, every
 * call rejects with `StoreUnavailableError`; the store reconnects by itself.
 *
 * Values as `database` answers them: `bigint` results (`count(*)`) as
 * numbers, `jsonb` parsed, booleans as booleans. Parameters may be objects or
 * arrays (sent as JSON text); a string bound to a `jsonb` parameter is taken
 * as JSON text, so `JSON.stringify(value)` works in both dialects.
 *
 * @param url A connection URL, e.g. `postgres://user:password@127.0.0.1:5432/nailgun`.
 * @param options Pool size, connection and migration time limits.
 * @returns The store; close it with `close()`.
 * @throws {TypeError} When the URL is not a `postgres://` or `postgresql://` URL.
 * @throws {Error} When the database cannot be reached; the message names the
 * URL without its password.
 *
 * @example Open a database, migrate it and store a node
 * ```ts ignore
 * import { openPostgresStore } from "./sql_store.ts";
 * import assert from "node:assert/strict";
 * const store = await openPostgresStore("postgres://nailgun:nailgun@127.0.0.1:5432/nailgun");
 * try {
 *   await store.migrateCore();
 *   const node = await store.write((tx) => tx.createNode({ mac: "52:54:00:12:34:56" }));
 *   assert.equal((await store.getNode(node.id))?.mac, "52:54:00:12:34:56");
 * } finally {
 *   await store.close();
 * }
 * ```
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<SqlStore> {
  const shown = redactUrl(url);
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new TypeError(
      `Cannot open PostgreSQL database "${shown}": the URL must start with postgres:// or postgresql://: current value is "${shown}"`,
    );
  }
  const pool = postgres(url, {
    ...(options.max === undefined ? {} : { max: options.max }),
    connect_timeout: options.connectTimeout ?? 5,
    // Postgres.js waits (0.5–1) × 3^failures / 100 s, up to 20 s, before it
    // retries a connection, and the queries queued for it wait as long: while
    // the database is down, calls would hang instead of failing, and after it
    // is back the store would stay away for up to 20 s. 50 ms between tries.
    backoff: () => 0.05,
    onnotice: () => {},
    transform: { undefined: null },
    types: {
      // bigint (count(*), sum(), bigserial ids) as a JS number, as SQLite answers it.
      int8: {
        to: 20,
        from: [20],
        serialize: (value: unknown) => String(value),
        parse: (value: string) => Number(value),
      },
      // json and jsonb parameters: a string is JSON text already (as SQLite
      // stores JSON), anything else is serialized; values are parsed.
      jsonb: {
        to: 3802,
        from: [114, 3802],
        serialize: (value: unknown) => typeof value === "string" ? value : JSON.stringify(value),
        parse: (value: string) => JSON.parse(value),
      },
    },
  }) as unknown as postgres.Sql<Record<string, unknown>>;
  try {
    await pool`SELECT 1`;
  } catch (error) {
    await pool.end({ timeout: 1 }).catch(() => {});
    throw new Error(`Cannot open PostgreSQL database "${shown}": ${describeError(error)}`, {
      cause: error,
    });
  }
  return new SqlStore(
    "postgres",
    new Kysely<CoreDatabase>({ dialect: postgresJsDialect(pool, shown) }),
    shown,
    limitsOf(options),
  );
}

// --- the store ----------------------------------------------------------

/** The {@linkcode Store} over Kysely; see the module docs. */
export class SqlStore implements Store {
  /** Which SQL dialect the database speaks. */
  readonly dialect: SqlDialect;
  /** The database as extensions see it (with `transaction()`). */
  readonly database: ExtensionDatabase;
  /** The database file or URL (without its password), for messages. */
  readonly path: string;
  readonly #db: Db;
  readonly #rules: DialectRules;
  readonly #migrationTimeoutMs: number;
  #closed: Promise<void> | undefined;
  #outbox: Outbox | undefined;

  /**
   * Wraps a Kysely instance; {@linkcode openSqliteStore} and
   * {@linkcode openPostgresStore} are the usual way.
   *
   * @param dialect Which dialect the instance speaks.
   * @param db The instance; `close()` destroys it.
   * @param path The file or URL, for messages.
   * @param limits Time limits of a migration step and of an extension's transaction.
   */
  constructor(dialect: SqlDialect, db: Db, path: string, limits: StoreLimits) {
    this.dialect = dialect;
    this.#db = db;
    this.#rules = DIALECT_RULES[dialect];
    this.path = path;
    this.#migrationTimeoutMs = limits.migrationMs;
    this.database = databaseOver(
      dialect,
      () => this.#live(),
      this.#begin,
      limits.extensionTransactionMs,
    );
  }

  // --- schema -------------------------------------------------------------

  /** Brings the core schema up to date; each step once, recorded in `schema_migrations`. */
  async migrateCore(): Promise<void> {
    for (const step of CORE_MIGRATIONS) {
      await this.#begin(async (trx) => {
        if (!await this.#beginStep(trx, CORE_VERSION_TABLE, step.name)) return;
        await step.up(trx, this.#rules.types);
        await this.#recordStep(trx, CORE_VERSION_TABLE, step.name);
      });
    }
  }

  /**
   * Applies the extension's steps not applied yet, in order, each in a
   * transaction recorded in `<name>_schema_migrations`.
   *
   * @param extension The extension.
   * @param source Where it came from, for messages.
   * @throws {ExtensionLoadError} In phase `migrate`: when the name is
   * reserved (it would reach a core table), or a step fails, ends the
   * transaction itself, or creates or drops a table without the `<name>_`
   * prefix; nothing of that step stays.
   */
  async migrateExtension(extension: Extension, source: string): Promise<void> {
    const clash = reservedNameClash(extension.name);
    if (clash) {
      throw new ExtensionLoadError(
        `Cannot load extension "${source}": the name "${extension.name}" is reserved: its tables would start with "${extension.name}_" and it could reach the core table "${clash}": rename the extension`,
        { source, extension: extension.name, phase: "migrate" },
      );
    }
    const steps = extension.migrations ?? [];
    if (steps.length === 0) return;
    let table: string;
    try {
      table = versionTableOf(extension.name);
    } catch (error) {
      throw new ExtensionLoadError(`Cannot load extension "${source}": ${describeError(error)}`, {
        source,
        extension: extension.name,
        phase: "migrate",
        cause: error,
      });
    }
    if (this.dialect === "postgres" && byteLength(table) > MAX_IDENTIFIER_BYTES) {
      throw new ExtensionLoadError(
        `Cannot load extension "${source}": the name "${extension.name}" is too long to prefix PostgreSQL tables: its version table "${table}" is longer than ${MAX_IDENTIFIER_BYTES} bytes: current value is ${extension.name.length} characters`,
        { source, extension: extension.name, phase: "migrate" },
      );
    }
    for (const step of steps) {
      try {
        await this.#begin(async (trx) => {
          if (!await this.#beginStep(trx, table, step.name)) return;
          const before = await this.#rules.tableNames(trx);
          let live = true;
          const stepDatabase = databaseOver(this.dialect, () => {
            if (!live) {
              throw new Error(
                `Cannot use the database from migration "${step.name}" of "${extension.name}": the step is over`,
              );
            }
            return trx;
          }, savepointsOf(trx));
          try {
            await withTimeLimit(() => step.up(stepDatabase), this.#migrationTimeoutMs);
          } finally {
            live = false;
          }
          const after = await this.#rules.tableNames(trx);
          const offending = unprefixedChanges(extension.name, before, after);
          if (offending.length > 0) throw prefixViolation(extension, source, step.name, offending);
          await this.#recordStep(trx, table, step.name);
        });
      } catch (error) {
        if (error instanceof ExtensionLoadError) throw error;
        throw migrationFailed(extension, source, step.name, error);
      }
    }
  }

  /**
   * The steps applied for an extension, or for the core with `"core"`.
   *
   * @param extensionName The extension's name, or `"core"`.
   * @returns The steps in the order they were applied; none when the version table does not exist.
   */
  async appliedMigrations(extensionName: string | "core"): Promise<AppliedMigration[]> {
    const table = extensionName === "core" ? CORE_VERSION_TABLE : versionTableOf(extensionName);
    const db = this.#live();
    if (!(await this.#rules.tableNames(db)).includes(table)) return [];
    const { rows } = await sql<{ name: string; applied_at: string | Date }>`
      SELECT name, applied_at FROM ${sql.table(table)}
      ORDER BY ${sql.raw(this.#rules.versionOrder)}`.execute(db);
    return rows.map((row) => ({
      name: row.name,
      applied_at: row.applied_at instanceof Date
        ? row.applied_at.toISOString()
        : String(row.applied_at),
    }));
  }

  /** Waits for the migration lock, creates the version table, tells whether the step is still to apply. */
  async #beginStep(trx: AnyKysely, table: string, step: string): Promise<boolean> {
    await this.#rules.migrationLock(trx);
    await sql.raw(this.#rules.versionTable(table)).execute(trx);
    const { rows } = await sql`SELECT 1 FROM ${sql.table(table)} WHERE name = ${step}`.execute(
      trx,
    );
    return rows.length === 0;
  }

  async #recordStep(trx: AnyKysely, table: string, step: string): Promise<void> {
    await sql`INSERT INTO ${sql.table(table)} (name, applied_at)
      VALUES (${step}, ${new Date().toISOString()})`.execute(trx);
  }

  // --- plain reads --------------------------------------------------------

  /** Every cluster, by id. */
  async listClusters(): Promise<Cluster[]> {
    return (await this.#live().selectFrom("clusters").selectAll().orderBy("id").execute())
      .map(toCluster);
  }

  /** One cluster, or `undefined`. */
  async getCluster(id: number): Promise<Cluster | undefined> {
    return await readsOf(this.#live(), false).getCluster(id);
  }

  /** Nodes, optionally of one cluster, by id. */
  async listNodes(filter?: { cluster_id?: number }): Promise<Node[]> {
    return await readsOf(this.#live(), false).listNodes(filter);
  }

  /** One node, or `undefined`. */
  async getNode(id: number): Promise<Node | undefined> {
    return await readsOf(this.#live(), false).getNode(id);
  }

  /** Node groups, optionally of one cluster, by id. */
  async listNodeGroups(filter?: { cluster_id?: number }): Promise<NodeGroup[]> {
    return await readsOf(this.#live(), false).listNodeGroups(filter);
  }

  /** One node group, or `undefined`. */
  async getNodeGroup(id: number): Promise<NodeGroup | undefined> {
    return await readsOf(this.#live(), false).getNodeGroup(id);
  }

  // --- write() ------------------------------------------------------------

  /**
   * Runs `fn` in one transaction that serializes with every other writer;
   * see {@linkcode Store.write}. When PostgreSQL ends the transaction for a
   * deadlock with another writer, `fn` runs again (up to 4 times in all):
   * keep it free of effects outside the store.
   *
   * @param fn The read-check-write.
   * @returns What `fn` answers, once committed.
   * @throws {StoreConflictError} When a write breaks a uniqueness or foreign key rule.
   * @throws {StoreValueError} When a value cannot be stored (a NUL character).
   * @throws {StoreUnavailableError} When the database cannot be reached.
   */
  async write<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      // What this attempt enqueued: a retried attempt enqueues again.
      const events = new PendingEvents(this.#outbox);
      try {
        const committed = await this.#begin(async (trx) => {
          let live = true;
          const writer = writerOf(
            () => {
              if (!live) throw new Error("Cannot use the transaction of store.write(): it is over");
              return trx as unknown as Transaction<CoreDatabase>;
            },
            this.#rules.rowLocks,
            events,
          );
          try {
            const result = await fn(writer);
            await events.flush(writer);
            return result;
          } finally {
            live = false;
          }
        });
        events.committed();
        return committed;
      } catch (error) {
        // Two writers that lock the same rows in opposite orders: PostgreSQL
        // ends one of them (nothing of it stays); run it again.
        if (attempt >= WRITE_ATTEMPTS || !isRetryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      }
    }
  }

  /** Durable delivery: `write()` writes what its writer enqueued to this outbox. */
  useOutbox(outbox: Outbox): void {
    this.#outbox = outbox;
  }

  /** Closes the database once the running transactions are over; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= this.#db.destroy();
    return this.#closed;
  }

  // --- internals ----------------------------------------------------------

  /**
   * Opens a transaction (its own connection, or the SQLite connection's
   * turn) and runs `fn` on it, in an async context that marks it: a plain
   * call of the store from inside (which on SQLite would wait for itself
   * forever) fails at once, on both dialects alike.
   */
  #begin: Begin = async (fn) => {
    const db = this.#live();
    const context = { inside: false };
    return await transactions.run(context, async () => {
      try {
        return await db.transaction().execute(async (trx) => {
          context.inside = true;
          try {
            return await fn(trx);
          } finally {
            context.inside = false;
          }
        });
      } catch (error) {
        throw constraintError(storeErrorOf(error, this.path));
      }
    });
  };

  #live(): Db {
    if (this.#closed) throw new Error(`Cannot use the store "${this.path}": it is closed`);
    if (transactions.getStore()?.inside) {
      throw new Error(
        `Cannot use the store "${this.path}" outside the transaction that is open here: inside store.write() use its tx, inside database.transaction() its tx`,
      );
    }
    return this.#db;
  }
}

/** Marks the async context of a transaction of the store (see `#begin`). */
const transactions = new AsyncLocalStorage<{ inside: boolean }>();

// --- reads and writes, once for both dialects ---------------------------

/** The reads of a writer or of the store; `lock` adds `FOR UPDATE`. */
function readsOf(db: Db | Transaction<CoreDatabase>, lock: boolean) {
  const one = async <T>(
    table: "clusters" | "nodes" | "nodegroups",
    id: number,
    map: (row: Row) => T,
  ): Promise<T | undefined> => {
    if (!isId(id)) return undefined;
    const row = await db.selectFrom(table).selectAll().where("id", "=", id)
      .$if(lock, (query) => query.forUpdate()).executeTakeFirst();
    return row && map(row);
  };
  const many = async <T>(
    table: "nodes" | "nodegroups",
    filter: { cluster_id?: number } | undefined,
    map: (row: Row) => T,
  ): Promise<T[]> => {
    const clusterId = filter?.cluster_id;
    if (clusterId !== undefined && !isId(clusterId)) return [];
    const rows = await db.selectFrom(table).selectAll()
      .$if(clusterId !== undefined, (query) => query.where("cluster_id", "=", clusterId!))
      .orderBy("id")
      .$if(lock, (query) => query.forUpdate()).execute();
    return rows.map(map);
  };
  return {
    getCluster: (id: number) => one("clusters", id, toCluster),
    getNode: (id: number) => one("nodes", id, toNode),
    getNodeGroup: (id: number) => one("nodegroups", id, toNodeGroup),
    listNodes: (filter?: { cluster_id?: number }) => many("nodes", filter, toNode),
    listNodeGroups: (filter?: { cluster_id?: number }) => many("nodegroups", filter, toNodeGroup),
  };
}

/** The {@linkcode StoreWriter} over one transaction. */
function writerOf(
  trx: () => Transaction<CoreDatabase>,
  lock: boolean,
  events: PendingEvents,
): StoreWriter {
  const reads = () => readsOf(trx(), lock);
  const guarded = <A extends unknown[], R>(work: (...args: A) => Promise<R>) =>
  async (
    ...args: A
  ): Promise<R> => {
    try {
      return await work(...args);
    } catch (error) {
      throw constraintError(error);
    }
  };
  const assertMacFree = async (mac: string, self?: number) => {
    const taken = await trx().selectFrom("nodes").select("id").where("mac", "=", mac)
      .executeTakeFirst();
    if (taken && Number(taken.id) !== self) {
      throw new StoreConflictError(
        `Cannot store node "${mac}": node ${taken.id} already has that MAC address`,
        "mac",
      );
    }
  };
  const assertClusterNameFree = async (name: string, self?: number) => {
    const taken = await trx().selectFrom("clusters").select("id").where("name", "=", name)
      .executeTakeFirst();
    if (taken && Number(taken.id) !== self) {
      throw new StoreConflictError(
        `Cannot store cluster "${name}": cluster ${taken.id} already has that name`,
        "name",
      );
    }
  };
  return {
    enqueue: events.enqueue,
    execute: async <R>(query: CompiledQuery<R>) => [...(await trx().executeQuery(query)).rows],
    getCluster: (id) => reads().getCluster(id),
    getNode: (id) => reads().getNode(id),
    getNodeGroup: (id) => reads().getNodeGroup(id),
    listNodes: (filter) => reads().listNodes(filter),
    listNodeGroups: (filter) => reads().listNodeGroups(filter),

    createCluster: guarded(async (data: NewCluster) => {
      assertStorable("cluster", data);
      await assertClusterNameFree(data.name);
      const row = await trx().insertInto("clusters").values({
        name: data.name,
        mode: data.mode,
        status: "new",
        release: data.release,
        extensions: JSON.stringify(data.extensions),
        attributes: JSON.stringify(data.attributes),
      }).returningAll().executeTakeFirstOrThrow();
      return toCluster(row);
    }),

    updateCluster: guarded(async (id: number, patch: ClusterPatch) => {
      assertStorable("cluster", patch);
      const current = await reads().getCluster(id);
      if (!current) return undefined;
      if (patch.name !== undefined) await assertClusterNameFree(patch.name, id);
      const changes = columnsOf(patch, CLUSTER_JSON);
      if (Object.keys(changes).length === 0) return current;
      const row = await trx().updateTable("clusters").set(changes).where("id", "=", id)
        .returningAll().executeTakeFirstOrThrow();
      return toCluster(row);
    }),

    deleteCluster: guarded(async (id: number) => {
      const current = await reads().getCluster(id);
      if (!current) return undefined;
      const db = trx();
      await db.updateTable("nodes").set({
        cluster_id: null,
        group_id: null,
        status: "discover",
        roles: "[]",
        pending_roles: "[]",
        pending_addition: false,
        pending_deletion: false,
      }).where((eb) =>
        eb.or([
          eb("cluster_id", "=", id),
          eb(
            "group_id",
            "in",
            eb.selectFrom("nodegroups").select("id").where("cluster_id", "=", id),
          ),
        ])
      ).execute();
      await db.deleteFrom("nodegroups").where("cluster_id", "=", id).execute();
      await db.deleteFrom("clusters").where("id", "=", id).execute();
      return current;
    }),

    createNode: guarded(async (data: NewNode) => {
      assertStorable("node", data);
      await assertMacFree(data.mac);
      const clusterId = data.cluster_id ?? null;
      const db = trx();
      let row = await db.insertInto("nodes").values({
        uuid: crypto.randomUUID(),
        mac: data.mac,
        name: data.name ?? defaultNodeName(data.mac),
        hostname: data.hostname ?? "",
        status: "discover",
        cluster_id: clusterId,
        group_id: data.group_id ?? null,
        roles: JSON.stringify(data.roles ?? []),
        pending_roles: JSON.stringify(data.pending_roles ?? []),
        pending_addition: clusterId !== null,
        pending_deletion: false,
        online: data.online ?? true,
        meta: JSON.stringify(data.meta ?? {}),
      }).returningAll().executeTakeFirstOrThrow();
      if (data.hostname === undefined) {
        row = await db.updateTable("nodes").set({ hostname: defaultHostname(Number(row.id)) })
          .where("id", "=", row.id).returningAll().executeTakeFirstOrThrow();
      }
      return toNode(row);
    }),

    updateNode: guarded(async (id: number, patch: NodePatch) => {
      assertStorable("node", patch);
      const current = await reads().getNode(id);
      if (!current) return undefined;
      if (patch.mac !== undefined) await assertMacFree(patch.mac, id);
      const { id: _id, uuid: _uuid, ...rest } = patch as NodePatch & { id?: never; uuid?: never };
      const changes = columnsOf(rest, NODE_JSON);
      if (Object.keys(changes).length === 0) return current;
      const row = await trx().updateTable("nodes").set(changes).where("id", "=", id)
        .returningAll().executeTakeFirstOrThrow();
      return toNode(row);
    }),

    deleteNode: guarded(async (id: number) => {
      if (!isId(id)) return undefined;
      const row = await trx().deleteFrom("nodes").where("id", "=", id).returningAll()
        .executeTakeFirst();
      return row && toNode(row);
    }),

    deleteNodes: guarded(async (ids: readonly number[]) => {
      const wanted = [...new Set(ids)].filter(isId);
      if (wanted.length === 0) return [];
      const rows = await trx().deleteFrom("nodes").where("id", "in", wanted).returningAll()
        .execute();
      const byId = new Map(rows.map((row) => [Number(row.id), toNode(row)]));
      return wanted.flatMap((id) => byId.get(id) ?? []);
    }),

    createNodeGroup: guarded(async (data: NewNodeGroup) => {
      assertStorable("node group", data);
      const taken = await trx().selectFrom("nodegroups").select("id")
        .where("cluster_id", "=", data.cluster_id).where("name", "=", data.name)
        .executeTakeFirst();
      if (taken) {
        throw new StoreConflictError(
          `Cannot create node group "${data.name}": cluster ${data.cluster_id} already has node group ${taken.id} of that name`,
          "name",
        );
      }
      const row = await trx().insertInto("nodegroups")
        .values({ name: data.name, cluster_id: data.cluster_id })
        .returningAll().executeTakeFirstOrThrow();
      return toNodeGroup(row);
    }),

    deleteNodeGroup: guarded(async (id: number) => {
      if (!isId(id)) return undefined;
      const db = trx();
      await db.updateTable("nodes").set({ group_id: null }).where("group_id", "=", id).execute();
      const row = await db.deleteFrom("nodegroups").where("id", "=", id).returningAll()
        .executeTakeFirst();
      return row && toNodeGroup(row);
    }),
  };
}

const CLUSTER_JSON = new Set(["extensions", "attributes"]);
const NODE_JSON = new Set(["roles", "pending_roles", "meta"]);

/** The columns to set from a patch: defined fields only, JSON columns as JSON text. */
// deno-lint-ignore no-explicit-any
function columnsOf(patch: object, json: ReadonlySet<string>): Record<string, any> {
  return Object.fromEntries(
    Object.entries(patch)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, json.has(key) ? JSON.stringify(value) : value]),
  );
}

/** Refuses a value PostgreSQL cannot store (a NUL character), on both dialects alike. */
function assertStorable(what: string, data: object): void {
  for (const [field, value] of Object.entries(data)) {
    const path = nulPath(value);
    if (path === undefined) continue;
    const name = path === "" ? field : path.startsWith("[") ? field + path : `${field}.${path}`;
    throw new StoreValueError(
      `Cannot store the ${what}: the field "${name}" holds a NUL character (\\u0000), which cannot be stored in text or JSON: remove it: current value is ${
        JSON.stringify(value)
      }`,
      name,
    );
  }
}

/** A constraint violation of either dialect as a {@linkcode StoreConflictError}; other errors as they are. */
function constraintError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof StoreConflictError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === "23503" || /FOREIGN KEY constraint failed/.test(error.message)) {
    return new StoreConflictError(
      "Cannot store the change: it refers to a cluster or node group that does not exist",
      "cluster_id",
    );
  }
  if (code === "23505" || /UNIQUE constraint failed/.test(error.message)) {
    const detail = (error as { detail?: string }).detail ?? error.message;
    const field = /nodes\.mac|nodes_mac_key/.test(`${error.message} ${constraintName(error)}`)
      ? "mac"
      : "name";
    return new StoreConflictError(
      `Cannot store the change: another row already has that ${field}: ${detail}`,
      field,
    );
  }
  return error;
}

/** A deadlock (40P01) or a serialization failure (40001): the transaction may run again. */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "40P01" || code === "40001";
}

function constraintName(error: Error): string {
  return String((error as { constraint_name?: unknown }).constraint_name ?? "");
}

// --- row mapping, once ----------------------------------------------------

/** A JSON column as stored: text (SQLite) or parsed already (PostgreSQL). */
function json<T>(value: unknown, fallback: T): T {
  if (typeof value === "string") return JSON.parse(value) as T;
  return (value ?? fallback) as T;
}

function toCluster(row: Row): Cluster {
  return {
    id: Number(row.id),
    name: String(row.name),
    mode: String(row.mode),
    status: String(row.status) as Cluster["status"],
    release: String(row.release),
    extensions: json(row.extensions, []),
    attributes: json(row.attributes, {}),
  };
}

function toNode(row: Row): Node {
  return {
    id: Number(row.id),
    uuid: String(row.uuid),
    mac: String(row.mac),
    name: String(row.name),
    hostname: String(row.hostname),
    status: String(row.status) as Node["status"],
    cluster_id: row.cluster_id === null ? null : Number(row.cluster_id),
    group_id: row.group_id === null ? null : Number(row.group_id),
    roles: json(row.roles, []),
    pending_roles: json(row.pending_roles, []),
    pending_addition: Boolean(row.pending_addition),
    pending_deletion: Boolean(row.pending_deletion),
    online: Boolean(row.online),
    meta: json(row.meta, {}),
  };
}

function toNodeGroup(row: Row): NodeGroup {
  return { id: Number(row.id), name: String(row.name), cluster_id: Number(row.cluster_id) };
}

/** Whether a value can be a row id (an `integer` column in both dialects). */
function isId(id: number): boolean {
  return Number.isSafeInteger(id) && id > 0 && id <= 2_147_483_647;
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}
