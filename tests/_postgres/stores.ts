/**
 * Both stores for a store test: a fresh migrated SQLite file always, and a
 * fresh PostgreSQL database when `NAILGUN_TEST_POSTGRES_URL` is set (the
 * PostgreSQL case is ignored otherwise).
 *
 * ```ts ignore
 * for (const { kind, ignore, open } of STORES) {
 *   Deno.test({ name: `... (${kind})`, ignore, async fn() {
 *     await using store = await open();
 *   } });
 * }
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { openStore } from "../../src/service/store/open_store.ts";
import type { Store, StoreWriter } from "../../src/service/store/store.ts";
import { createTestDatabase, POSTGRES_URL_VARIABLE } from "./database.ts";

/** A store under test; dispose of it to close it and drop its database. */
export type TestStore = Store & AsyncDisposable;

/** One of the two stores: its name, whether to skip it, and how to open a fresh one. */
export interface StoreCase {
  kind: "sqlite" | "postgres";
  ignore: boolean;
  open(): Promise<TestStore>;
}

/** Whether the PostgreSQL test server is configured. */
export const HAS_POSTGRES = Deno.env.get(POSTGRES_URL_VARIABLE) !== undefined;

/** Both stores: a fresh migrated SQLite file, and a fresh PostgreSQL database. */
export const STORES: StoreCase[] = [
  {
    kind: "sqlite",
    ignore: false,
    open: async () => {
      const dir = await Deno.makeTempDir({ prefix: "nailgun-store-" });
      const store = await openStore(join(dir, "nailgun.db"));
      await store.migrateCore();
      return Object.assign(store, {
        [Symbol.asyncDispose]: async () => {
          await store.close();
          await Deno.remove(dir, { recursive: true });
        },
      });
    },
  },
  {
    kind: "postgres",
    ignore: !HAS_POSTGRES,
    open: async () => {
      const database = await createTestDatabase();
      const store = await openStore(database.url);
      await store.migrateCore();
      return Object.assign(store, {
        [Symbol.asyncDispose]: async () => {
          await store.close();
          await database.drop();
        },
      });
    },
  },
];

/**
 * The writes of a store, each in a `store.write()` transaction of its own:
 * `writes(store).createNode({ mac })` is `store.write((tx) => tx.createNode({ mac }))`.
 *
 * @param store The store.
 * @returns A writer whose every call is one transaction.
 */
export function writes(store: Store): StoreWriter {
  return new Proxy({} as StoreWriter, {
    get: (_, name) => (...args: unknown[]) =>
      store.write((tx) =>
        (tx[name as keyof StoreWriter] as (...args: unknown[]) => Promise<unknown>)(...args)
      ),
  });
}
