// Several service instances on one PostgreSQL database (issue: deployments
// that outgrow one machine): what one instance writes the others serve, each
// instance's extensions receive the events of the requests it served, and
// instances started at the same moment apply every migration once.
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "npm:postgres@3.4.9";
import type { Logger } from "../mod.ts";
import { createLogger } from "../src/service/logger.ts";
import { type RunningNailgun, startNailgun } from "../src/service/main.ts";
import { createTestDatabase } from "./_postgres/database.ts";
import { client, mac, type TestNailgun, writeConfig } from "./_service/harness.ts";

const WITNESS = new URL("./_postgres/fixtures/witness.ts", import.meta.url).pathname;

interface Instance {
  name: string;
  service: RunningNailgun;
  api: TestNailgun["api"];
  logs: string[];
}

/** Starts one service instance named `name` on `databaseUrl`, with the witness extension. */
async function startInstance(name: string, databaseUrl: string, dir: string): Promise<Instance> {
  const home = join(dir, name);
  await Deno.mkdir(home);
  const configFile = await writeConfig(home, {
    load: [WITNESS],
    section: { settings: { witness: { instance: name } } },
  });
  const logs: string[] = [];
  const logger: Logger = createLogger({ write: (line) => logs.push(line), timestamps: false });
  const service = await startNailgun({
    port: 0,
    hostname: "127.0.0.1",
    databaseUrl,
    configFile,
    logger,
  });
  return { name, service, api: client(service.url), logs };
}

/** Starts the named instances at the same moment; stops them all after `fn`. */
async function withInstances(
  names: string[],
  fn: (instances: Instance[], databaseUrl: string) => Promise<void>,
): Promise<void> {
  await using database = await createTestDatabase();
  const dir = await Deno.makeTempDir({ prefix: "nailgun_pg_service_" });
  const started = await Promise.allSettled(
    names.map((name) => startInstance(name, database.url, dir)),
  );
  const instances = started.flatMap((result) =>
    result.status === "fulfilled" ? [result.value] : []
  );
  try {
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    await fn(instances, database.url);
  } finally {
    await Promise.all(instances.map((instance) => instance.service.shutdown()));
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs one query on a short-lived connection of its own. */
async function select<T>(url: string, query: string): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return [...await sql.unsafe(query)] as T[];
  } finally {
    await sql.end();
  }
}

interface Witnessed {
  instance: string;
  hook: string;
  payload: unknown;
}

async function witnessed(url: string): Promise<Witnessed[]> {
  const rows = await select<{ instance: string; hook: string; payload: string }>(
    url,
    "SELECT instance, hook, payload FROM witness_events ORDER BY id",
  );
  return rows.map((row) => ({ ...row, payload: JSON.parse(row.payload) }));
}

Deno.test("startNailgun() instances on one PostgreSQL database serve each other's writes and notify their own extensions", async () => {
  await withInstances(["a", "b"], async ([a, b], url) => {
    for (const instance of [a, b]) {
      assert.deepEqual(instance.service.report.failed, []);
      assert.deepEqual(instance.service.report.loaded.map((loaded) => loaded.name), ["witness"]);
    }
    const created = await a.api("POST", "/nodes/", { mac: mac(1), name: "n1" });
    assert.equal(created.status, 201);
    const node = created.body;

    const read = await b.api("GET", `/nodes/${node.id}/`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, node);

    const updated = await b.api("PUT", `/nodes/${node.id}/`, { name: "renamed" });
    assert.equal(updated.status, 200);
    assert.deepEqual(updated.body, { ...node, name: "renamed" });
    assert.deepEqual((await a.api("GET", `/nodes/${node.id}/`)).body, updated.body);

    const deleted = await b.api("DELETE", `/nodes/${node.id}/`);
    assert.equal(deleted.status, 204);
    assert.equal((await a.api("GET", `/nodes/${node.id}/`)).status, 404);
    assert.deepEqual((await a.api("GET", "/nodes/")).body, []);

    // A taken MAC is refused whichever instance is asked.
    await a.api("POST", "/nodes/", { mac: mac(2) });
    const conflict = await b.api("POST", "/nodes/", { mac: mac(2) });
    assert.equal(conflict.status, 409, JSON.stringify(conflict.body));

    const events = await witnessed(url);
    assert.deepEqual(
      events.map((event) => `${event.instance}:${event.hook}`),
      ["a:onNodeCreate", "b:onNodeUpdate", "b:onNodeDelete", "a:onNodeCreate"],
    );
    assert.deepEqual(events[0].payload, node);
    assert.deepEqual(events[1].payload, updated.body);
    assert.deepEqual(events[2].payload, updated.body);
  });
});

Deno.test("startNailgun() three instances started at once on one empty database migrate once and all serve", async () => {
  await withInstances(["a", "b", "c"], async (instances, url) => {
    for (const instance of instances) {
      assert.deepEqual(instance.service.report.failed, [], instance.logs.join("\n"));
      assert.deepEqual(instance.service.report.loaded.map((loaded) => loaded.name), ["witness"]);
    }
    const core = await select<{ name: string; n: number }>(
      url,
      "SELECT name, count(*)::int AS n FROM schema_migrations GROUP BY name ORDER BY name",
    );
    assert.ok(core.length > 0);
    assert.deepEqual(core.filter((row) => row.n !== 1), []);
    assert.deepEqual(
      await select(url, "SELECT name FROM witness_schema_migrations ORDER BY id"),
      [{ name: "0001_create_tables" }, { name: "0002_count_again" }],
    );
    assert.deepEqual(await select(url, "SELECT step FROM witness_runs ORDER BY step"), [
      { step: "0001" },
      { step: "0002" },
    ]);

    const created = await Promise.all(
      instances.map((instance, index) => instance.api("POST", "/nodes/", { mac: mac(10 + index) })),
    );
    assert.deepEqual(created.map((answer) => answer.status), [201, 201, 201]);
    const ids = created.map((answer) => answer.body.id).sort((x, y) => x - y);
    for (const instance of instances) {
      const listed = await instance.api("GET", "/nodes/");
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.map((node: { id: number }) => node.id), ids);
    }
    const events = await witnessed(url);
    assert.deepEqual(
      events.map((event) => `${event.instance}:${event.hook}`).sort(),
      ["a:onNodeCreate", "b:onNodeCreate", "c:onNodeCreate"],
    );
    for (const [index, instance] of instances.entries()) {
      const own = events.find((event) => event.instance === instance.name);
      assert.deepEqual(own?.payload, created[index].body);
    }
  });
});
