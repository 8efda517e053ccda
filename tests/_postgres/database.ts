/**
 * A fresh PostgreSQL database per test, on the server that
 * `NAILGUN_TEST_POSTGRES_URL` points at (`.ci/postgres.sh` starts one and
 * prints that URL):
 *
 * ```ts ignore
 * await using database = await createTestDatabase();
 * const store = await openPostgresStore(database.url);
 * ```
 *
 * @module
 */
import postgres from "npm:postgres@3.4.9";

/** The environment variable that holds the base URL of the test server. */
export const POSTGRES_URL_VARIABLE = "NAILGUN_TEST_POSTGRES_URL";

/** A database made for one test; dropping it closes every connection to it. */
export interface TestDatabase extends AsyncDisposable {
  /** Its name, `nailgun_test_<random>`. */
  readonly name: string;
  /** The connection URL of the database (the base URL with its name). */
  readonly url: string;
  /** Drops the database, closing whatever is still connected to it; safe to call twice. */
  drop(): Promise<void>;
}

/**
 * The base URL of the test server, from `NAILGUN_TEST_POSTGRES_URL`.
 *
 * @returns A URL such as `postgres://nailgun:nailgun@127.0.0.1:5432/nailgun`.
 * @throws {Error} When the variable is not set, with the command that sets it.
 */
export function postgresTestUrl(): string {
  const url = Deno.env.get(POSTGRES_URL_VARIABLE);
  if (!url) {
    throw new Error(
      `Cannot run the PostgreSQL tests: ${POSTGRES_URL_VARIABLE} is not set: start the server and set it with \`export ${POSTGRES_URL_VARIABLE}="$(bash .ci/postgres.sh)"\` (deno task test does this)`,
    );
  }
  return url;
}

/**
 * Creates an empty database on the test server, named `nailgun_test_<random>`.
 *
 * @returns The database, to drop in a `finally` or with `await using`.
 * @throws {Error} When `NAILGUN_TEST_POSTGRES_URL` is not set or the server refuses.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = postgresTestUrl();
  const name = `nailgun_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await withAdmin(base, (sql) => sql`CREATE DATABASE ${sql(name)}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  const drop = (): Promise<void> => dropped ??= dropTestDatabase(name);
  return { name, url: url.href, drop, [Symbol.asyncDispose]: drop };
}

/**
 * Drops a database of the test server, closing whatever is still connected
 * to it; nothing happens when it does not exist.
 *
 * @param name The database's name, e.g. `nailgun_test_0123456789abcdef`.
 * @throws {Error} When `NAILGUN_TEST_POSTGRES_URL` is not set or the server refuses.
 */
export async function dropTestDatabase(name: string): Promise<void> {
  await withAdmin(
    postgresTestUrl(),
    (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`,
  );
}

/** Runs one statement on a short-lived connection to the base database. */
async function withAdmin(
  base: string,
  statement: (sql: postgres.Sql) => Promise<unknown>,
): Promise<void> {
  const sql = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await statement(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
