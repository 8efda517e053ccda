/**
 * The database as extensions see it (`context.database`, and the database a
 * migration step receives), over the store's Kysely instance or one of its
 * transactions: `?` placeholders in both dialects, scripts of several
 * statements, `transaction()`, and the statements an extension may not send.
 *
 * @module
 */
import { CompiledQuery, type Kysely } from "kysely";
import { withTimeLimit } from "@nailgun/extensions";
import type { ExtensionDatabase, SqlDialect } from "../../extension.ts";
import { nulPath, numberPlaceholders, refusedStatement, splitStatements } from "./_sql_text.ts";

/** A Kysely instance or transaction, whatever its tables. */
// deno-lint-ignore no-explicit-any
export type AnyKysely = Kysely<any>;

/** Opens a transaction and runs `fn` on it; commits when `fn` resolves, rolls back when it throws. */
export type Begin = <T>(fn: (trx: AnyKysely) => Promise<T>) => Promise<T>;

/** How long a statement is quoted in a message. */
const QUOTED_LENGTH = 120;

/**
 * The extension database over a runner.
 *
 * @param dialect Which SQL dialect the database speaks.
 * @param runner The Kysely instance or transaction to run on; it may throw
 * (the store is closed, the transaction is over).
 * @param begin How `transaction()` opens a transaction: a connection of its
 * own (PostgreSQL) or the store's turn (SQLite) at the top, a savepoint
 * inside a transaction.
 * @param limitMs The longest a `transaction()` callback may run before its
 * transaction is rolled back (on SQLite every other writer waits for it);
 * none inside a transaction, whose own limit holds.
 * @returns The database.
 */
export function databaseOver(
  dialect: SqlDialect,
  runner: () => AnyKysely,
  begin: Begin,
  limitMs?: number,
): ExtensionDatabase {
  const run = async (
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<{ rows: Record<string, unknown>[]; changes: number }> => {
    const statements = checked(dialect, sql, params);
    let rows: Record<string, unknown>[] = [];
    let changes = 0;
    for (const statement of statements) {
      const { text, count } = dialect === "postgres" && params.length > 0
        ? numberPlaceholders(statement)
        : { text: statement, count: params.length };
      if (count !== 0 && count !== params.length) {
        throw new RangeError(
          `Cannot run the statement "${sql}": it has ${count} placeholders but ${params.length} parameters were given: current value is ${
            JSON.stringify(params)
          }`,
        );
      }
      const result = await runner().executeQuery(CompiledQuery.raw(text, [...params]));
      rows = result.rows as Record<string, unknown>[];
      changes += Number(result.numAffectedRows ?? 0n);
    }
    return { rows, changes };
  };
  return {
    dialect,
    async query<T = Record<string, unknown>>(
      sql: string,
      params?: readonly unknown[],
    ): Promise<T[]> {
      return (await run(sql, params)).rows as T[];
    },
    async execute(sql: string, params?: readonly unknown[]): Promise<{ changes: number }> {
      return { changes: (await run(sql, params)).changes };
    },
    transaction<T>(fn: (tx: ExtensionDatabase) => Promise<T>): Promise<T> {
      return begin(async (trx) => {
        let live = true;
        const tx = databaseOver(dialect, () => {
          if (!live) {
            throw new Error(
              "Cannot use the database of a transaction that is over: use it only inside its transaction() callback",
            );
          }
          return trx;
        }, savepointsOf(trx));
        if (dialect === "postgres" && limitMs !== undefined) {
          // A statement still running when the time limit fires would hold the
          // connection and its row locks (the ROLLBACK waits behind it): the
          // server cancels any statement of this transaction at the same limit.
          await trx.executeQuery(
            CompiledQuery.raw(`SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(limitMs))}`),
          );
        }
        try {
          if (limitMs === undefined) return await fn(tx);
          return await withTimeLimit(() => fn(tx), limitMs).catch((error) => {
            if (!live || !/^did not settle within/.test(String(error?.message))) throw error;
            throw new Error(
              `Cannot finish the transaction of an extension: its callback ${error.message}: it was rolled back, and the store serves the other writers again`,
              { cause: error },
            );
          });
        } finally {
          live = false;
        }
      });
    },
  };
}

/**
 * `begin` inside a transaction: a savepoint, released when `fn` resolves and
 * rolled back to when it throws.
 *
 * @param trx The open transaction.
 * @returns The `begin` of nested transactions.
 */
export function savepointsOf(trx: AnyKysely): Begin {
  let next = 0;
  return async (fn) => {
    const name = `nailgun_savepoint_${++next}`;
    await trx.executeQuery(CompiledQuery.raw(`SAVEPOINT ${name}`));
    try {
      const result = await fn(trx);
      await trx.executeQuery(CompiledQuery.raw(`RELEASE SAVEPOINT ${name}`));
      return result;
    } catch (error) {
      await trx.executeQuery(CompiledQuery.raw(`ROLLBACK TO SAVEPOINT ${name}`));
      await trx.executeQuery(CompiledQuery.raw(`RELEASE SAVEPOINT ${name}`));
      throw error;
    }
  };
}

/** The statements of `sql`, once every rule holds; throws the first broken rule. */
function checked(dialect: SqlDialect, sql: string, params: readonly unknown[]): string[] {
  if (sql.includes("\u0000")) {
    throw new TypeError(
      `Cannot run the statement "${
        quote(sql)
      }": its text holds a NUL character (\\u0000), which ${dialect} cannot take: remove it: current value is ${
        JSON.stringify(quote(sql))
      }`,
    );
  }
  params.forEach((param, index) => {
    const path = nulPath(param);
    if (path === undefined) return;
    throw new TypeError(
      `Cannot run the statement "${quote(sql)}": parameter ${index + 1}${
        path === "" ? "" : ` at "${path}"`
      } holds a NUL character (\\u0000), which PostgreSQL cannot store in text or JSON (refused on both stores): remove it: current value is ${
        JSON.stringify(typeof param === "string" ? quote(param) : param)
      }`,
    );
  });
  const statements = splitStatements(sql);
  if (statements.length > 1 && params.length > 0) {
    throw new RangeError(
      `Cannot run the statements "${sql}": parameters can be given to one statement only, but the text holds ${statements.length}: current value is ${
        JSON.stringify(params)
      }`,
    );
  }
  for (const statement of statements) {
    const refused = refusedStatement(statement);
    if (refused === "transaction") {
      throw new Error(
        `Cannot run "${
          quote(statement)
        }" on the database of an extension: transactions belong to the host, and the connection is shared with the core: use context.database.transaction(async (tx) => …) instead (a migration step already runs in one transaction): current value is "${
          quote(statement)
        }"`,
      );
    }
    if (refused === "connection") {
      throw new Error(
        `Cannot run "${
          quote(statement)
        }" on the database of an extension: it changes the settings of the connection that the host shares with the core (journaling, locking, foreign keys, session settings): leave them to the host, and use context.database.transaction(async (tx) => …) for transactions: current value is "${
          quote(statement)
        }"`,
      );
    }
  }
  return statements;
}

/** A statement shortened for a message. */
function quote(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > QUOTED_LENGTH ? `${flat.slice(0, QUOTED_LENGTH)}…` : flat;
}
