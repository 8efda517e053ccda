// Extension faults through a real service (startNailgun on a free port, a
// temporary SQLite database and extensions.json): each broken extension is
// reported with its phase and a message that names its source and the field
// to fix, in GET /api/v1/extensions/status/ and in the log; the service keeps
// serving and the healthy extensions are unaffected.
import assert from "node:assert/strict";
import { VERSION } from "../mod.ts";
import type { Store } from "../src/service/store/store.ts";
import { landed } from "./_reliability/fixtures/mutator.ts";
import { tornDown } from "./_service/fixtures/_recorder.ts";
import { fixture } from "./_reliability/scenario.ts";
import { type Answer, mac, type TestNailgun, withNailgun } from "./_service/harness.ts";

interface Failure {
  source: string;
  name?: string;
  phase: string;
  message: string;
}

interface ExpectedFailure {
  fixture: string;
  phase: string;
  name?: string;
  /** What the message says after `Cannot load extension "<source>": `. */
  reason: RegExp;
}

const LOAD_FAULTS: ExpectedFailure[] = [
  {
    fixture: "import_throws",
    phase: "import",
    reason: /^importing it threw: the message bus driver is missing$/,
  },
  {
    fixture: "setup_throws",
    phase: "setup",
    name: "setupfails",
    reason: /^setup\(\) of "setupfails" failed: cannot reach the message bus$/,
  },
  {
    fixture: "invalid_shape",
    phase: "validate",
    name: "shapeless",
    reason: /^"onNodeCreate" must be a function: current value is "log it"$/,
  },
  {
    fixture: "invalid_name",
    phase: "validate",
    name: undefined, // an invalid name is not reported as the extension's name
    reason:
      /^"name" must start with a lowercase letter and hold only lowercase letters, digits and "_" \(64 at most\): current value is "users; DROP TABLE nodes"$/,
  },
  {
    fixture: "host_mismatch",
    phase: "host-version",
    name: "future",
    reason: new RegExp(
      `^"hostVersion" is "\\^9\\.0\\.0" but this host runs @nailgun/extensions ${
        VERSION.replaceAll(".", "\\.")
      }: install a version of "future" written for`,
    ),
  },
  {
    fixture: "twin_b",
    phase: "conflict",
    name: "twin",
    reason: new RegExp(
      `^the name "twin" is already taken by the extension from "${
        fixture("twin_a")
      }": exclude one of the two sources$`,
    ),
  },
  {
    fixture: "route_core",
    phase: "conflict",
    name: "shadow",
    reason:
      /^the route "GET \/nodes\/:node_id\/" of "shadow" collides with "GET \/nodes\/:id\/" of the core API: choose another path$/,
  },
  {
    fixture: "route_two",
    phase: "conflict",
    name: "route_two",
    reason:
      /^the route "GET \/shared\/report\/" of "route_two" collides with "GET \/shared\/report\/" of "route_one": choose another path$/,
  },
  {
    fixture: "provider_two",
    phase: "conflict",
    name: "provider_two",
    reason:
      /^the call "inventory" of "provider_two" is already provided by "provider_one" \(from ".*provider_one\.ts"\): a call has one provider$/,
  },
  {
    fixture: "halfway",
    phase: "migrate",
    name: "halfway",
    reason:
      /^migration "0001_two_statements" of "halfway" failed and was rolled back: .*(no such table: halfway_missing|relation "halfway_missing" does not exist)/,
  },
  {
    fixture: "halfscript",
    phase: "migrate",
    name: "halfscript",
    reason:
      /^migration "0001_script" of "halfscript" failed and was rolled back: .*(no such table: halfscript_missing|relation "halfscript_missing" does not exist)/,
  },
];

async function tableNames(store: Store): Promise<string[]> {
  const rows = await store.database.query<{ name: string }>(
    store.dialect === "sqlite"
      ? "SELECT name FROM sqlite_master WHERE type = 'table'"
      : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()",
  );
  return rows.map((row) => row.name);
}

async function assertServing(api: TestNailgun["api"]): Promise<void> {
  const version = await api("GET", "/version/");
  assert.equal(version.status, 200, "the service still answers GET /api/v1/version/");
}

