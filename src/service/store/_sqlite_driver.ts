/**
 * A Kysely dialect over `node:sqlite`: one connection, held by one user at a
 * time (a plain query, or a whole transaction, which may await between its
 * statements), and `BEGIN IMMEDIATE` transactions, so that a transaction's
 * reads already hold the write lock. (The store refuses a plain call made
 * inside its own transaction, which would wait for itself here.)
 *
 * @module
 */
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
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise((resolve) => release = resolve);
    await previous;
    this.#release = release;
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

/** A prepared statement, whether it answers rows, and whether it changes rows too. */
interface Prepared {
  statement: StatementSync;
  reader: boolean;
  changes: boolean;
}

/** Statements that change rows, and may answer some (`RETURNING`). */
const CHANGING = /^\s*(INSERT|UPDATE|DELETE|REPLACE|WITH)\b/i;

/** Runs compiled queries on the database; every value is converted as SQLite takes it. */
class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, Prepared>();
  readonly #changes: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#changes = db.prepare("SELECT changes() AS n");
  }

  clear(): void {
    this.#statements.clear();
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const { statement, reader, changes } = this.#prepare(compiledQuery.sql);
    const values = compiledQuery.parameters.map(toSqliteValue);
    if (!reader) {
      const result = statement.run(...values);
      return {
        rows: [],
        numAffectedRows: BigInt(result.changes),
        insertId: BigInt(result.lastInsertRowid),
      };
    }
    const rows = statement.all(...values).map((row) => ({ ...row }) as R);
    if (!changes) return { rows };
    return { rows, numAffectedRows: BigInt(this.#changes.get()!.n as number) };
  }

  // deno-lint-ignore require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("Cannot stream a query: the SQLite store does not stream");
  }

  #prepare(sql: string): Prepared {
    let prepared = this.#statements.get(sql);
    if (prepared) return prepared;
    const statement = this.#db.prepare(sql);
    prepared = { statement, reader: statement.columns().length > 0, changes: CHANGING.test(sql) };
    if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
      this.#statements.delete(this.#statements.keys().next().value!);
    }
    this.#statements.set(sql, prepared);
    return prepared;
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
