import assert from "node:assert/strict";
import postgres from "npm:postgres@3.4.9";
import { ExtensionLoadError } from "../src/errors.ts";
import type { Extension, ExtensionDatabase, ExtensionMigration } from "../src/extension.ts";
import type { Cluster } from "../src/payloads.ts";
import { openPostgresStore } from "../src/service/store/sql_store.ts";
import { type Store, StoreConflictError } from "../src/service/store/store.ts";
import { createTestDatabase } from "./_postgres/database.ts";
import { writes } from "./_postgres/stores.ts";

/** Opens a migrated store on a fresh database, runs `fn`, then closes and drops both. */
async function withStore(fn: (store: Store, url: string) => Promise<void>): Promise<void> {
  await using database = await createTestDatabase();
  const store = await openPostgresStore(database.url, { max: 4 });
  try {
    await store.migrateCore();
    await fn(store, database.url);
  } finally {
    await store.close();
  }
}

/** A plain-object extension with only migrations. */
function extensionWith(name: string, migrations: ExtensionMigration[]): Extension {
  return { name, version: "1.0.0", description: `Test extension ${name}.`, migrations };
}

/** Counts the rows of a table through a store's extension database. */
async function countRows(database: ExtensionDatabase, table: string): Promise<number> {
  const [row] = await database.query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
  return row.n;
}

async function tableExists(database: ExtensionDatabase, table: string): Promise<boolean> {
  const [row] = await database.query<{ found: boolean }>(
    "SELECT to_regclass(?) IS NOT NULL AS found",
    [table],
  );
  return row.found;
}

/** A cluster with nothing enabled, as most tests here need one. */
function newCluster(store: Store, name: string): Promise<Cluster> {
  return writes(store).createCluster({
    name,
    mode: "multinode",
    release: "r",
    extensions: [],
    attributes: {},
  });
}

Deno.test("openPostgresStore() rejects a URL that is not a PostgreSQL URL", async () => {
  await assert.rejects(
    () => openPostgresStore("sqlite:///tmp/nailgun.db"),
    (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(
        error.message,
        /^Cannot open PostgreSQL database "sqlite:\/\/\/tmp\/nailgun\.db"/,
      );
      return true;
    },
  );
});

Deno.test("openPostgresStore() names the URL without its password when the server cannot be reached", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    () => openPostgresStore(`postgres://someone:secret@127.0.0.1:${port}/nailgun`),
    (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.match(
        error.message,
        new RegExp(
          `^Cannot open PostgreSQL database "postgres://someone:\\*\\*\\*@127\\.0\\.0\\.1:${port}/nailgun"`,
        ),
      );
      assert.doesNotMatch(error.message, /secret/);
      return true;
    },
  );
});

Deno.test("migrateCore() applies each core step once and records it", async () => {
  await withStore(async (store, url) => {
    const first = await store.appliedMigrations("core");
    assert.ok(first.length > 0);
    assert.ok(first.every((step) => !Number.isNaN(Date.parse(step.applied_at))));
    await store.migrateCore();
    assert.deepEqual(await store.appliedMigrations("core"), first);
    const again = await openPostgresStore(url, { max: 2 });
    try {
      await again.migrateCore();
      assert.deepEqual(await again.appliedMigrations("core"), first);
      assert.equal(store.dialect, "postgres");
      for (const table of ["clusters", "nodes", "nodegroups", "schema_migrations"]) {
        assert.ok(await tableExists(again.database, table), table);
      }
    } finally {
      await again.close();
    }
  });
});

Deno.test("createCluster() and updateCluster() store JSON columns and answer numbers for ids", async () => {
  await withStore(async (store) => {
    const created = await writes(store).createCluster({
      name: "env1",
      mode: "ha_compact",
      release: "2024.1",
      extensions: ["volumes", "logging"],
      attributes: { editable: { debug: true }, list: [1, 2] },
    });
    assert.deepEqual(created, {
      id: created.id,
      name: "env1",
      mode: "ha_compact",
      status: "new",
      release: "2024.1",
      extensions: ["volumes", "logging"],
      attributes: { editable: { debug: true }, list: [1, 2] },
    });
    assert.equal(typeof created.id, "number");
    assert.deepEqual(await store.getCluster(created.id), created);

    const updated = await writes(store).updateCluster(created.id, {
      status: "operational",
      extensions: ["logging"],
      name: undefined,
    });
    assert.deepEqual(updated, { ...created, status: "operational", extensions: ["logging"] });
    assert.deepEqual(await store.listClusters(), [updated]);
    assert.equal(await writes(store).updateCluster(created.id + 1000, { name: "x" }), undefined);
    assert.equal(await store.getCluster(created.id + 1000), undefined);
  });
});

