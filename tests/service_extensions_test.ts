// What extensions add to the service: routes (served, colliding, failing),
// migrations (failing, unprefixed, kept across restarts), isolation of
// failing handlers, teardown in reverse order, and the log.
import assert from "node:assert/strict";
import type { Store } from "../src/service/store/store.ts";
import { removeProject } from "./_postgres/store_choice.ts";
import { tornDown } from "./_service/fixtures/_recorder.ts";
import { mac, withNailgun } from "./_service/harness.ts";

async function tableNames(store: Store): Promise<string[]> {
  const sql = store.dialect === "sqlite"
    ? "SELECT name FROM sqlite_master WHERE type = 'table'"
    : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()";
  const rows = await store.database.query<{ name: string }>(sql);
  return rows.map((row) => row.name);
}

Deno.test("an extension route is served below /api/v1 after the core routes", async () => {
  await withNailgun({ load: ["counter"], bodyLimit: 1024 }, async ({ api }) => {
    assert.deepEqual((await api("GET", "/counter/items/")).body, []);
    const created = await api("POST", "/counter/items", { label: "disk" });
    assert.equal(created.status, 201);
    assert.deepEqual((await api("GET", "/counter/items")).body, [{ label: "disk" }]);
    const params = await api("GET", "/clusters/42/counter");
    assert.deepEqual(params.body, { cluster_id: "42" });
    const large = await api("POST", "/counter/items/", { label: "x".repeat(2048) });
    assert.equal(large.status, 413);
    const wrongMethod = await api("DELETE", "/counter/items/");
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "GET, POST");
  });
});

Deno.test("an extension route whose path is not made of names and :name parameters is logged and not served; its other routes are", async () => {
  await withNailgun({ load: ["odd_route"] }, async ({ api, logs }) => {
    assert.ok(
      logs.some((line) =>
        /ERROR extension "odd_route": route "GET \/odd\/:id\(\\d\+\)\/" is not served: a path is made of/
          .test(line)
      ),
      logs.join("\n"),
    );
    assert.equal((await api("GET", "/odd/7/")).status, 404);
    const plain = await api("GET", "/odd/plain/x%20y");
    assert.equal(plain.status, 200);
    assert.equal(plain.body, "plain");
  });
});

Deno.test("a throwing extension route answers 500 naming the extension, and the service keeps serving", async () => {
  await withNailgun({ load: ["counter"] }, async ({ api, logs }) => {
    const answer = await api("GET", "/counter/boom/");
    assert.equal(answer.status, 500);
    assert.deepEqual(answer.body, {
      message: 'Extension "counter" failed in route "GET /counter/boom/": the counter broke',
      extension: "counter",
    });
    assert.ok(logs.some((line) => /^ERROR extension "counter" failed in route/.test(line)));
    assert.equal((await api("GET", "/counter/items/")).status, 200);
    assert.equal((await api("GET", "/version/")).status, 200);
  });
});

Deno.test("a route that collides with a core route is reported as a conflict and the service serves", async () => {
  await withNailgun({ load: ["collider", "counter"] }, async ({ api, service }) => {
    const { body } = await api("GET", "/extensions/status/");
    assert.deepEqual(body.loaded.map((info: { name: string }) => info.name), ["counter"]);
    assert.equal(body.failed.length, 1);
    const [failure] = body.failed;
    assert.equal(failure.name, "collider");
    assert.equal(failure.phase, "conflict");
    assert.match(failure.source, /fixtures\/collider\.ts$/);
    assert.match(
      failure.message,
      /the route "GET \/clusters\/:cluster_id\/" of "collider" collides with "GET \/clusters\/:id\/" of the core API/,
    );
    assert.equal(service.manager.has("collider"), false);
    const cluster = (await api("POST", "/clusters/", { name: "env" })).body;
    assert.deepEqual((await api("GET", `/clusters/${cluster.id}/`)).body, cluster);
  });
});

