// The SQLite store on a real database file: core schema, extension
// migrations (order, once, rollback, prefix rule), atomic writes, DATABASE_URL.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Extension, type ExtensionDatabase, ExtensionLoadError } from "../mod.ts";
import { CORE_MIGRATIONS } from "../src/service/store/core_schema.ts";
import { openStore, parseDatabaseUrl, redact } from "../src/service/store/open_store.ts";
import { openSqliteStore, type SqlStore as SqliteStore } from "../src/service/store/sql_store.ts";
import { StoreConflictError } from "../src/service/store/store.ts";
import { writes } from "./_postgres/stores.ts";

async function withStore(fn: (store: SqliteStore, file: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_store_" });
  const file = join(dir, "db", "nailgun.db");
  const store = await openSqliteStore(file);
  try {
    await store.migrateCore();
    await fn(store, file);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function tables(database: ExtensionDatabase): Promise<string[]> {
  const rows = await database.query<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
  );
  return rows.map((row) => row.name);
}

function extension(name: string, migrations: Extension["migrations"]): Extension {
  return { name, version: "1.0.0", description: "Has migrations.", migrations };
}

Deno.test("openSqliteStore() creates the directory, uses WAL and records the core steps once", async () => {
  await withStore(async (store, file) => {
    await store.migrateCore();
    const applied = await store.appliedMigrations("core");
    assert.deepEqual(applied.map((step) => step.name), CORE_MIGRATIONS.map((step) => step.name));
    assert.match(applied[0]!.applied_at, /^\d{4}-\d\d-\d\dT/);
    assert.ok((await Deno.stat(file)).isFile);
    const [mode] = await store.database.query<{ journal_mode: string }>("PRAGMA journal_mode");
    assert.equal(mode?.journal_mode, "wal");
    const [keys] = await store.database.query<{ foreign_keys: number }>("PRAGMA foreign_keys");
    assert.equal(keys?.foreign_keys, 1);
    assert.deepEqual(
      (await tables(store.database)).filter((name) => !name.startsWith("sqlite_")),
      ["clusters", "nodegroups", "nodes", "schema_migrations"],
    );
  });
});

Deno.test("SqliteStore.migrateExtension() applies each step once, in order, in its version table", async () => {
  await withStore(async (store) => {
    const ran: string[] = [];
    const steps = [
      {
        name: "0001_create",
        async up(db: ExtensionDatabase) {
          ran.push("0001");
          await db.execute("CREATE TABLE volumes_disks (size INTEGER)");
        },
      },
      {
        name: "0002_seed",
        async up(db: ExtensionDatabase) {
          ran.push("0002");
          await db.execute("INSERT INTO volumes_disks (size) VALUES (?), (?)", [10, 20]);
        },
      },
    ];
    await store.migrateExtension(extension("volumes", steps.slice(0, 1)), "./volumes.ts");
    await store.migrateExtension(extension("volumes", steps), "./volumes.ts");
    await store.migrateExtension(extension("volumes", steps), "./volumes.ts");
    assert.deepEqual(ran, ["0001", "0002"]);
    const applied = await store.appliedMigrations("volumes");
    assert.deepEqual(applied.map((step) => step.name), ["0001_create", "0002_seed"]);
    assert.deepEqual(await store.database.query("SELECT size FROM volumes_disks ORDER BY size"), [
      { size: 10 },
      { size: 20 },
    ]);
    assert.deepEqual(await store.appliedMigrations("other"), []);
  });
});

Deno.test("SqliteStore.migrateExtension() rolls a failing step back and names it", async () => {
  await withStore(async (store) => {
    const broken = extension("broken", [
      {
        name: "0001_ok",
        up: (db) => db.execute("CREATE TABLE broken_ok (id INTEGER)").then(() => {}),
      },
      {
        name: "0002_fails",
        async up(db) {
          await db.execute("CREATE TABLE broken_things (id INTEGER)");
          throw new Error("the disk is full");
        },
      },
    ]);
    await assert.rejects(
      () => store.migrateExtension(broken, "./broken.ts"),
      (error) =>
        error instanceof ExtensionLoadError && error.phase === "migrate" &&
        error.extension === "broken" &&
        error.message ===
          'Cannot load extension "./broken.ts": migration "0002_fails" of "broken" failed and was rolled back: the disk is full',
    );
    const names = await tables(store.database);
    assert.ok(names.includes("broken_ok"));
    assert.ok(!names.includes("broken_things"));
    assert.deepEqual((await store.appliedMigrations("broken")).map((step) => step.name), [
      "0001_ok",
    ]);
    // The store still works after the rollback.
    const node = await writes(store).createNode({ mac: "52:54:00:00:00:01" });
    assert.equal((await store.getNode(node.id))?.mac, "52:54:00:00:00:01");
  });
});

Deno.test("SqliteStore.migrateExtension() refuses a table without the extension prefix", async () => {
  await withStore(async (store) => {
    const sneaky = extension("sneaky", [{
      name: "0001_volumes",
      async up(db) {
        await db.execute("CREATE TABLE sneaky_ok (id INTEGER); CREATE TABLE volumes (id INTEGER)");
      },
    }]);
    await assert.rejects(
      () => store.migrateExtension(sneaky, "./sneaky.ts"),
      (error) =>
        error instanceof ExtensionLoadError && error.phase === "migrate" &&
        /migration "0001_volumes" of "sneaky" was rolled back: it created or dropped "volumes", but the tables of an extension must start with "sneaky_"/
          .test(error.message),
    );
    const names = await tables(store.database);
    assert.ok(!names.includes("volumes"));
    assert.ok(!names.includes("sneaky_ok"));
    assert.deepEqual(await store.appliedMigrations("sneaky"), []);
  });
});

Deno.test("SqliteStore.migrateExtension() refuses dropping a core table", async () => {
  await withStore(async (store) => {
    const vandal = extension("vandal", [{
      name: "0001_drop",
      up: (db) => db.execute("DROP TABLE nodegroups").then(() => {}),
    }]);
    await assert.rejects(
      () => store.migrateExtension(vandal, "./vandal.ts"),
      (error) => error instanceof ExtensionLoadError && /"nodegroups"/.test(error.message),
    );
    assert.ok((await tables(store.database)).includes("nodegroups"));
  });
});

Deno.test("SqliteStore.migrateExtension() makes other callers wait for an async step", async () => {
  await withStore(async (store) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const slow = extension("slow", [{
      name: "0001_slow",
      async up(db) {
        await db.execute("CREATE TABLE slow_items (id INTEGER)");
        await gate;
        await db.execute("INSERT INTO slow_items (id) VALUES (?)", [1]);
      },
    }]);
    const migrating = store.migrateExtension(slow, "./slow.ts");
    const order: string[] = [];
    const created = writes(store).createNode({ mac: "52:54:00:00:00:09" }).then(() =>
      order.push("node")
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    order.push("release");
    release();
    await Promise.all([migrating, created]);
    assert.deepEqual(order, ["release", "node"]);
    assert.deepEqual(await store.database.query("SELECT id FROM slow_items"), [{ id: 1 }]);
  });
});

Deno.test("SqliteStore keeps a MAC address and a cluster name unique", async () => {
  await withStore(async (store) => {
    const results = await Promise.allSettled([
      writes(store).createNode({ mac: "52:54:00:00:00:01" }),
      writes(store).createNode({ mac: "52:54:00:00:00:01" }),
    ]);
    assert.equal(results.filter((result) => result.status === "fulfilled").length, 1);
    const rejected = results.find((result) => result.status === "rejected");
    assert.ok(rejected?.status === "rejected" && rejected.reason instanceof StoreConflictError);
    assert.equal((rejected.reason as StoreConflictError).field, "mac");
    const cluster = {
      name: "env",
      mode: "ha_compact",
      release: "r",
      extensions: [],
      attributes: {},
    };
    await writes(store).createCluster(cluster);
    await assert.rejects(
      () => writes(store).createCluster(cluster),
      (error) => error instanceof StoreConflictError && error.field === "name",
    );
  });
});

Deno.test("SqliteStore.deleteCluster() returns its nodes to the pool and deletes its node groups", async () => {
  await withStore(async (store) => {
    const cluster = await writes(store).createCluster({
      name: "env",
      mode: "ha_compact",
      release: "r",
      extensions: ["a"],
      attributes: { x: 1 },
    });
    const group = await writes(store).createNodeGroup({ name: "default", cluster_id: cluster.id });
    const node = await writes(store).createNode({
      mac: "52:54:00:00:00:01",
      cluster_id: cluster.id,
      group_id: group.id,
      roles: ["controller"],
    });
    assert.equal(node.pending_addition, true);
    assert.deepEqual(await writes(store).deleteCluster(cluster.id), cluster);
    const pooled = await store.getNode(node.id);
    assert.equal(pooled?.cluster_id, null);
    assert.equal(pooled?.group_id, null);
    assert.deepEqual(pooled?.roles, []);
    assert.equal(await store.getNodeGroup(group.id), undefined);
    assert.equal(await writes(store).deleteCluster(cluster.id), undefined);
  });
});

Deno.test("SqliteStore.deleteNodes() deletes the existing nodes among the ids", async () => {
  await withStore(async (store) => {
    const one = await writes(store).createNode({ mac: "52:54:00:00:00:01" });
    const two = await writes(store).createNode({ mac: "52:54:00:00:00:02" });
    const deleted = await writes(store).deleteNodes([one.id, two.id, 999, one.id]);
    assert.deepEqual(deleted.map((node) => node.id), [one.id, two.id]);
    assert.deepEqual(await store.listNodes(), []);
  });
});

Deno.test("SqliteStore.close() waits and then refuses further use", async () => {
  const store = await openSqliteStore(":memory:");
  await store.migrateCore();
  await store.close();
  await store.close();
  await assert.rejects(() => store.listNodes(), /Cannot use the store ":memory:": it is closed/);
});

Deno.test("parseDatabaseUrl() reads SQLite paths, file URLs and PostgreSQL URLs", () => {
  assert.deepEqual(parseDatabaseUrl(undefined), { dialect: "sqlite", path: ".nailgun/nailgun.db" });
  assert.deepEqual(parseDatabaseUrl(""), { dialect: "sqlite", path: ".nailgun/nailgun.db" });
  assert.deepEqual(parseDatabaseUrl("sqlite:///var/lib/n.db"), {
    dialect: "sqlite",
    path: "/var/lib/n.db",
  });
  assert.deepEqual(parseDatabaseUrl("sqlite:data/n.db"), { dialect: "sqlite", path: "data/n.db" });
  assert.deepEqual(parseDatabaseUrl("sqlite::memory:"), { dialect: "sqlite", path: ":memory:" });
  assert.deepEqual(parseDatabaseUrl(":memory:"), { dialect: "sqlite", path: ":memory:" });
  assert.deepEqual(parseDatabaseUrl("file:///tmp/n.db"), { dialect: "sqlite", path: "/tmp/n.db" });
  assert.deepEqual(parseDatabaseUrl("postgresql://u:p@h/db"), {
    dialect: "postgres",
    url: "postgresql://u:p@h/db",
  });
  assert.throws(
    () => parseDatabaseUrl("mysql://h/db"),
    (error) =>
      error instanceof TypeError &&
      error.message ===
        'Cannot open database "mysql://h/db": the scheme "mysql:" is not supported: use sqlite:, postgres:// or a file path',
  );
  assert.equal(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
});

Deno.test("openStore() opens the SQLite file a URL names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_store_" });
  try {
    const store = await openStore(`sqlite://${dir}/nested/n.db`);
    try {
      assert.equal(store.dialect, "sqlite");
      await store.migrateCore();
    } finally {
      await store.close();
    }
    assert.ok((await Deno.stat(`${dir}/nested/n.db`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