Deno.test("createNode() fills Nailgun's defaults and rejects a MAC that is taken", async () => {
  await withStore(async (store) => {
    const node = await writes(store).createNode({ mac: "52:54:00:aa:bb:01" });
    assert.equal(typeof node.id, "number");
    assert.match(node.uuid, /^[0-9a-f-]{36}$/);
    assert.deepEqual({ ...node, uuid: "" }, {
      id: node.id,
      uuid: "",
      mac: "52:54:00:aa:bb:01",
      name: "Untitled (bb:01)",
      hostname: `node-${node.id}`,
      status: "discover",
      cluster_id: null,
      group_id: null,
      roles: [],
      pending_roles: [],
      pending_addition: false,
      pending_deletion: false,
      online: true,
      meta: {},
    });
    await assert.rejects(
      () => writes(store).createNode({ mac: "52:54:00:aa:bb:01", name: "again" }),
      (error: unknown) => {
        assert.ok(error instanceof StoreConflictError);
        assert.equal(error.field, "mac");
        assert.equal(
          error.message,
          `Cannot store node "52:54:00:aa:bb:01": node ${node.id} already has that MAC address`,
        );
        return true;
      },
    );
    assert.equal((await store.listNodes()).length, 1);
  });
});

Deno.test("createNode() marks a node created in a cluster as pending addition", async () => {
  await withStore(async (store) => {
    const cluster = await newCluster(store, "env");
    const node = await writes(store).createNode({
      mac: "52:54:00:aa:bc:01",
      name: "n1",
      hostname: "compute-1",
      cluster_id: cluster.id,
      roles: ["compute"],
      online: false,
    });
    assert.equal(node.pending_addition, true);
    assert.equal(node.name, "n1");
    assert.equal(node.hostname, "compute-1");
    assert.equal(node.online, false);
    assert.deepEqual(node.roles, ["compute"]);
  });
});

Deno.test("the store rejects a taken cluster name, node group name or unknown cluster with StoreConflictError", async (t) => {
  await withStore(async (store) => {
    const cluster = await newCluster(store, "env");
    const other = await newCluster(store, "other");
    await t.step("a cluster name", async () => {
      const conflict = (error: unknown) => {
        assert.ok(error instanceof StoreConflictError);
        assert.equal(error.field, "name");
        assert.equal(
          error.message,
          `Cannot store cluster "env": cluster ${cluster.id} already has that name`,
        );
        return true;
      };
      await assert.rejects(
        () =>
          writes(store).createCluster({
            name: "env",
            mode: "m",
            release: "r",
            extensions: [],
            attributes: {},
          }),
        conflict,
      );
      await assert.rejects(() => writes(store).updateCluster(other.id, { name: "env" }), conflict);
      assert.equal((await store.getCluster(other.id))?.name, "other");
    });
    await t.step("a node group name within its cluster", async () => {
      const group = await writes(store).createNodeGroup({
        name: "default",
        cluster_id: cluster.id,
      });
      await writes(store).createNodeGroup({ name: "default", cluster_id: other.id });
      await assert.rejects(
        () => writes(store).createNodeGroup({ name: "default", cluster_id: cluster.id }),
        (error: unknown) => {
          assert.ok(error instanceof StoreConflictError);
          assert.equal(error.field, "name");
          assert.equal(
            error.message,
            `Cannot create node group "default": cluster ${cluster.id} already has node group ${group.id} of that name`,
          );
          return true;
        },
      );
    });
    await t.step("an unknown cluster", async () => {
      await assert.rejects(
        () => writes(store).createNode({ mac: "52:54:00:aa:bd:01", cluster_id: 999_999 }),
        (error: unknown) => {
          assert.ok(error instanceof StoreConflictError);
          assert.equal(error.field, "cluster_id");
          assert.match(error.message, /refers to a cluster or node group that does not exist/);
          return true;
        },
      );
      assert.deepEqual(await store.listNodes(), []);
    });
  });
});

