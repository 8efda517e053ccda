// Every core route of SPEC §4 over real HTTP on loopback, with a temporary
// SQLite database: answers, 400s naming the field, 404s, 405s, 413s.
import assert from "node:assert/strict";
import { VERSION } from "../mod.ts";
import { CORE_ROUTES } from "../src/service/app.ts";
import { mac, withNailgun } from "./_service/harness.ts";

Deno.test("GET /version/ answers as Nailgun does", async () => {
  await withNailgun({}, async ({ api }) => {
    const { status, body } = await api("GET", "/version/");
    assert.equal(status, 200);
    assert.equal(body.release, "9.0");
    assert.equal(body.api, "1");
    assert.equal(body.auth_required, false);
    assert.equal(body.extensions_version, VERSION);
  });
});

Deno.test("GET /extensions/ and /extensions/status/ answer the loaded extensions and the load report", async () => {
  await withNailgun({ load: ["rec_a", "rec_b", "collider"] }, async ({ api, service }) => {
    const listed = await api("GET", "/extensions/");
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body, [
      {
        name: "rec_a",
        version: "1.0.0",
        description: "Records every event it receives (rec_a).",
        provides: [],
        source: service.report.loaded[0]!.source,
      },
      {
        name: "rec_b",
        version: "1.0.0",
        description: "Records every event it receives (rec_b).",
        provides: [],
        source: service.report.loaded[1]!.source,
      },
    ]);
    assert.match(listed.body[0].source, /fixtures\/rec_a\.ts$/);
    const status = await api("GET", "/extensions/status");
    assert.equal(status.status, 200);
    assert.deepEqual(Object.keys(status.body).sort(), ["failed", "loaded", "skipped", "warnings"]);
    assert.ok(Array.isArray(status.body.warnings));
    // Each loaded entry is the listed one, with its health when the manager keeps one.
    assert.deepEqual(
      // deno-lint-ignore no-explicit-any
      status.body.loaded.map(({ health: _health, delivery: _delivery, ...info }: any) => info),
      listed.body,
    );
    for (const entry of status.body.loaded) {
      assert.deepEqual(entry.delivery, { mode: "inline", pending: 0, parked: 0, delivered: 0 });
    }
    assert.equal(status.body.failed.length, 1);
    assert.equal(status.body.failed[0].name, "collider");
    assert.equal(status.body.failed[0].phase, "conflict");
  });
});

Deno.test("clusters: create, list, read, update and delete", async () => {
  await withNailgun(
    { load: ["rec_a", "rec_b"], section: { clusterDefaults: ["rec_b", "missing"] } },
    async ({ api }) => {
      const created = await api("POST", "/clusters/", { name: "env-1", unknown: "ignored" });
      assert.equal(created.status, 201);
      assert.deepEqual(created.body, {
        id: created.body.id,
        name: "env-1",
        mode: "ha_compact",
        status: "new",
        release: "mitaka-9.0",
        extensions: ["rec_b"],
        attributes: {},
      });
      const explicit = await api("POST", "/clusters", {
        name: "env-2",
        mode: "multinode",
        release: "r2",
        extensions: ["rec_b", "rec_a"],
        attributes: { a: 1 },
      });
      assert.equal(explicit.status, 201);
      assert.deepEqual(explicit.body.extensions, ["rec_b", "rec_a"]);
      assert.deepEqual(explicit.body.attributes, { a: 1 });
      const none = await api("POST", "/clusters/", { name: "env-3", extensions: [] });
      assert.deepEqual(none.body.extensions, []);

      const list = await api("GET", "/clusters/");
      assert.deepEqual(list.body.map((cluster: { name: string }) => cluster.name), [
        "env-1",
        "env-2",
        "env-3",
      ]);
      const id = created.body.id;
      assert.deepEqual((await api("GET", `/clusters/${id}/`)).body, created.body);
      assert.deepEqual((await api("GET", `/clusters/${id}`)).body, created.body);

      const updated = await api("PUT", `/clusters/${id}/`, { id, name: "renamed", mode: "x" });
      assert.equal(updated.status, 200);
      assert.equal(updated.body.name, "renamed");
      assert.equal(updated.body.mode, "x");

      assert.equal((await api("DELETE", `/clusters/${id}/`)).status, 204);
      assert.equal((await api("GET", `/clusters/${id}/`)).status, 404);
      assert.equal((await api("DELETE", `/clusters/${id}/`)).status, 404);
    },
  );
});

