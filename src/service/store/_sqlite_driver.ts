/**
 * A Kysely dialect over `node:sqlite`: one connection, held by one user at a
 * time (a plain query, or a whole transaction, which may await between its
 * statements), and `BEGIN IMMEDIATE` transactions, so that a transaction's
 * reads already hold the write lock.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";

/** Most prepared statements kept; extension SQL may be generated, so the cache is bounded. */
const STATEMENT_CACHE_SIZE = 256;

/** Who holds the connection in this async context (see {@linkcode NodeSqliteDriver}). */
const holder = new AsyncLocalStorage<{ holds: boolean }>();

/**
 * Runs `fn` in an async context of its own, so that a plain query that `fn`
 * issues while its own transaction holds the connection fails at once
 * instead of waiting for itself forever.
 *
 * @param fn What holds the connection.
 * @returns What `fn` answers.
 */
export function holding<T>(fn: () => Promise<T>): Promise<T> {
  if (holder.getStore()?.holds) {
    return Promise.reject(
      new Error(
        "Cannot start a transaction inside another one: it would wait for itself: use the tx of the transaction that is open",
      ),
    );
  }
  return holder.run({ holds: false }, fn);
}

/**
 * The Kysely dialect over an open `node:sqlite` database.
 *
 * @param db The open database; the driver closes it on `destroy()`.
 * @returns The dialect.
 */
export function nodeSqliteDialect(db: DatabaseSync): Dialect {
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new NodeSqliteDriver(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
    // deno-lint-ignore no-explicit-any
    createIntrospector: (kysely: Kysely<any>) => new SqliteIntrospector(kysely),
  };
}

/** The one connection, behind a queue: `acquireConnection` waits for the previous user. */
class NodeSqliteDriver implements Driver {
  readonly #connection: NodeSqliteConnection;
  readonly #db: DatabaseSync;
  #tail: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#connection = new NodeSqliteConnection(db);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const context = holder.getStore();
    if (context?.holds) {
      throw new Error(
        "Cannot use the store outside the transaction that holds it: inside store.write() use its tx, inside database.transaction() its tx",
      );
    }
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise((resolve) => release = resolve);
    await previous;
    this.#release = release;
    if (context) context.holds = true;
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("BEGIN IMMEDIATE"));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("COMMIT"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#db.isTransaction) await connection.executeQuery(CompiledQuery.raw("ROLLBACK"));
  }

  async releaseConnection(): Promise<void> {
    const context = holder.getStore();
    if (context) context.holds = false;
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {
    await this.#tail;
    this.#connection.clear();
    this.#db.close();
  }
}

/** Runs compiled queries on the database; every value is converted as SQLite takes it. */
class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #totalChanges: StatementSync;
  readonly #lastRowid: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#totalChanges = db.prepare("SELECT total_changes() AS n");
    this.#lastRowid = db.prepare("SELECT last_insert_rowid() AS id");
  }

  clear(): void {
    this.#statements.clear();
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const statement = this.#prepare(compiledQuery.sql);
    const before = Number(this.#totalChanges.get()!.n);
    const rows = statement.all(...compiledQuery.parameters.map(toSqliteValue));
    const changes = Number(this.#totalChanges.get()!.n) - before;
    return {
      rows: rows.map((row) => ({ ...row }) as R),
      numAffectedRows: BigInt(changes),
      ...(changes > 0 ? { insertId: BigInt(this.#lastRowid.get()!.id as number) } : {}),
    };
  }

  // deno-lint-ignore require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("Cannot stream a query: the SQLite store does not stream");
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement) return statement;
    statement = this.#db.prepare(sql);
    if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
      this.#statements.delete(this.#statements.keys().next().value!);
    }
    this.#statements.set(sql, statement);
    return statement;
  }
}

/**
 * A value as SQLite takes it: booleans as 0/1, dates as ISO text, objects
 * and arrays as JSON text, `undefined` as NULL.
 *
 * @param value Any parameter.
 * @returns The SQLite value.
 */
export function toSqliteValue(value: unknown): SQLInputValue {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case "boolean":
      return value ? 1 : 0;
    case "number":
    case "bigint":
    case "string":
      return value;
  }
  if (value instanceof Uint8Array) return value;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}