Deno.test("a failing migration leaves no table behind, only its extension fails, and the service serves", async () => {
  await withNailgun(
    { load: ["broken_migration", "rec_a", "unprefixed"] },
    async ({ api, service, logs }) => {
      const { body } = await api("GET", "/extensions/status/");
      assert.deepEqual(body.loaded.map((info: { name: string }) => info.name), ["rec_a"]);
      const [broken, sneaky] = body.failed;
      assert.equal(broken.name, "broken");
      assert.equal(broken.phase, "migrate");
      assert.match(
        broken.message,
        /migration "0002_fails" of "broken" failed and was rolled back: the disk is full$/,
      );
      assert.equal(sneaky.name, "sneaky");
      assert.equal(sneaky.phase, "migrate");
      assert.match(
        sneaky.message,
        /it created or dropped "volumes", but the tables of an extension must start with "sneaky_"/,
      );
      assert.ok(
        logs.some((line) => /^ERROR extension load failed \(migrate\).*"broken"/.test(line)),
      );

      const tables = await tableNames(service.store);
      assert.ok(tables.includes("broken_ok"), "the step before the failing one stays");
      assert.ok(!tables.includes("broken_things"));
      assert.ok(!tables.includes("volumes"));
      assert.ok(!tables.includes("sneaky_ok"));
      assert.deepEqual((await service.store.appliedMigrations("broken")).map((s) => s.name), [
        "0001_ok",
      ]);
      assert.deepEqual(await service.store.appliedMigrations("sneaky"), []);
      const node = await api("POST", "/nodes/", { mac: mac(1) });
      assert.equal(node.status, 201);
    },
  );
});

Deno.test("stop and start again on the same database: data and extension tables stay, migrations run once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_restart_" });
  try {
    const options = { load: ["rec_a", "counter"], dir };
    let cluster: { id: number } | undefined;
    let node: unknown;
    let applied: unknown;
    await withNailgun(options, async ({ api, service }) => {
      cluster = (await api("POST", "/clusters/", { name: "env", extensions: ["rec_a"] })).body;
      node = (await api("POST", "/nodes/", { mac: mac(1), cluster_id: cluster!.id })).body;
      await api("POST", "/counter/items/", { label: "kept" });
      applied = await service.store.appliedMigrations("counter");
    });
    await withNailgun(options, async ({ api, service }) => {
      assert.deepEqual((await api("GET", "/counter/runs/")).body, [{ step: "0001" }, {
        step: "0002",
      }]);
      assert.deepEqual(await service.store.appliedMigrations("counter"), applied);
      assert.deepEqual((await api("GET", "/counter/items/")).body, [{ label: "kept" }]);
      assert.deepEqual((await api("GET", `/nodes/`)).body, [node]);
      assert.deepEqual((await api("GET", `/clusters/${cluster!.id}/extensions/`)).body, ["rec_a"]);
      assert.deepEqual(
        (await service.store.appliedMigrations("core")).map((step) => step.name),
        ["0001_create_clusters", "0002_create_nodegroups", "0003_create_nodes"],
      );
    });
  } finally {
    await removeProject(dir);
  }
});

Deno.test("a failing notification handler is logged with its extension and hook; the change stands", async () => {
  await withNailgun({ load: ["failing", "rec_a"] }, async ({ api, logs }) => {
    const created = await api("POST", "/nodes/", { mac: mac(1) });
    assert.equal(created.status, 201);
    assert.deepEqual((await api("GET", `/nodes/${created.body.id}/`)).body, created.body);
    assert.ok(
      logs.includes('ERROR extension "failing" failed in onNodeCreate (threw): cannot keep up'),
      logs.join("\n"),
    );
    const events = (await api("GET", "/recorder/events/")).body;
    assert.deepEqual(events.map((event: { hook: string }) => event.hook), ["onNodeCreate"]);
  });
});

Deno.test("the service logs one line per request: method, path, status and milliseconds", async () => {
  await withNailgun({}, async ({ api, logs }) => {
    await api("GET", "/nodes/");
    await api("GET", "/clusters/9/");
    assert.ok(logs.some((line) => /^INFO GET \/api\/v1\/nodes\/ 200 \d+\.\dms$/.test(line)));
    assert.ok(logs.some((line) => /^INFO GET \/api\/v1\/clusters\/9\/ 404 \d+\.\dms$/.test(line)));
  });
});

Deno.test("shutdown() tears the extensions down in reverse order", async () => {
  await withNailgun({ load: ["rec_a", "rec_b", "rec_c"] }, async ({ service }) => {
    assert.deepEqual(tornDown(), []);
    await service.shutdown();
    assert.deepEqual(tornDown(), ["rec_c", "rec_b", "rec_a"]);
    await service.shutdown();
    assert.deepEqual(tornDown(), ["rec_c", "rec_b", "rec_a"]);
  });
});
