/**
 * Lets a service test run on either store: `NAILGUN_TEST_STORE=postgres`
 * gives each test project a fresh PostgreSQL database, anything else (the
 * default) its own SQLite file. A project directory keeps its database
 * across restarts: the PostgreSQL URL is remembered in the directory.
 *
 * ```ts ignore
 * const database = await databaseFor(dir);
 * try {
 *   await startNailgun({ databaseUrl: database.url, ... });
 * } finally {
 *   await database.drop(); // only once the directory is done with
 * }
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { createTestDatabase, dropTestDatabase } from "./database.ts";

/** The stores a service test can run on. */
export type TestStoreKind = "sqlite" | "postgres";

/** The environment variable that chooses the store of the service tests. */
export const STORE_VARIABLE = "NAILGUN_TEST_STORE";

/** The file in a project directory that remembers its PostgreSQL database. */
const REMEMBERED = "postgres_database_url";

/**
 * The store the service tests run on, from `NAILGUN_TEST_STORE`.
 *
 * @returns `postgres` or `sqlite` (the default).
 * @throws {TypeError} For any other value.
 */
export function testStoreKind(): TestStoreKind {
  const value = Deno.env.get(STORE_VARIABLE) ?? "sqlite";
  if (value === "" || value === "sqlite") return "sqlite";
  if (value === "postgres") return "postgres";
  throw new TypeError(
    `Cannot choose the test store: ${STORE_VARIABLE} must be "sqlite" or "postgres": current value is "${value}"`,
  );
}

/** The database of a test project, and how to drop it. */
export interface ProjectDatabase {
  /** Which store it is. */
  readonly kind: TestStoreKind;
  /** The URL to give `startNailgun({ databaseUrl })`. */
  readonly url: string;
  /** Drops the PostgreSQL database (the SQLite file goes with the directory); safe to call twice. */
  drop(): Promise<void>;
}

/**
 * The database of the test project in `dir`: the same one on every call for
 * the same directory, so that a restart finds its data.
 *
 * @param dir The project directory.
 * @param kind The store; default {@linkcode testStoreKind}.
 * @returns The database.
 */
export async function databaseFor(
  dir: string,
  kind: TestStoreKind = testStoreKind(),
): Promise<ProjectDatabase> {
  if (kind === "sqlite") {
    return { kind, url: join(dir, "nailgun.db"), drop: () => Promise.resolve() };
  }
  const file = join(dir, REMEMBERED);
  let url: string;
  try {
    url = (await Deno.readTextFile(file)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    url = (await createTestDatabase()).url;
    await Deno.writeTextFile(file, url);
  }
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  return {
    kind,
    url,
    drop: async () => {
      await dropTestDatabase(name);
      await Deno.remove(file).catch(() => {});
    },
  };
}

/**
 * Removes a test project directory and drops the PostgreSQL database it
 * remembers, if any: what a test that owns its directory calls last.
 *
 * @param dir The project directory.
 */
export async function removeProject(dir: string): Promise<void> {
  try {
    const url = (await Deno.readTextFile(join(dir, REMEMBERED))).trim();
    await dropTestDatabase(decodeURIComponent(new URL(url).pathname.slice(1)));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.remove(dir, { recursive: true });
}