Deno.test("updateNode() patches a node and rejects a MAC that another node has", async () => {
  await withStore(async (store) => {
    const cluster = await newCluster(store, "env");
    const a = await writes(store).createNode({ mac: "52:54:00:00:00:0a", meta: { cpu: 4 } });
    const b = await writes(store).createNode({ mac: "52:54:00:00:00:0b" });
    const updated = await writes(store).updateNode(a.id, {
      cluster_id: cluster.id,
      roles: ["controller"],
      pending_addition: true,
      meta: { cpu: 8, disks: [{ size: 10 }] },
    });
    assert.deepEqual(updated, {
      ...a,
      cluster_id: cluster.id,
      roles: ["controller"],
      pending_addition: true,
      meta: { cpu: 8, disks: [{ size: 10 }] },
    });
    assert.deepEqual(await store.getNode(a.id), updated);
    assert.deepEqual(await store.listNodes({ cluster_id: cluster.id }), [updated]);
    await assert.rejects(
      () => writes(store).updateNode(b.id, { mac: a.mac }),
      (error: unknown) => error instanceof StoreConflictError && error.field === "mac",
    );
    assert.equal((await store.getNode(b.id))?.mac, "52:54:00:00:00:0b");
    assert.equal(await writes(store).updateNode(b.id + 1000, { name: "x" }), undefined);
  });
});

Deno.test("deleteNode() and deleteNodes() delete the nodes that exist and answer them", async () => {
  await withStore(async (store) => {
    const nodes = [];
    for (let i = 0; i < 4; i++) {
      nodes.push(await writes(store).createNode({ mac: `52:54:00:00:01:0${i}` }));
    }
    assert.deepEqual(await writes(store).deleteNode(nodes[0].id), nodes[0]);
    assert.equal(await writes(store).deleteNode(nodes[0].id), undefined);
    // In the order the ids were given, as the SQLite store answers.
    assert.deepEqual(
      await writes(store).deleteNodes([nodes[2].id, 999_999, nodes[1].id, nodes[2].id]),
      [
        nodes[2],
        nodes[1],
      ],
    );
    assert.deepEqual(await writes(store).deleteNodes([]), []);
    assert.deepEqual(await store.listNodes(), [nodes[3]]);
  });
});

Deno.test("createNodeGroup() and deleteNodeGroup() keep the group's nodes with no group", async () => {
  await withStore(async (store) => {
    const cluster = await newCluster(store, "env");
    const group = await writes(store).createNodeGroup({ name: "rack-1", cluster_id: cluster.id });
    assert.deepEqual(group, { id: group.id, name: "rack-1", cluster_id: cluster.id });
    assert.deepEqual(await store.getNodeGroup(group.id), group);
    assert.deepEqual(await store.listNodeGroups({ cluster_id: cluster.id }), [group]);
    assert.deepEqual(await store.listNodeGroups({ cluster_id: cluster.id + 1 }), []);
    const node = await writes(store).createNode({
      mac: "52:54:00:00:02:01",
      cluster_id: cluster.id,
      group_id: group.id,
    });
    assert.deepEqual(await writes(store).deleteNodeGroup(group.id), group);
    assert.equal(await writes(store).deleteNodeGroup(group.id), undefined);
    assert.deepEqual(await store.getNode(node.id), { ...node, group_id: null });
  });
});

Deno.test("deleteCluster() deletes its node groups and returns its nodes to the pool", async () => {
  await withStore(async (store) => {
    const cluster = await writes(store).createCluster({
      name: "doomed",
      mode: "multinode",
      release: "r",
      extensions: ["volumes"],
      attributes: { a: 1 },
    });
    const other = await newCluster(store, "kept");
    const group = await writes(store).createNodeGroup({ name: "default", cluster_id: cluster.id });
    const kept = await writes(store).createNodeGroup({ name: "default", cluster_id: other.id });
    const member = await writes(store).createNode({
      mac: "52:54:00:00:03:01",
      cluster_id: cluster.id,
      group_id: group.id,
      roles: ["compute"],
      pending_roles: ["cinder"],
    });
    await writes(store).updateNode(member.id, { status: "ready", pending_deletion: true });
    const bystander = await writes(store).createNode({
      mac: "52:54:00:00:03:02",
      cluster_id: other.id,
      group_id: kept.id,
      roles: ["controller"],
    });

    assert.deepEqual(await writes(store).deleteCluster(cluster.id), cluster);
    assert.equal(await store.getCluster(cluster.id), undefined);
    assert.equal(await store.getNodeGroup(group.id), undefined);
    assert.deepEqual(await store.getNode(member.id), {
      ...member,
      status: "discover",
      cluster_id: null,
      group_id: null,
      roles: [],
      pending_roles: [],
      pending_addition: false,
      pending_deletion: false,
    });
    assert.deepEqual(await store.getNode(bystander.id), bystander);
    assert.deepEqual(await store.listNodeGroups(), [kept]);
    assert.equal(await writes(store).deleteCluster(cluster.id), undefined);
  });
});

