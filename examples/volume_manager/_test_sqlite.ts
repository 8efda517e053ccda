// Test helper (not published): the ExtensionDatabase a host gives an
// extension, over an in-memory SQLite database of `node:sqlite`.
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import type { ExtensionDatabase } from "@nailgun/extensions";

/** An in-memory SQLite database as an extension sees it; dispose of it to close it. */
export class TestSqliteDatabase implements ExtensionDatabase, Disposable {
  readonly dialect = "sqlite" as const;
  readonly #db = new DatabaseSync(":memory:");

  query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    try {
      const rows = this.#db.prepare(sql).all(...(params as SQLInputValue[]));
      return Promise.resolve(rows.map((row) => ({ ...row }) as T));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  execute(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    try {
      const result = this.#db.prepare(sql).run(...(params as SQLInputValue[]));
      return Promise.resolve({ changes: Number(result.changes) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Runs `fn` in a transaction of this database (it is not shared, so BEGIN is safe here). */
  async transaction<T>(fn: (tx: ExtensionDatabase) => Promise<T>): Promise<T> {
    this.#db.exec("BEGIN");
    try {
      const result = await fn(this);
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Names of the tables, sorted. */
  tables(): string[] {
    return this.#db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all().map((row) => String(row.name));
  }

  [Symbol.dispose](): void {
    this.#db.close();
  }
}