Deno.test("clusters: bad bodies answer 400 naming the field, taken names 409, unknown ids 404", async () => {
  await withNailgun({ load: ["rec_a"] }, async ({ api }) => {
    const cases: [unknown, string, RegExp][] = [
      [{}, "name", /^Cannot create cluster: "name" is required$/],
      [{ name: 5 }, "name", /"name" must be a string: current value is 5/],
      [{ name: "  " }, "name", /"name" must not be empty/],
      [{ name: "x", extensions: "rec_a" }, "extensions", /must be a JSON list of extension names/],
      [
        { name: "x", extensions: ["nope"] },
        "extensions[0]",
        /must name a loaded extension \(loaded: rec_a\): current value is "nope"/,
      ],
      [{ name: "x", extensions: ["rec_a", "rec_a"] }, "extensions[1]", /must not repeat/],
      [{ name: "x", extensions: ["Bad-Name"] }, "extensions[0]", /must be an extension name/],
      [{ name: "x", attributes: [1] }, "attributes", /must be a JSON object/],
      [[1, 2], "body", /"body" must be a JSON object: current value is \[1,2\]/],
    ];
    for (const [body, field, message] of cases) {
      const answer = await api("POST", "/clusters/", body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.field, field, JSON.stringify(body));
      assert.match(answer.body.message, message);
    }
    const first = await api("POST", "/clusters/", { name: "env" });
    const taken = await api("POST", "/clusters/", { name: "env" });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.field, "name");
    const id = first.body.id;
    const unknownField = await api("PUT", `/clusters/${id}/`, { extensions: ["rec_a"] });
    assert.equal(unknownField.status, 400);
    assert.equal(unknownField.body.field, "extensions");
    assert.match(
      unknownField.body.message,
      /is not a field that can be set here: fields are id, name, mode, release/,
    );
    const wrongId = await api("PUT", `/clusters/${id}/`, { id: id + 1 });
    assert.equal(wrongId.status, 400);
    assert.equal(wrongId.body.field, "id");
    for (const path of ["/clusters/999/", "/clusters/abc/", "/clusters/0/"]) {
      const answer = await api("GET", path);
      assert.equal(answer.status, 404, path);
      assert.match(answer.body.message, /^Cannot find cluster/);
    }
    assert.equal((await api("PUT", "/clusters/999/", { name: "x" })).status, 404);
  });
});