Deno.test("database translates ? placeholders and leaves ? in literals alone", async () => {
  await withStore(async (store) => {
    const db = store.database;
    assert.equal(db.dialect, "postgres");
    await db.execute(
      "CREATE TABLE probe_items (id serial PRIMARY KEY, label text, data jsonb); CREATE INDEX probe_items_label ON probe_items (label)",
    );
    const inserted = await db.execute(
      "INSERT INTO probe_items (label, data) VALUES (?, ?::jsonb), (?, ?::jsonb)",
      ["what?", { a: [1] }, "it's", null],
    );
    assert.deepEqual(inserted, { changes: 2 });
    const rows = await db.query<{ label: string; q: string; data: unknown; n: number }>(
      `SELECT label, 'a ? b' AS q, data, (SELECT count(*) FROM probe_items) AS n
       FROM probe_items WHERE label = ? OR label = E'it\\'s' /* ? */ ORDER BY id -- ?`,
      ["what?"],
    );
    assert.deepEqual(rows, [
      { label: "what?", q: "a ? b", data: { a: [1] }, n: 2 },
      { label: "it's", q: "a ? b", data: null, n: 2 },
    ]);
    assert.deepEqual(await db.execute("DELETE FROM probe_items WHERE label = ?", ["nothing"]), {
      changes: 0,
    });
    assert.deepEqual(
      await db.execute(
        "INSERT INTO probe_items (label) VALUES ('x;y'); UPDATE probe_items SET data = '[]' WHERE data IS NULL; SELECT 1",
      ),
      { changes: 3 },
    );
    assert.deepEqual(await db.query("SELECT 1 AS a; SELECT 2 AS b"), [{ b: 2 }]);
    assert.deepEqual(await db.query("SELECT $1::int AS native", [7]), [{ native: 7 }]);
    await assert.rejects(
      () => db.execute("DELETE FROM probe_items WHERE label = ?; SELECT 1", ["x"]),
      (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /parameters can be given to one statement only/);
        return true;
      },
    );
    await assert.rejects(
      () => db.query("SELECT ? AS a, ? AS b", [1]),
      (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /2 placeholders but 1 parameters/);
        return true;
      },
    );
  });
});

Deno.test("migrateExtension() applies the steps in order once, across reopening", async () => {
  await using database = await createTestDatabase();
  const order: string[] = [];
  const extension = extensionWith("volumes", [
    {
      name: "0001_create",
      up: async (db) => {
        order.push("0001");
        await db.execute("CREATE TABLE volumes_disks (id serial PRIMARY KEY, size integer)");
      },
    },
    {
      name: "0002_seed",
      up: async (db) => {
        order.push("0002");
        await db.execute("INSERT INTO volumes_disks (size) VALUES (?), (?)", [10, 20]);
      },
    },
  ]);
  for (let start = 0; start < 2; start++) {
    const store = await openPostgresStore(database.url, { max: 2 });
    try {
      await store.migrateCore();
      await store.migrateExtension(extension, "jsr:@test/volumes");
      assert.deepEqual(
        (await store.appliedMigrations("volumes")).map((step) => step.name),
        ["0001_create", "0002_seed"],
      );
      assert.equal(await countRows(store.database, "volumes_disks"), 2);
    } finally {
      await store.close();
    }
  }
  assert.deepEqual(order, ["0001", "0002"]);
});

Deno.test("migrateExtension() rolls back a failing step and names the extension, step and cause", async () => {
  await withStore(async (store) => {
    const extension = extensionWith("broken", [
      {
        name: "0001_ok",
        up: (db) => db.execute("CREATE TABLE broken_ok (id integer)").then(() => {}),
      },
      {
        name: "0002_fails",
        up: async (db) => {
          await db.execute("CREATE TABLE broken_half (id integer)");
          await db.execute("INSERT INTO broken_ok (missing_column) VALUES (1)");
        },
      },
      { name: "0003_never", up: () => assert.fail("a step after a failed one ran") },
    ]);
    await assert.rejects(
      () => store.migrateExtension(extension, "./broken.ts"),
      (error: unknown) => {
        assert.ok(error instanceof ExtensionLoadError);
        assert.equal(error.phase, "migrate");
        assert.equal(error.extension, "broken");
        assert.equal(error.source, "./broken.ts");
        assert.match(
          error.message,
          /^Cannot load extension "\.\/broken\.ts": migration "0002_fails" of "broken" failed and was rolled back: .*missing_column/,
        );
        return true;
      },
    );
    assert.deepEqual(
      (await store.appliedMigrations("broken")).map((step) => step.name),
      ["0001_ok"],
    );
    assert.ok(await tableExists(store.database, "broken_ok"));
    assert.equal(await tableExists(store.database, "broken_half"), false);
  });
});

