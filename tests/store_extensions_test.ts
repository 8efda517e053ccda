/**
 * Extensions and the database, on both stores: `transaction()` beside core
 * writes, refused transaction and connection statements, migration steps
 * reported truthfully, reserved extension names, and NUL characters.
 */
import assert from "node:assert/strict";
import { ExtensionLoadError } from "../src/errors.ts";
import type { Extension, ExtensionDatabase, ExtensionMigration } from "../src/extension.ts";
import { openPostgresStore, openSqliteStore } from "../src/service/store/sql_store.ts";
import { StoreValueError } from "../src/service/store/store.ts";
import { createTestDatabase } from "./_postgres/database.ts";
import { mac } from "./_service/harness.ts";
import { STORES, type TestStore } from "./_postgres/stores.ts";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function extensionWith(name: string, migrations: ExtensionMigration[]): Extension {
  return { name, version: "1.0.0", description: `Test extension ${name}.`, migrations };
}

async function count(database: ExtensionDatabase, table: string): Promise<number> {
  const [row] = await database.query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(row!.n);
}

async function tableExists(store: TestStore, table: string): Promise<boolean> {
  const rows = store.dialect === "sqlite"
    ? await store.database.query("SELECT 1 FROM sqlite_master WHERE name = ?", [table])
    : await store.database.query("SELECT 1 FROM pg_class WHERE relname = ?", [table]);
  return rows.length > 0;
}

const CREATE_ITEMS = "CREATE TABLE probe_items (id integer PRIMARY KEY, label text NOT NULL)";

/** Statements an extension may not send, as plain SQL. */
const REFUSED = [
  "BEGIN",
  "begin immediate",
  "START TRANSACTION",
  "COMMIT",
  "END",
  "ROLLBACK",
  "SAVEPOINT a",
  "RELEASE a",
  "/* hidden */ commit",
  "PRAGMA journal_mode = DELETE",
  "PRAGMA main.foreign_keys = OFF",
  "PRAGMA locking_mode=EXCLUSIVE",
];