Deno.test("every load-time fault of an extension is reported with its phase, source and field; the others load and the service serves", async () => {
  const load = [
    "rec_a",
    fixture("import_throws"),
    fixture("setup_throws"),
    fixture("invalid_shape"),
    fixture("invalid_name"),
    fixture("host_mismatch"),
    fixture("twin_a"),
    fixture("twin_b"),
    fixture("route_core"),
    fixture("route_one"),
    fixture("route_two"),
    fixture("provider_one"),
    fixture("provider_two"),
    fixture("halfway"),
    fixture("halfscript"),
  ];
  await withNailgun({ load }, async ({ api, service, logs }) => {
    await assertServing(api);
    const status = await api("GET", "/extensions/status/");
    assert.equal(status.status, 200);
    const loaded = status.body.loaded.map((info: { name: string; source: string }) => info.name);
    assert.deepEqual(loaded, ["rec_a", "twin", "route_one", "provider_one"]);
    const failed: Failure[] = status.body.failed;
    assert.equal(failed.length, LOAD_FAULTS.length, JSON.stringify(failed, null, 2));
    for (const expected of LOAD_FAULTS) {
      const source = fixture(expected.fixture);
      const failure = failed.find((entry) => entry.source === source);
      assert.ok(failure, `${expected.fixture} is in the load report`);
      assert.equal(failure.phase, expected.phase, failure.message);
      assert.equal(failure.name, expected.name, failure.message);
      const prefix = `Cannot load extension "${source}": `;
      assert.ok(failure.message.startsWith(prefix), failure.message);
      assert.match(failure.message.slice(prefix.length), expected.reason);
      assert.ok(
        logs.includes(`ERROR extension load failed (${failure.phase}): ${failure.message}`),
        `the log holds the failure of ${expected.fixture}`,
      );
    }

    // The migrations that failed halfway left nothing behind, and the unsafe
    // name never reached SQL: the core tables stand.
    const tables = await tableNames(service.store);
    for (const table of ["halfway_items", "halfscript_items"]) {
      assert.ok(!tables.includes(table), `${table} was rolled back`);
    }
    assert.deepEqual(await service.store.appliedMigrations("halfway"), []);
    assert.deepEqual(await service.store.appliedMigrations("halfscript"), []);
    for (const table of ["clusters", "nodes", "nodegroups"]) assert.ok(tables.includes(table));

    // The healthy extensions work: events, routes, provided calls.
    const created = await api("POST", "/nodes/", { mac: mac(1) });
    assert.equal(created.status, 201);
    const events = (await api("GET", "/recorder/events/")).body;
    assert.deepEqual(events, [{
      extension: "rec_a",
      hook: "onNodeCreate",
      args: [created.body],
    }]);
    assert.deepEqual((await api("GET", `/nodes/${created.body.id}/`)).body, created.body);
    assert.deepEqual((await api("GET", "/shared/report/")).body, { served_by: "route_one" });
    assert.deepEqual(await service.manager.call("inventory"), { from: "provider_one" });
    assert.equal(service.manager.get("twin").version, "1.0.0");
    await assertServing(api);
  });
});

