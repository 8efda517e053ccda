/**
 * Opens the store that `DATABASE_URL` names: SQLite by default
 * (`.nailgun/nailgun.db`), PostgreSQL for `postgres://` and `postgresql://`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { openPostgresStore, openSqliteStore } from "./sql_store.ts";
import type { Store } from "./store.ts";

/** The SQLite file used when `DATABASE_URL` is not set. */
export const DEFAULT_DATABASE_FILE = ".nailgun/nailgun.db";

/** Where a database URL points. */
export type DatabaseLocation =
  | { dialect: "sqlite"; path: string }
  | { dialect: "postgres"; url: string };

/**
 * Reads a database URL: `sqlite:///abs/path`, `sqlite:relative/path`,
 * `sqlite::memory:`, `file:///abs/path`, a plain path, `:memory:`, or a
 * `postgres://` / `postgresql://` URL.
 *
 * @param databaseUrl The URL; empty or absent means the default SQLite file.
 * @returns The dialect and the file or URL.
 * @throws {TypeError} For a URL scheme that names another database.
 *
 * @example
 * ```ts
 * import { parseDatabaseUrl } from "./open_store.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseDatabaseUrl("sqlite:///var/lib/nailgun.db"), { dialect: "sqlite", path: "/var/lib/nailgun.db" });
 * assert.deepEqual(parseDatabaseUrl("data/nailgun.db"), { dialect: "sqlite", path: "data/nailgun.db" });
 * assert.equal(parseDatabaseUrl("postgres://localhost/nailgun").dialect, "postgres");
 * ```
 */
export function parseDatabaseUrl(databaseUrl?: string): DatabaseLocation {
  const url = databaseUrl?.trim() ?? "";
  if (url === "") return { dialect: "sqlite", path: DEFAULT_DATABASE_FILE };
  if (/^postgres(ql)?:\/\//i.test(url)) return { dialect: "postgres", url };
  if (/^sqlite:/i.test(url)) {
    const rest = url.slice("sqlite:".length);
    const path = rest.startsWith("//") ? rest.slice(2) : rest;
    if (path === "") {
      throw new TypeError(
        `Cannot open database "${url}": the URL names no file: write sqlite:///absolute/path or sqlite:relative/path`,
      );
    }
    return { dialect: "sqlite", path: decodeURIComponent(path) };
  }
  if (/^file:/i.test(url)) {
    return { dialect: "sqlite", path: fileURLToPath(url) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (scheme) {
    throw new TypeError(
      `Cannot open database "${url}": the scheme "${
        scheme[1]
      }:" is not supported: use sqlite:, postgres:// or a file path`,
    );
  }
  return { dialect: "sqlite", path: url };
}

/**
 * Opens the store a database URL names. The core schema is not migrated:
 * call `migrateCore()` before serving.
 *
 * @param databaseUrl The URL (see {@linkcode parseDatabaseUrl}); default `.nailgun/nailgun.db`.
 * @returns The open store.
 * @throws {TypeError} For an unsupported URL.
 * @throws {Error} When the database cannot be opened.
 *
 * @example Open an SQLite database in memory
 * ```ts
 * import { openStore } from "./open_store.ts";
 * import assert from "node:assert/strict";
 * const store = await openStore("sqlite::memory:");
 * assert.equal(store.dialect, "sqlite");
 * await store.close();
 * ```
 */
export async function openStore(databaseUrl?: string): Promise<Store> {
  const location = parseDatabaseUrl(databaseUrl);
  if (location.dialect === "sqlite") return await openSqliteStore(location.path);
  return await openPostgresStore(location.url);
}

/**
 * A database URL without its password, for messages and logs.
 *
 * @param url The URL.
 * @returns The URL with the password replaced by `***`.
 *
 * @example
 * ```ts
 * import { redact } from "./open_store.ts";
 * import assert from "node:assert/strict";
 * assert.equal(redact("postgres://nailgun:secret@db/nailgun"), "postgres://nailgun:***@db/nailgun");
 * ```
 */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}