Deno.test("cluster extensions: GET lists, PUT adds without duplicates, DELETE removes", async () => {
  await withNailgun({ load: ["rec_a", "rec_b", "rec_c"] }, async ({ api }) => {
    const { body: cluster } = await api("POST", "/clusters/", {
      name: "env",
      extensions: ["rec_b"],
    });
    const path = `/clusters/${cluster.id}/extensions/`;
    assert.deepEqual((await api("GET", path)).body, ["rec_b"]);
    const added = await api("PUT", path, ["rec_c", "rec_b", "rec_a", "rec_c"]);
    assert.equal(added.status, 200);
    assert.deepEqual(added.body, ["rec_b", "rec_c", "rec_a"]);
    assert.deepEqual((await api("GET", `/clusters/${cluster.id}`)).body.extensions, [
      "rec_b",
      "rec_c",
      "rec_a",
    ]);
    const removed = await api("DELETE", `${path}?extension_names=rec_b,rec_a`);
    assert.equal(removed.status, 204);
    assert.deepEqual((await api("GET", path)).body, ["rec_c"]);

    const unknown = await api("PUT", path, ["rec_a", "nope"]);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.field, "[1]");
    assert.match(unknown.body.message, /must name a loaded extension .*current value is "nope"/);
    const notList = await api("PUT", path, { names: ["rec_a"] });
    assert.equal(notList.status, 400);
    assert.equal(notList.body.field, "body");
    const unknownDelete = await api("DELETE", `${path}?extension_names=nope`);
    assert.equal(unknownDelete.status, 400);
    assert.equal(unknownDelete.body.field, "extension_names");
    const notEnabled = await api("DELETE", `${path}?extension_names=rec_a`);
    assert.equal(notEnabled.status, 400);
    assert.match(notEnabled.body.message, /enabled on the cluster \(enabled: rec_c\)/);
    const missing = await api("DELETE", path);
    assert.equal(missing.status, 400);
    assert.equal(
      missing.body.message,
      `Cannot disable extensions on cluster ${cluster.id}: "extension_names" is required`,
    );
    assert.deepEqual((await api("GET", path)).body, ["rec_c"]);
    assert.equal((await api("GET", "/clusters/77/extensions/")).status, 404);
  });
});

Deno.test("cluster attributes: PUT merges Nailgun's editable form and answers it", async () => {
  await withNailgun({}, async ({ api }) => {
    const { body: cluster } = await api("POST", "/clusters/", {
      name: "env",
      attributes: { common: { debug: false, syslog: "a" }, keep: 1 },
    });
    const path = `/clusters/${cluster.id}/attributes/`;
    const patched = await api("PUT", path, { editable: { common: { debug: true }, added: [1] } });
    assert.equal(patched.status, 200);
    const expected = { common: { debug: true, syslog: "a" }, keep: 1, added: [1] };
    assert.deepEqual(patched.body, { editable: expected });
    assert.deepEqual((await api("GET", path)).body, { editable: expected });
    const bare = await api("PATCH", path.slice(0, -1), { keep: 2 });
    assert.equal(bare.body.editable.keep, 2);
    const bad = await api("PUT", path, "text");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, "body");
    assert.equal((await api("PUT", "/clusters/9/attributes/", {})).status, 404);
  });
});

Deno.test("orchestrator defaults and changes answer the serialized data; deploying sets the status", async () => {
  await withNailgun({}, async ({ api }) => {
    const { body: cluster } = await api("POST", "/clusters/", { name: "env" });
    const { body: node } = await api("POST", "/nodes/", {
      mac: mac(1),
      cluster_id: cluster.id,
      roles: ["controller"],
    });
    const deployment = await api(
      "GET",
      `/clusters/${cluster.id}/orchestrator/deployment/defaults/`,
    );
    assert.equal(deployment.status, 200);
    assert.equal(deployment.body.cluster.cluster_id, cluster.id);
    assert.deepEqual(deployment.body.nodes.map((data: { uid: string }) => data.uid), [
      String(node.id),
    ]);
    assert.deepEqual(deployment.body.nodes[0].roles, ["controller"]);
    const provisioning = await api(
      "GET",
      `/clusters/${cluster.id}/orchestrator/provisioning/defaults`,
    );
    assert.equal(provisioning.status, 200);
    assert.equal(provisioning.body.cluster.release, "mitaka-9.0");
    assert.equal(provisioning.body.nodes[0].mac, mac(1));
    const changes = await api("PUT", `/clusters/${cluster.id}/changes/`);
    assert.equal(changes.status, 200);
    assert.equal(changes.body.cluster.status, "deployment");
    assert.deepEqual(changes.body.deployment, deployment.body);
    assert.deepEqual(changes.body.provisioning, provisioning.body);
    assert.equal((await api("GET", `/clusters/${cluster.id}/`)).body.status, "deployment");
    for (
      const path of ["orchestrator/deployment/defaults/", "orchestrator/provisioning/defaults/"]
    ) {
      assert.equal((await api("GET", `/clusters/404/${path}`)).status, 404);
    }
    assert.equal((await api("PUT", "/clusters/404/changes/")).status, 404);
  });
});