Deno.test("a handler that throws, rejects, never settles or mutates its payload changes nothing; the others get every event", async () => {
  const load = [
    fixture("thrower"),
    fixture("rejecter"),
    fixture("hanger"),
    fixture("mutator"),
    "rec_a",
    "rec_b",
  ];
  const limit = 200;
  await withNailgun({ load, section: { handlerTimeoutMs: limit } }, async ({ api, logs }) => {
    const expectCreated = (answer: Answer) => {
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      return answer.body;
    };
    const cluster = expectCreated(
      await api("POST", "/clusters/", { name: "env", attributes: { tier: "gold" } }),
    );
    assert.deepEqual((await api("GET", `/clusters/${cluster.id}/`)).body, cluster);
    assert.equal(cluster.name, "env");
    assert.deepEqual(cluster.extensions, []);

    const started = performance.now();
    const node = expectCreated(
      await api("POST", "/nodes/", {
        mac: mac(1),
        name: "rack-1",
        roles: ["compute"],
        meta: { disks: [{ name: "sda", size: 100 }] },
      }),
    );
    const took = performance.now() - started;
    assert.ok(took >= limit, `the request waited for the time limit (${took} ms)`);
    assert.equal(node.name, "rack-1");
    assert.deepEqual(node.roles, ["compute"]);
    assert.deepEqual(node.meta, { disks: [{ name: "sda", size: 100 }] });
    assert.equal(node.hostname, `node-${node.id}`);
    assert.deepEqual((await api("GET", `/nodes/${node.id}/`)).body, node);

    const updated = await api("PUT", `/nodes/${node.id}/`, { name: "rack-2" });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.name, "rack-2");
    assert.deepEqual((await api("GET", `/nodes/${node.id}/`)).body, updated.body);

    const patched = await api("PUT", `/clusters/${cluster.id}/attributes/`, {
      editable: { region: "north" },
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body, { editable: { tier: "gold", region: "north" } });
    assert.deepEqual((await api("GET", `/clusters/${cluster.id}/attributes/`)).body, patched.body);
    assert.deepEqual(landed, [], "no mutation of a payload took effect");

    // Ten creations at once are not queued behind the handler that never settles.
    const burst = performance.now();
    const many = await Promise.all(
      Array.from({ length: 10 }, (_, index) => api("POST", "/nodes/", { mac: mac(100 + index) })),
    );
    assert.deepEqual(many.map((answer) => answer.status), Array(10).fill(201));
    const burstTook = performance.now() - burst;
    assert.ok(burstTook < 10 * limit, `ten creations took ${burstTook} ms`);

    // The route that never settles answers 500 at the time limit.
    const waited = await api("GET", "/hanger/wait/");
    assert.equal(waited.status, 500);
    assert.deepEqual(waited.body, {
      message:
        `Extension "hanger" failed in route "GET /hanger/wait/": did not settle within ${limit} ms`,
      extension: "hanger",
    });

    const events = (await api("GET", "/recorder/events/")).body as {
      extension: string;
      hook: string;
      args: unknown[];
    }[];
    for (const name of ["rec_a", "rec_b"]) {
      const received = events.filter((event) => event.extension === name);
      assert.deepEqual(
        received.map((event) => event.hook),
        [
          "onClusterCreate",
          "onNodeCreate",
          "onNodeUpdate",
          "onClusterPatchAttributes",
          ...Array(10).fill("onNodeCreate"),
        ],
        `${name} received every event once`,
      );
      assert.deepEqual(received[1]!.args, [node], `${name} saw the node as stored`);
      assert.deepEqual(received[2]!.args, [updated.body]);
    }

    const lines = [
      `ERROR extension "thrower" failed in onNodeCreate (threw): cannot keep up`,
      `ERROR extension "rejecter" failed in onNodeCreate (rejected): the audit service answered 503`,
      `ERROR extension "hanger" failed in onNodeCreate (timeout): did not settle within ${limit} ms`,
    ];
    // The circuit breaker suspends each after 3 consecutive faults: the sync
    // thrower fails exactly 3 times; the async ones fail 3 to 11 times, as
    // many as the concurrent creations called before their 3rd fault landed.
    for (const [index, line] of lines.entries()) {
      const count = logs.filter((logged) => logged === line).length;
      assert.ok(
        index === 0 ? count === 3 : count >= 3 && count <= 11,
        `logged ${count} times: ${line}`,
      );
    }
    for (const name of ["thrower", "rejecter", "hanger"]) {
      assert.ok(logs.some((logged) => logged.startsWith(`WARN extension "${name}" is suspended`)));
    }
    for (const hook of ["onNodeCreate", "onNodeUpdate", "onClusterCreate"]) {
      assert.ok(
        logs.some((line) =>
          new RegExp(
            `^ERROR extension "mutator" failed in ${hook} \\(threw\\): TypeError: Cannot (assign to read only property|add property|delete property)`,
          ).test(line)
        ),
        `the refused mutation in ${hook} is logged`,
      );
    }
    assert.ok(
      logs.some((line) =>
        line === 'ERROR extension "hanger" failed in route "GET /hanger/wait/": ' +
            `did not settle within ${limit} ms`
      ),
    );
    await assertServing(api);
  });
});

Deno.test("a setup or teardown that throws or never settles is ended by the time limit; start and shutdown go on", async () => {
  const load = [
    "rec_a",
    fixture("setup_hangs"),
    fixture("teardown_hangs"),
    fixture("teardown_throws"),
    "rec_b",
  ];
  const limit = 200;
  await withNailgun(
    { load, section: { handlerTimeoutMs: limit } },
    async ({ api, service, logs }) => {
      const status = (await api("GET", "/extensions/status/")).body;
      assert.deepEqual(
        status.loaded.map((info: { name: string }) => info.name),
        ["rec_a", "stubborn", "grumpy", "rec_b"],
      );
      assert.deepEqual(status.failed, [{
        source: fixture("setup_hangs"),
        name: "setuphangs",
        phase: "setup",
        message: `Cannot load extension "${
          fixture("setup_hangs")
        }": setup() of "setuphangs" failed: did not settle within ${limit} ms`,
      }]);
      await assertServing(api);

      const started = performance.now();
      await service.shutdown();
      const took = performance.now() - started;
      assert.ok(took < 10 * limit, `the shutdown took ${took} ms`);
      assert.deepEqual(tornDown(), ["rec_b", "rec_a"]);
      assert.ok(
        logs.includes(
          'ERROR extension "grumpy" failed in teardown: the connection pool is already closed',
        ),
      );
      assert.ok(
        logs.includes(
          `ERROR extension "stubborn" failed in teardown: did not settle within ${limit} ms`,
        ),
      );
      assert.ok(logs.includes("INFO stopped"));
    },
  );
});