for (const { kind, ignore, open } of STORES) {
  Deno.test({
    name:
      `ExtensionDatabase.transaction() commits together, rolls back on a throw and nests as a savepoint (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const db = store.database;
      await db.execute(CREATE_ITEMS);
      const answer = await db.transaction(async (tx) => {
        await tx.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [1, "one"]);
        await tx.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [2, "two"]);
        return "done";
      });
      assert.equal(answer, "done");
      await assert.rejects(
        () =>
          db.transaction(async (tx) => {
            await tx.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [3, "three"]);
            throw new Error("changed my mind");
          }),
        /changed my mind/,
      );
      await db.transaction(async (tx) => {
        await tx.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [4, "kept"]);
        await assert.rejects(() =>
          tx.transaction(async (inner) => {
            await inner.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [5, "inner"]);
            throw new Error("inner only");
          }), /inner only/);
      });
      const rows = await db.query<{ id: number }>("SELECT id FROM probe_items ORDER BY id");
      assert.deepEqual(rows.map((row) => Number(row.id)), [1, 2, 4]);
    },
  });

  Deno.test({
    name:
      `ExtensionDatabase.transaction() around an await never fails the 20 core writes that run beside it (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const db = store.database;
      await db.execute(CREATE_ITEMS);
      const extension = db.transaction(async (tx) => {
        await tx.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [1, "before"]);
        await tick(100); // e.g. waiting for another service
        await tx.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [2, "after"]);
      });
      await tick(10);
      const core = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => store.write((tx) => tx.createNode({ mac: mac(i) }))),
      );
      await extension;
      assert.deepEqual(
        core.filter((result) => result.status === "rejected"),
        [],
        "every core write succeeded",
      );
      assert.equal((await store.listNodes()).length, 20);
      assert.equal(await count(db, "probe_items"), 2);
    },
  });

  Deno.test({
    name:
      `ExtensionDatabase refuses transaction and connection statements, and names transaction() (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const db = store.database;
      for (const statement of REFUSED) {
        await assert.rejects(
          () => db.execute(statement),
          (error: unknown) => {
            assert.ok(error instanceof Error);
            assert.match(error.message, /^Cannot run ".+" on the database of an extension: /);
            assert.match(error.message, /context\.database\.transaction\(/);
            return true;
          },
          statement,
        );
      }
      // A script is refused whole: nothing of it runs.
      await assert.rejects(
        () => db.execute(`${CREATE_ITEMS}; COMMIT`),
        /on the database of an extension/,
      );
      assert.equal(await tableExists(store, "probe_items"), false);
      // Inside a transaction too.
      await assert.rejects(
        () => db.transaction((tx) => tx.execute("COMMIT")),
        /on the database of an extension/,
      );
      // Reading a pragma, and words inside literals, are fine.
      assert.deepEqual(await db.query("SELECT 'BEGIN; COMMIT' AS text"), [{
        text: "BEGIN; COMMIT",
      }]);
      if (kind === "sqlite") {
        const [mode] = await db.query<{ journal_mode: string }>("PRAGMA journal_mode");
        assert.equal(mode!.journal_mode, "wal");
        // A trigger's BEGIN … END is its body, not a transaction.
        await db.execute(`CREATE TABLE probe_counts (n integer);
          CREATE TRIGGER probe_bump AFTER INSERT ON probe_counts BEGIN
            UPDATE probe_counts SET n = n + 1 WHERE rowid = NEW.rowid;
          END;`);
        await db.execute("INSERT INTO probe_counts (n) VALUES (?)", [1]);
        assert.deepEqual(await db.query("SELECT n FROM probe_counts"), [{ n: 2 }]);
      }
      // The core still writes.
      await store.write((tx) => tx.createNode({ mac: mac(1) }));
    },
  });

  Deno.test({
    name:
      `Store.migrateExtension() reports a step that sends COMMIT as failed and keeps nothing of it (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const extension = extensionWith("sneaky", [{
        name: "0001_commit_halfway",
        async up(db) {
          await db.execute("CREATE TABLE sneaky_items (id integer PRIMARY KEY)");
          await db.execute("CREATE TABLE unprefixed_items (id integer PRIMARY KEY)");
          await db.execute("COMMIT");
          await db.execute("CREATE TABLE sneaky_more (id integer PRIMARY KEY)");
        },
      }]);
      await assert.rejects(
        () => store.migrateExtension(extension, "./sneaky.ts"),
        (error: unknown) => {
          assert.ok(error instanceof ExtensionLoadError);
          assert.equal(error.phase, "migrate");
          assert.match(
            error.message,
            /migration "0001_commit_halfway" of "sneaky" failed and was rolled back: .*transaction\(/,
          );
          return true;
        },
      );
      for (const table of ["sneaky_items", "unprefixed_items", "sneaky_more"]) {
        assert.equal(await tableExists(store, table), false, `${table} was rolled back`);
      }
      assert.deepEqual(await store.appliedMigrations("sneaky"), []);
    },
  });

  Deno.test({
    name:
      `Store.migrateExtension() refuses the names schema, nodes, clusters and node, naming the core table, and the core keeps its data (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const cluster = await store.write((tx) =>
        tx.createCluster({
          name: "env",
          mode: "ha_compact",
          release: "r",
          extensions: [],
          attributes: {},
        })
      );
      const node = await store.write((tx) =>
        tx.createNode({ mac: mac(1), cluster_id: cluster.id })
      );
      const cases: [string, string][] = [
        ["schema", "schema_migrations"],
        ["nodes", "nodes"],
        ["clusters", "clusters"],
        ["node", "nodes"],
      ];
      for (const [name, table] of cases) {
        const vandal = extensionWith(name, [{
          name: "0001_take_over",
          async up(db) {
            await db.execute(`DROP TABLE ${table}`);
          },
        }]);
        await assert.rejects(
          () => store.migrateExtension(vandal, `./${name}.ts`),
          (error: unknown) => {
            assert.ok(error instanceof ExtensionLoadError);
            assert.equal(error.extension, name);
            assert.match(
              error.message,
              new RegExp(`the name "${name}" is reserved: .*the core table "${table}"`),
            );
            return true;
          },
        );
      }
      // An extension without migrations is refused as well: its routes could still reach the core tables.
      await assert.rejects(
        () => store.migrateExtension(extensionWith("schema", []), "./schema.ts"),
        /is reserved/,
      );
      await store.migrateCore();
      assert.equal((await store.appliedMigrations("core")).length, 3);
      assert.deepEqual(await store.getNode(node.id), node);
      assert.deepEqual(await store.getCluster(cluster.id), cluster);
    },
  });

  Deno.test({
    name:
      `ExtensionDatabase refuses a NUL character in a parameter or in the SQL text with a clear error (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const db = store.database;
      await db.execute(CREATE_ITEMS);
      await assert.rejects(
        () => db.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [1, "a\u0000b"]),
        (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, /parameter 2 holds a NUL character \(\\u0000\)/);
          return true;
        },
      );
      await assert.rejects(
        () =>
          db.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [1, { a: ["\u0000"] }]),
        /parameter 2 at "a\[0\]" holds a NUL character/,
      );
      await assert.rejects(
        () => db.execute("INSERT INTO probe_items (id, label) VALUES (1, 'a\u0000')"),
        /its text holds a NUL character/,
      );
      assert.equal(await count(db, "probe_items"), 0);
    },
  });

  Deno.test({
    name:
      `Store.write() refuses a NUL character in a stored field with StoreValueError naming the field (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      await assert.rejects(
        () =>
          store.write((tx) =>
            tx.createNode({ mac: mac(1), meta: { disks: [{ label: "\u0000" }] } })
          ),
        (error: unknown) => {
          assert.ok(error instanceof StoreValueError);
          assert.equal(error.field, "meta.disks[0].label");
          return true;
        },
      );
      const node = await store.write((tx) => tx.createNode({ mac: mac(2) }));
      await assert.rejects(
        () => store.write((tx) => tx.updateNode(node.id, { name: "x\u0000" })),
        (error: unknown) => error instanceof StoreValueError && error.field === "name",
      );
      assert.deepEqual(await store.getNode(node.id), node);
      assert.equal((await store.listNodes()).length, 1);
    },
  });

  Deno.test({
    name:
      `ExtensionDatabase.transaction() whose statement outlives the time limit frees its locks for the core writes (${kind})`,
    ignore: ignore || kind !== "postgres",
    async fn() {
      await using database = await createTestDatabase();
      const store = await openPostgresStore(database.url, { extensionTransactionTimeoutMs: 300 });
      try {
        await store.migrateCore();
        const node = await store.write((tx) => tx.createNode({ mac: mac(1) }));
        const started = performance.now();
        const outcome = store.database.transaction(async (tx) => {
          await tx.execute("UPDATE nodes SET name = ? WHERE id = ?", ["held", node.id]);
          await tx.query("SELECT pg_sleep(30)"); // a statement that runs long, holding the row
        }).then(() => "it committed", (error: unknown) => error);
        await tick(50);
        // A core write of the same row waits for the lock, then goes through.
        const renamed = await store.write((tx) => tx.updateNode(node.id, { name: "core" }));
        const waited = performance.now() - started;
        assert.equal(renamed?.name, "core");
        assert.ok(waited < 5_000, `the core write waited ${Math.round(waited)} ms for the lock`);
        assert.match(String(await outcome), /^Error: .*(statement timeout|did not settle)/s);
        assert.equal((await store.getNode(node.id))?.name, "core");
      } finally {
        await store.close();
      }
    },
  });

  Deno.test({
    name:
      `ExtensionDatabase.transaction() that outlives its time limit is rolled back and the core writes again (${kind})`,
    ignore,
    async fn() {
      await using database = kind === "postgres" ? await createTestDatabase() : undefined;
      const dir = await Deno.makeTempDir({ prefix: "nailgun_tx_limit_" });
      const options = { extensionTransactionTimeoutMs: 200 };
      const store = kind === "postgres"
        ? await openPostgresStore(database!.url, options)
        : await openSqliteStore(`${dir}/nailgun.db`, options);
      let release!: () => void;
      const stuck = new Promise<void>((resolve) => release = resolve);
      try {
        await store.migrateCore();
        await store.database.execute(CREATE_ITEMS);
        let late: Promise<unknown> | undefined;
        const started = performance.now();
        const outcome = await Promise.race([
          store.database.transaction(async (tx) => {
            await tx.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [1, "lost"]);
            await stuck; // e.g. a call that never answers
            late = tx.execute("INSERT INTO probe_items (id, label) VALUES (?, ?)", [2, "late"])
              .catch((error: unknown) => error);
          }).then(() => "it committed", (error: unknown) => error),
          tick(5_000).then(() => "it still ran after 5 s"),
        ]);
        assert.match(
          String(outcome),
          /^Error: Cannot finish the transaction of an extension: its callback did not settle within 200 ms: it was rolled back/,
        );
        assert.ok(performance.now() - started < 5_000);
        await store.write((tx) => tx.createNode({ mac: mac(1) }));
        release();
        await tick(10);
        assert.match(String(await late), /transaction that is over/);
        assert.equal(await count(store.database, "probe_items"), 0);
        assert.equal((await store.listNodes()).length, 1);
      } finally {
        release();
        await store.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
