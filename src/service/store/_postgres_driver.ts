/**
 * A Kysely dialect over the `postgres` driver (Postgres.js) that survives
 * database outages.
 *
 * Why not `kysely-postgres-js` or `sql.begin()`: Postgres.js 3.4.9 ends the
 * process (`TypeError: Cannot read properties of null (reading 'write')`,
 * thrown from a `setImmediate`, so no `catch` can see it) when a query is
 * sent on a *reserved* connection whose socket has closed: `execute()` →
 * `build()` touches the null socket, its `catch` queues a `Sync` message,
 * and the queued write runs on `null`. `sql.begin()` does exactly that when
 * the backend dies inside a transaction (its `rollback` goes to the dead
 * connection), and so does `release()` of a dead reserved connection, which
 * puts it back among the open ones for the next query. This driver never
 * does either: it learns of the close from the connection's own `onclose`
 * hook (the one `sql.begin()` uses internally), then answers every further
 * query on that connection with {@linkcode StoreUnavailableError} itself,
 * and does not release it (the pool has already taken it back to reconnect).
 *
 * Each plain query and each transaction reserves a connection of the pool
 * (waiting at most 3 s for one). Connection errors (the server down,
 * restarting, or the connection cut) become {@linkcode StoreUnavailableError}.
 *
 * @module
 */
import postgres from "postgres";
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import { describeError } from "@nailgun/extensions";
import { StoreUnavailableError } from "./store.ts";

/** The pool type the driver runs on. */
export type PostgresPool = postgres.Sql<Record<string, unknown>>;

/** Longest a transaction waits for a connection of the pool. */
const RESERVE_LIMIT_MS = 3_000;

/** Commands whose row count is a number of changed rows. */
const CHANGING_COMMANDS = new Set(["INSERT", "UPDATE", "DELETE", "MERGE"]);

/** Error codes of Postgres.js and of the socket that mean: the database cannot be reached. */
const UNREACHABLE_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * Whether an error of the driver means the database cannot be reached (as
 * opposed to an error of the statement): a connection error, or a server
 * error of class 08 (connection exception), 57P01–57P03 (shutting down,
 * crashed, starting up) or 53300 (too many connections).
 *
 * @param error What a query rejected with.
 * @returns True when the database is unreachable.
 */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof StoreUnavailableError) return true;
  if (error instanceof postgres.PostgresError) {
    return error.code.startsWith("08") || /^57P0[123]$/.test(error.code) ||
      error.code === "53300";
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && UNREACHABLE_CODES.has(code)) return true;
  return error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe;
}

/**
 * The error to throw for a driver error: {@linkcode StoreUnavailableError}
 * when the database is unreachable, the error itself otherwise.
 *
 * @param error What a query rejected with.
 * @param shown The database URL without its password, for the message.
 * @returns The error to throw.
 */
export function storeErrorOf(error: unknown, shown: string): unknown {
  if (error instanceof StoreUnavailableError || !isUnreachable(error)) return error;
  return new StoreUnavailableError(
    `Cannot reach the database "${shown}": ${describeError(error)}: try again in a moment`,
    { cause: error },
  );
}

/**
 * The Kysely dialect over a Postgres.js pool.
 *
 * @param pool The pool; the driver ends it on `destroy()`.
 * @param shown The URL without its password, for messages.
 * @returns The dialect.
 */
export function postgresJsDialect(pool: PostgresPool, shown: string): Dialect {
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new PostgresJsDriver(pool, shown),
    createQueryCompiler: () => new PostgresQueryCompiler(),
    // deno-lint-ignore no-explicit-any
    createIntrospector: (kysely: Kysely<any>) => new PostgresIntrospector(kysely),
  };
}

class PostgresJsDriver implements Driver {
  readonly #pool: PostgresPool;
  readonly #shown: string;

  constructor(pool: PostgresPool, shown: string) {
    this.#pool = pool;
    this.#shown = shown;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new PostgresJsConnection(this.#pool, this.#shown);
  }

  async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    await (connection as PostgresJsConnection).begin(settings);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("COMMIT"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as PostgresJsConnection).rollback();
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PostgresJsConnection).release();
  }

  async destroy(): Promise<void> {
    await this.#pool.end({ timeout: 5 });
  }
}

/** The connection object of Postgres.js, as far as this driver touches it. */
interface RawConnection {
  onclose: ((error: unknown) => void) | null;
}

/**
 * A connection as Kysely sees it (one plain query, or one transaction): a
 * connection reserved from the pool at its first query, within a time
 * limit, never used after it has closed, and given back by `release()`
 * unless it closed.
 */