Deno.test("nodes: create, list, filter, read, update, reset and delete", async () => {
  await withNailgun({}, async ({ api }) => {
    const { body: cluster } = await api("POST", "/clusters/", { name: "env" });
    const { body: group } = await api("POST", "/nodegroups/", {
      name: "g",
      cluster_id: cluster.id,
    });
    const pooled = await api("POST", "/nodes/", { mac: "52:54:00:AB:CD:01", meta: { cpu: 4 } });
    assert.equal(pooled.status, 201);
    assert.deepEqual(pooled.body, {
      id: pooled.body.id,
      uuid: pooled.body.uuid,
      mac: "52:54:00:ab:cd:01",
      name: "Untitled (cd:01)",
      hostname: `node-${pooled.body.id}`,
      status: "discover",
      cluster_id: null,
      group_id: null,
      roles: [],
      pending_roles: [],
      pending_addition: false,
      pending_deletion: false,
      online: true,
      meta: { cpu: 4 },
    });
    assert.match(pooled.body.uuid, /^[0-9a-f-]{36}$/);
    const member = await api("POST", "/nodes", {
      mac: mac(2),
      name: "ctrl",
      cluster_id: cluster.id,
      group_id: group.id,
      roles: ["controller"],
    });
    assert.equal(member.status, 201);
    assert.equal(member.body.pending_addition, true);
    assert.equal(member.body.group_id, group.id);

    assert.equal((await api("GET", "/nodes/")).body.length, 2);
    const filtered = await api("GET", `/nodes/?cluster_id=${cluster.id}`);
    assert.deepEqual(filtered.body.map((node: { id: number }) => node.id), [member.body.id]);
    assert.deepEqual((await api("GET", `/nodes/${member.body.id}`)).body, member.body);

    const updated = await api("PUT", `/nodes/${pooled.body.id}/`, {
      name: "compute-1",
      cluster_id: cluster.id,
      pending_roles: ["compute"],
      status: "ready",
    });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.name, "compute-1");
    assert.equal(updated.body.cluster_id, cluster.id);
    assert.equal(updated.body.pending_addition, true);
    assert.equal(updated.body.status, "ready");

    const reset = await api("POST", `/nodes/${pooled.body.id}/reset`);
    assert.equal(reset.status, 200);
    assert.equal(reset.body.status, "discover");
    assert.deepEqual(reset.body.pending_roles, ["compute"]);

    const removed = await api("PUT", `/nodes/${member.body.id}/`, { cluster_id: null });
    assert.equal(removed.body.cluster_id, null);
    assert.equal(removed.body.group_id, null);
    assert.deepEqual(removed.body.roles, []);
    assert.equal(removed.body.pending_addition, false);

    assert.equal((await api("DELETE", `/nodes/${member.body.id}/`)).status, 204);
    assert.equal((await api("GET", `/nodes/${member.body.id}/`)).status, 404);
    assert.equal((await api("DELETE", `/nodes/${member.body.id}/`)).status, 404);
    assert.equal((await api("POST", `/nodes/${member.body.id}/reset/`)).status, 404);
  });
});