Deno.test("migrateExtension() refuses a step that creates or drops a table outside its prefix", async (t) => {
  await withStore(async (store) => {
    await t.step("creating an unprefixed table", async () => {
      const extension = extensionWith("tidy", [{
        name: "0001_sloppy",
        up: async (db) => {
          await db.execute("CREATE TABLE tidy_fine (id integer)");
          await db.execute("CREATE TABLE disks (id integer)");
        },
      }]);
      await assert.rejects(
        () => store.migrateExtension(extension, "npm:tidy"),
        (error: unknown) => {
          assert.ok(error instanceof ExtensionLoadError);
          assert.equal(error.phase, "migrate");
          assert.match(
            error.message,
            /^Cannot load extension "npm:tidy": migration "0001_sloppy" of "tidy" was rolled back: it created or dropped "disks", but the tables of an extension must start with "tidy_"/,
          );
          return true;
        },
      );
      assert.equal(await tableExists(store.database, "disks"), false);
      assert.equal(await tableExists(store.database, "tidy_fine"), false);
      assert.deepEqual(await store.appliedMigrations("tidy"), []);
    });
    await t.step("dropping a core table", async () => {
      const extension = extensionWith("vandal", [{
        name: "0001_drop",
        up: (db) => db.execute("DROP TABLE nodes CASCADE").then(() => {}),
      }]);
      await assert.rejects(
        () => store.migrateExtension(extension, "npm:vandal"),
        (error: unknown) =>
          error instanceof ExtensionLoadError &&
          /it created or dropped "nodes"/.test(error.message),
      );
      assert.ok(await tableExists(store.database, "nodes"));
    });
  });
});

Deno.test("three stores started at once on one empty database apply every migration once", async () => {
  await using database = await createTestDatabase();
  const extension = extensionWith("counter", [
    {
      name: "0001_table",
      up: async (db) => {
        await db.execute(
          "CREATE TABLE counter_runs (step text NOT NULL, at timestamptz DEFAULT clock_timestamp())",
        );
        await db.execute("INSERT INTO counter_runs (step) VALUES (?)", ["0001_table"]);
      },
    },
    {
      name: "0002_slow",
      up: async (db) => {
        // Widen the window in which a second instance could apply the same step.
        await db.query("SELECT pg_sleep(0.2)");
        await db.execute("INSERT INTO counter_runs (step) VALUES (?)", ["0002_slow"]);
      },
    },
    {
      name: "0003_more",
      up: async (db) => {
        await db.execute("ALTER TABLE counter_runs ADD COLUMN note text");
        await db.execute("INSERT INTO counter_runs (step) VALUES (?)", ["0003_more"]);
      },
    },
  ]);
  const stores = await Promise.all(
    [0, 1, 2].map(() => openPostgresStore(database.url, { max: 3 })),
  );
  try {
    await Promise.all(stores.map(async (store) => {
      await store.migrateCore();
      await store.migrateExtension(extension, "./counter.ts");
    }));
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      const core = await sql`SELECT name, count(*)::int AS n FROM schema_migrations GROUP BY name`;
      assert.ok(core.length > 0);
      assert.ok(core.every((row) => row.n === 1), JSON.stringify(core));
      const versions = await sql`
        SELECT name, count(*)::int AS n FROM counter_schema_migrations GROUP BY name ORDER BY name`;
      assert.deepEqual(versions.map((row) => [row.name, row.n]), [
        ["0001_table", 1],
        ["0002_slow", 1],
        ["0003_more", 1],
      ]);
      const runs = await sql`SELECT step FROM counter_runs ORDER BY at`;
      assert.deepEqual(runs.map((row) => row.step), ["0001_table", "0002_slow", "0003_more"]);
    } finally {
      await sql.end();
    }
    for (const store of stores) {
      assert.equal((await store.appliedMigrations("counter")).length, 3);
    }
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
});