class PostgresJsConnection implements DatabaseConnection {
  readonly #pool: PostgresPool;
  readonly #shown: string;
  #reserved: postgres.ReservedSql<Record<string, unknown>> | undefined;
  #closedBy: unknown;
  #dead = false;

  constructor(pool: PostgresPool, shown: string) {
    this.#pool = pool;
    this.#shown = shown;
  }

  /** Starts the transaction on this connection's own connection of the pool. */
  async begin(settings: TransactionSettings): Promise<void> {
    let begin = "BEGIN";
    if (settings.isolationLevel) {
      begin += ` ISOLATION LEVEL ${settings.isolationLevel.toUpperCase()}`;
    }
    await this.#run(begin, []);
  }

  /**
   * A connection of the pool, within {@linkcode RESERVE_LIMIT_MS}: around
   * an outage, Postgres.js can leave a request for a connection waiting with
   * no end (seen after a restart); a connection that comes too late goes
   * back to the pool.
   */
  async #reserve(): Promise<postgres.ReservedSql<Record<string, unknown>>> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let late = false;
    const reserving = this.#pool.reserve();
    try {
      return await Promise.race([
        reserving,
        new Promise<never>((_, reject) =>
          timer = setTimeout(() => {
            late = true;
            reject(
              new StoreUnavailableError(
                `Cannot reach the database "${this.#shown}": no connection was free within ${RESERVE_LIMIT_MS} ms: try again in a moment`,
              ),
            );
          }, RESERVE_LIMIT_MS)
        ),
      ]);
    } catch (error) {
      if (late) reserving.then((reserved) => reserved.release(), () => {});
      throw storeErrorOf(error, this.#shown);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Rolls back, unless the connection is gone (the server rolled back already). */
  async rollback(): Promise<void> {
    if (this.#dead) return;
    await this.#run("ROLLBACK", []);
  }

  /** Gives the reserved connection back to the pool, unless it closed (the pool has it). */
  release(): void {
    const reserved = this.#reserved;
    this.#reserved = undefined;
    if (reserved && !this.#dead) reserved.release();
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    // Kysely's own statements are few and fixed: prepared. Raw SQL (extensions') is not.
    const prepare = compiledQuery.query.kind !== "RawNode";
    const result = await this.#run(compiledQuery.sql, compiledQuery.parameters, { prepare });
    return {
      rows: result.map((row) => ({ ...row }) as R),
      ...(CHANGING_COMMANDS.has(result.command)
        ? { numAffectedRows: BigInt(result.count ?? 0) }
        : {}),
    };
  }

  // deno-lint-ignore require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("Cannot stream a query: the PostgreSQL store does not stream");
  }

  async #run(
    sql: string,
    parameters: readonly unknown[],
    options: Record<string, unknown> = {},
  ): Promise<postgres.RowList<postgres.Row[]>> {
    if (this.#dead) {
      throw new StoreUnavailableError(
        `Cannot reach the database "${this.#shown}": the connection of this transaction closed (${
          describeError(this.#closedBy)
        }): nothing of it was committed: try again in a moment`,
        { cause: this.#closedBy },
      );
    }
    let hook: Record<string, unknown> = {};
    if (!this.#reserved) {
      this.#reserved = await this.#reserve();
      // The first query hands over the connection object: learn when it closes.
      hook = {
        onexecute: (connection: RawConnection) => {
          connection.onclose = (error) => {
            this.#dead = true;
            this.#closedBy = error;
          };
          return true;
        },
      };
    }
    try {
      return await this.#reserved.unsafe(
        sql,
        parameters.map(toPostgresValue) as postgres.ParameterOrJSON<never>[],
        { ...options, ...hook } as postgres.UnsafeQueryOptions,
      );
    } catch (error) {
      // The socket may fail before it closes: send nothing more on it either way.
      if (isUnreachable(error)) {
        this.#dead = true;
        this.#closedBy ??= error;
      }
      throw storeErrorOf(error, this.#shown);
    }
  }
}

/**
 * A parameter as PostgreSQL takes it: objects and arrays as JSON text (a
 * `jsonb` parameter takes it as JSON), `undefined` as NULL.
 *
 * @param value Any parameter.
 * @returns The value to send.
 */
export function toPostgresValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (
    value !== null && typeof value === "object" && !(value instanceof Date) &&
    !(value instanceof Uint8Array)
  ) {
    return JSON.stringify(value);
  }
  return value;
}