Deno.test("nodes: bad bodies and queries answer 400 naming the field, a taken MAC 409", async () => {
  await withNailgun({}, async ({ api }) => {
    const { body: one } = await api("POST", "/clusters/", { name: "one" });
    const { body: two } = await api("POST", "/clusters/", { name: "two" });
    const { body: group } = await api("POST", "/nodegroups/", { name: "g", cluster_id: two.id });
    const cases: [unknown, string, RegExp][] = [
      [{}, "mac", /^Cannot create node: "mac" is required$/],
      [{ mac: "zz" }, "mac", /"mac" must be a MAC address .*: current value is "zz"/],
      [{ mac: mac(1), cluster_id: "1" }, "cluster_id", /must be a positive whole number/],
      [{ mac: mac(1), cluster_id: 999 }, "cluster_id", /must be the id of an existing cluster/],
      [{ mac: mac(1), group_id: 999 }, "group_id", /must be the id of an existing node group/],
      [
        { mac: mac(1), cluster_id: one.id, group_id: group.id },
        "group_id",
        /must be a node group of the node's cluster/,
      ],
      [{ mac: mac(1), roles: "controller" }, "roles", /must be a list of role names/],
      [{ mac: mac(1), roles: [""] }, "roles[0]", /must not be empty/],
      [{ mac: mac(1), meta: null }, "meta", /must be a JSON object: current value is null/],
      [{ mac: mac(1), hostname: "bad host" }, "hostname", /must be a host name/],
    ];
    for (const [body, field, message] of cases) {
      const answer = await api("POST", "/nodes/", body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.field, field, JSON.stringify(body));
      assert.match(answer.body.message, message);
    }
    const { body: node } = await api("POST", "/nodes/", { mac: mac(1), cluster_id: one.id });
    const taken = await api("POST", "/nodes/", { mac: mac(1).toUpperCase() });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.field, "mac");
    const updates: [unknown, string, RegExp][] = [
      [{ mac: mac(5) }, "mac", /is not a field that can be set here/],
      [{ status: "flying" }, "status", /must be one of discover, /],
      [
        { cluster_id: two.id },
        "cluster_id",
        /cannot move the node from cluster \d+ to another: set it to null first/,
      ],
      [{ group_id: group.id }, "group_id", /must be a node group of the node's cluster/],
      [{ online: "yes" }, "online", /must be true or false/],
      [{ id: node.id + 1 }, "id", /must be the id in the path/],
    ];
    for (const [body, field, message] of updates) {
      const answer = await api("PUT", `/nodes/${node.id}/`, body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.field, field, JSON.stringify(body));
      assert.match(answer.body.message, message);
    }
    assert.equal((await api("PUT", "/nodes/999/", { name: "x" })).status, 404);
    const badFilter = await api("GET", "/nodes/?cluster_id=abc");
    assert.equal(badFilter.status, 400);
    assert.equal(badFilter.body.field, "cluster_id");
    assert.equal(
      badFilter.body.message,
      'Cannot list nodes: "cluster_id" must be a positive whole number: current value is "abc"',
    );
    assert.equal((await api("GET", `/nodes/${node.id}/`)).body.cluster_id, one.id);
  });
});

Deno.test("DELETE /nodes/?ids= deletes all the nodes or none", async () => {
  await withNailgun({}, async ({ api }) => {
    const ids: number[] = [];
    for (let n = 1; n <= 3; n++) ids.push((await api("POST", "/nodes/", { mac: mac(n) })).body.id);
    const unknown = await api("DELETE", `/nodes/?ids=${ids[0]},999`);
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body.missing, [999]);
    assert.equal((await api("GET", "/nodes/")).body.length, 3);
    for (const query of ["", "?ids=", "?ids=1,x", "?ids=-1"]) {
      const answer = await api("DELETE", `/nodes/${query}`);
      assert.equal(answer.status, 400, query);
      assert.equal(answer.body.field, "ids", query);
    }
    assert.equal((await api("DELETE", `/nodes?ids=${ids[0]},${ids[2]}`)).status, 204);
    assert.deepEqual((await api("GET", "/nodes/")).body.map((node: { id: number }) => node.id), [
      ids[1],
    ]);
  });
});

Deno.test("node groups: create, list, filter, read and delete", async () => {
  await withNailgun({}, async ({ api }) => {
    const { body: cluster } = await api("POST", "/clusters/", { name: "env" });
    const created = await api("POST", "/nodegroups/", { name: "rack-1", cluster_id: cluster.id });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body, { id: created.body.id, name: "rack-1", cluster_id: cluster.id });
    const { body: node } = await api("POST", "/nodes/", {
      mac: mac(1),
      cluster_id: cluster.id,
      group_id: created.body.id,
    });
    assert.deepEqual((await api("GET", "/nodegroups")).body, [created.body]);
    assert.deepEqual((await api("GET", `/nodegroups/?cluster_id=${cluster.id}`)).body, [
      created.body,
    ]);
    assert.deepEqual((await api("GET", "/nodegroups/?cluster_id=99")).body, []);
    assert.deepEqual((await api("GET", `/nodegroups/${created.body.id}`)).body, created.body);
    const taken = await api("POST", "/nodegroups/", { name: "rack-1", cluster_id: cluster.id });
    assert.equal(taken.status, 409);
    const noCluster = await api("POST", "/nodegroups/", { name: "x", cluster_id: 99 });
    assert.equal(noCluster.status, 400);
    assert.equal(noCluster.body.field, "cluster_id");
    const missing = await api("POST", "/nodegroups/", { cluster_id: cluster.id });
    assert.equal(missing.body.field, "name");
    assert.equal((await api("DELETE", `/nodegroups/${created.body.id}/`)).status, 204);
    assert.equal((await api("GET", `/nodes/${node.id}/`)).body.group_id, null);
    assert.equal((await api("DELETE", `/nodegroups/${created.body.id}/`)).status, 404);
    assert.equal((await api("GET", "/nodegroups/abc/")).status, 404);
  });
});

Deno.test("the API answers 400 for invalid JSON, 413 for large bodies, 404 and 405 for wrong routes", async () => {
  await withNailgun({ bodyLimit: 1024 }, async ({ api }) => {
    const invalid = await api("POST", "/nodes/", undefined, { body: "{not json" });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.field, "body");
    assert.match(invalid.body.message, /^Cannot read the request body: it is not valid JSON/);
    const empty = await api("POST", "/clusters/", undefined, { body: "" });
    assert.equal(empty.status, 400);
    assert.equal(empty.body.message, "Cannot create cluster: the request has no JSON body");
    const large = await api("POST", "/nodes/", { mac: mac(1), meta: { pad: "x".repeat(2048) } });
    assert.equal(large.status, 413);
    assert.match(large.body.message, /larger than the limit of 1024 bytes/);
    const streamed = await api("POST", "/nodes/", undefined, {
      body: ReadableStream.from([new TextEncoder().encode("[" + "1,".repeat(1000) + "1]")]),
    });
    assert.equal(streamed.status, 413);
    assert.equal((await api("GET", "/nodes/")).body.length, 0);

    const unknown = await api("GET", "/nowhere/");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.message, 'Cannot find "/api/v1/nowhere/": no such route');
    const wrong = await api("PATCH", "/clusters/");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET, POST");
  });
});

Deno.test("every core route answers with and without its trailing slash", async () => {
  await withNailgun({}, async ({ api, service }) => {
    const { body: cluster } = await api("POST", "/clusters/", { name: "env" });
    const root = await fetch(`${service.url}/`);
    assert.equal(root.status, 404);
    assert.match((await root.json()).message, /the API is under \/api\/v1\//);
    for (const route of CORE_ROUTES) {
      const path = route.path.replace(/:[a-z_]+/g, String(cluster.id));
      for (const variant of [path, path.replace(/\/$/, "")]) {
        const body = route.method === "GET" ? undefined : "{}";
        const answer = await api(route.method, variant, undefined, { body });
        const unrouted = answer.status === 404 && /no such route/.test(answer.body.message);
        assert.ok(!unrouted, `${route.method} ${variant}`);
        assert.notEqual(answer.status, 405, `${route.method} ${variant}`);
        assert.ok(answer.status < 500, `${route.method} ${variant}: ${answer.status}`);
      }
    }
  });
});
