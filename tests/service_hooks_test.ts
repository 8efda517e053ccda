// Each of the 14 hooks of SPEC §2.1, fired by a real REST operation: which
// extensions received it, in which order, with which payload. The recorders
// (tests/_service/fixtures/rec_*.ts) keep what they receive and rec_a serves
// it at GET /api/v1/recorder/events/.
import assert from "node:assert/strict";
import type { RecordedEvent } from "./_service/fixtures/_recorder.ts";
import { mac, type TestNailgun, withNailgun } from "./_service/harness.ts";

const ALL = ["rec_a", "rec_b", "rec_c"];
const LOAD = { load: ALL, section: { clusterDefaults: ["rec_c", "rec_a"] } };

type Api = TestNailgun["api"];

/** The events the recorders received during `operation`. */
async function during(api: Api, operation: () => Promise<unknown>): Promise<RecordedEvent[]> {
  assert.equal((await api("DELETE", "/recorder/events/")).status, 204);
  await operation();
  const { status, body } = await api("GET", "/recorder/events/");
  assert.equal(status, 200);
  return body;
}

function sequence(events: readonly RecordedEvent[]): string[] {
  return events.map((event) => `${event.extension}:${event.hook}`);
}

/** Asserts that every loaded recorder, in load order, got `hook` with `args`. */
function assertEveryone(events: readonly RecordedEvent[], hook: string, args: unknown[]): void {
  const received = events.filter((event) => event.hook === hook);
  assert.deepEqual(received.map((event) => event.extension), ALL);
  for (const event of received) assert.deepEqual(event.args, args);
}

async function clusterWithNode(api: Api, body: Record<string, unknown> = {}) {
  const cluster = (await api("POST", "/clusters/", { name: "env", ...body })).body;
  const node = (await api("POST", "/nodes/", { mac: mac(1), cluster_id: cluster.id })).body;
  return { cluster, node };
}

Deno.test("onNodeCreate: POST /nodes/ notifies every loaded extension with the stored node", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    let created: unknown;
    const events = await during(api, async () => {
      const answer = await api("POST", "/nodes/", { mac: mac(1), name: "n1" });
      assert.equal(answer.status, 201);
      created = answer.body;
    });
    assert.deepEqual(sequence(events), ALL.map((name) => `${name}:onNodeCreate`));
    assertEveryone(events, "onNodeCreate", [created]);
  });
});

Deno.test("onNodeUpdate: PUT /nodes/{id}/ notifies every loaded extension with the updated node", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const node = (await api("POST", "/nodes/", { mac: mac(1) })).body;
    let updated: unknown;
    const events = await during(api, async () => {
      updated = (await api("PUT", `/nodes/${node.id}/`, { name: "renamed" })).body;
    });
    assert.deepEqual(sequence(events), ALL.map((name) => `${name}:onNodeUpdate`));
    assertEveryone(events, "onNodeUpdate", [updated]);
    assert.equal((updated as { name: string }).name, "renamed");
  });
});

Deno.test("onNodeReset: POST /nodes/{id}/reset/ notifies every loaded extension with the node in discover", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const { node } = await clusterWithNode(api);
    await api("PUT", `/nodes/${node.id}/`, { status: "error", roles: ["compute"] });
    let reset: { status: string } | undefined;
    const events = await during(api, async () => {
      reset = (await api("POST", `/nodes/${node.id}/reset/`)).body;
    });
    assert.deepEqual(sequence(events), ALL.map((name) => `${name}:onNodeReset`));
    assertEveryone(events, "onNodeReset", [reset]);
    assert.equal(reset?.status, "discover");
  });
});

Deno.test("onNodeDelete: DELETE /nodes/{id}/ notifies every loaded extension with the deleted node", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const node = (await api("POST", "/nodes/", { mac: mac(1) })).body;
    const events = await during(api, async () => {
      assert.equal((await api("DELETE", `/nodes/${node.id}/`)).status, 204);
    });
    assert.deepEqual(sequence(events), ALL.map((name) => `${name}:onNodeDelete`));
    assertEveryone(events, "onNodeDelete", [node]);
  });
});

Deno.test("onRemoveNodeFromCluster: PUT cluster_id null notifies every loaded extension, then onNodeUpdate", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const { node } = await clusterWithNode(api);
    let updated: { cluster_id: number | null } | undefined;
    const events = await during(api, async () => {
      updated = (await api("PUT", `/nodes/${node.id}/`, { cluster_id: null })).body;
    });
    assert.equal(updated?.cluster_id, null);
    assert.deepEqual(sequence(events), [
      ...ALL.map((name) => `${name}:onRemoveNodeFromCluster`),
      ...ALL.map((name) => `${name}:onNodeUpdate`),
    ]);
    assertEveryone(events, "onRemoveNodeFromCluster", [updated]);
    // A node that stays in its cluster is not removed from it.
    const again = await during(api, () => api("PUT", `/nodes/${node.id}/`, { name: "x" }));
    assert.deepEqual(sequence(again), ALL.map((name) => `${name}:onNodeUpdate`));
  });
});

Deno.test("onNodeCollectionDelete: DELETE /nodes/?ids= notifies every loaded extension with the ids", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const one = (await api("POST", "/nodes/", { mac: mac(1) })).body;
    const two = (await api("POST", "/nodes/", { mac: mac(2) })).body;
    const events = await during(api, async () => {
      assert.equal((await api("DELETE", `/nodes/?ids=${two.id},${one.id}`)).status, 204);
    });
    assert.deepEqual(sequence(events), ALL.map((name) => `${name}:onNodeCollectionDelete`));
    assertEveryone(events, "onNodeCollectionDelete", [[two.id, one.id]]);
  });
});

Deno.test("onNodegroupCreate and onNodegroupDelete: POST and DELETE /nodegroups/ notify every loaded extension", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const cluster = (await api("POST", "/clusters/", { name: "env" })).body;
    let group: { id: number } | undefined;
    const created = await during(api, async () => {
      group = (await api("POST", "/nodegroups/", { name: "rack", cluster_id: cluster.id })).body;
    });
    assert.deepEqual(sequence(created), ALL.map((name) => `${name}:onNodegroupCreate`));
    assertEveryone(created, "onNodegroupCreate", [{
      id: group!.id,
      name: "rack",
      cluster_id: cluster.id,
    }]);
    const deleted = await during(api, () => api("DELETE", `/nodegroups/${group!.id}/`));
    assert.deepEqual(sequence(deleted), ALL.map((name) => `${name}:onNodegroupDelete`));
    assertEveryone(deleted, "onNodegroupDelete", [group]);
  });
});

Deno.test("onClusterCreate: POST /clusters/ notifies every loaded extension with the cluster and the creation data", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    let cluster: { extensions: string[] } | undefined;
    const events = await during(api, async () => {
      cluster = (await api("POST", "/clusters/", {
        name: "env",
        attributes: { a: 1 },
        net_provider: "neutron",
      })).body;
    });
    assert.deepEqual(cluster?.extensions, ["rec_c", "rec_a"]);
    assert.deepEqual(sequence(events), ALL.map((name) => `${name}:onClusterCreate`));
    assertEveryone(events, "onClusterCreate", [cluster, { name: "env", attributes: { a: 1 } }]);
  });
});

Deno.test("onClusterPatchAttributes: PUT /clusters/{id}/attributes/ notifies every loaded extension", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const cluster = (await api("POST", "/clusters/", { name: "env", attributes: { a: 1 } })).body;
    const events = await during(api, async () => {
      const answer = await api("PUT", `/clusters/${cluster.id}/attributes/`, {
        editable: { b: { c: true } },
      });
      assert.equal(answer.status, 200);
    });
    const attributes = { a: 1, b: { c: true } };
    assert.deepEqual(sequence(events), ALL.map((name) => `${name}:onClusterPatchAttributes`));
    assertEveryone(events, "onClusterPatchAttributes", [{ ...cluster, attributes }, attributes]);
  });
});

Deno.test("onClusterDelete: DELETE /clusters/{id}/ removes its nodes from it, then notifies every loaded extension", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const { cluster, node } = await clusterWithNode(api);
    const events = await during(api, async () => {
      assert.equal((await api("DELETE", `/clusters/${cluster.id}/`)).status, 204);
    });
    assert.deepEqual(sequence(events), [
      ...ALL.map((name) => `${name}:onRemoveNodeFromCluster`),
      ...ALL.map((name) => `${name}:onClusterDelete`),
    ]);
    const pooled = (await api("GET", `/nodes/${node.id}/`)).body;
    assert.equal(pooled.cluster_id, null);
    assertEveryone(events, "onRemoveNodeFromCluster", [pooled]);
    assertEveryone(events, "onClusterDelete", [cluster]);
  });
});

Deno.test("onBeforeDeploymentCheck: PUT /clusters/{id}/changes/ asks only the extensions enabled on the cluster, in its order", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const { cluster, node } = await clusterWithNode(api);
    const events = await during(api, async () => {
      assert.equal((await api("PUT", `/clusters/${cluster.id}/changes/`)).status, 200);
    });
    assert.deepEqual(sequence(events), [
      "rec_c:onBeforeDeploymentCheck",
      "rec_a:onBeforeDeploymentCheck",
      "rec_c:onBeforeProvisioningSerialization",
      "rec_a:onBeforeProvisioningSerialization",
      "rec_c:onBeforeDeploymentSerialization",
      "rec_a:onBeforeDeploymentSerialization",
    ]);
    for (const event of events) {
      assert.deepEqual(event.args.slice(0, 2), [cluster, [node]]);
    }
    assert.equal(events[0]!.args.length, 2);
    assert.deepEqual(events[2]!.args[2], false);
    assert.deepEqual(events[4]!.args[2], false);
  });
});

Deno.test("onBeforeDeploymentSerialization: GET deployment defaults asks the enabled extensions with ignoreCustomized", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const { cluster, node } = await clusterWithNode(api, { extensions: ["rec_b", "rec_c"] });
    const events = await during(api, async () => {
      const answer = await api("GET", `/clusters/${cluster.id}/orchestrator/deployment/defaults/`);
      assert.equal(answer.status, 200);
    });
    assert.deepEqual(sequence(events), [
      "rec_b:onBeforeDeploymentSerialization",
      "rec_c:onBeforeDeploymentSerialization",
    ]);
    for (const event of events) assert.deepEqual(event.args, [cluster, [node], true]);
  });
});

Deno.test("onBeforeProvisioningSerialization: GET provisioning defaults asks the enabled extensions with ignoreCustomized", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const { cluster, node } = await clusterWithNode(api, { extensions: ["rec_a"] });
    const events = await during(api, async () => {
      const answer = await api(
        "GET",
        `/clusters/${cluster.id}/orchestrator/provisioning/defaults/`,
      );
      assert.equal(answer.status, 200);
    });
    assert.deepEqual(sequence(events), ["rec_a:onBeforeProvisioningSerialization"]);
    assert.deepEqual(events[0]!.args, [cluster, [node], true]);
    // With no extension enabled on the cluster, nobody is asked.
    await api("DELETE", `/clusters/${cluster.id}/extensions/?extension_names=rec_a`);
    const none = await during(
      api,
      () => api("GET", `/clusters/${cluster.id}/orchestrator/provisioning/defaults/`),
    );
    assert.deepEqual(none, []);
  });
});

Deno.test("a veto answers 409 naming the extension and changes nothing", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const { cluster } = await clusterWithNode(api, { attributes: { veto: "rec_a" } });
    const before = (await api("GET", `/clusters/${cluster.id}/`)).body;
    let answer: { status: number; body: Record<string, string> } | undefined;
    const events = await during(api, async () => {
      answer = await api("PUT", `/clusters/${cluster.id}/changes/`);
    });
    assert.equal(answer?.status, 409);
    assert.deepEqual(answer?.body, {
      message:
        `Extension "rec_a" vetoed onBeforeDeploymentCheck: rec_a refuses onBeforeDeploymentCheck of cluster ${cluster.id}`,
      extension: "rec_a",
      hook: "onBeforeDeploymentCheck",
    });
    // rec_c (first in the cluster's order) was asked, rec_a refused, nothing else ran.
    assert.deepEqual(sequence(events), [
      "rec_c:onBeforeDeploymentCheck",
      "rec_a:onBeforeDeploymentCheck",
    ]);
    assert.deepEqual((await api("GET", `/clusters/${cluster.id}/`)).body, before);
    assert.equal(before.status, "new");

    // A veto at serialization: the same, after the check passed.
    await api("PUT", `/clusters/${cluster.id}/attributes/`, {
      editable: { veto: "rec_c:onBeforeDeploymentSerialization" },
    });
    const late = await api("PUT", `/clusters/${cluster.id}/changes/`);
    assert.equal(late.status, 409);
    assert.equal(late.body.extension, "rec_c");
    assert.equal(late.body.hook, "onBeforeDeploymentSerialization");
    assert.equal((await api("GET", `/clusters/${cluster.id}/`)).body.status, "new");
    const defaults = await api("GET", `/clusters/${cluster.id}/orchestrator/deployment/defaults/`);
    assert.equal(defaults.status, 409);
    assert.equal(defaults.body.extension, "rec_c");
  });
});

Deno.test("pipelines run for the extensions enabled on the cluster, in its order", async () => {
  await withNailgun(LOAD, async ({ api }) => {
    const { cluster } = await clusterWithNode(api, { extensions: ["rec_c", "rec_a", "rec_b"] });
    await api("POST", "/nodes/", { mac: mac(2), cluster_id: cluster.id });
    for (const kind of ["deployment", "provisioning"]) {
      const path = `/clusters/${cluster.id}/orchestrator/${kind}/defaults/`;
      const { body } = await api("GET", path);
      assert.deepEqual(body.cluster.pipeline, ["rec_c", "rec_a", "rec_b"], kind);
      assert.equal(body.nodes.length, 2);
      for (const node of body.nodes) assert.deepEqual(node.pipeline, ["rec_c", "rec_a", "rec_b"]);
    }
    await api("DELETE", `/clusters/${cluster.id}/extensions/?extension_names=rec_c`);
    await api("PUT", `/clusters/${cluster.id}/extensions/`, ["rec_c"]);
    const { body } = await api("PUT", `/clusters/${cluster.id}/changes/`);
    assert.deepEqual(body.deployment.cluster.pipeline, ["rec_a", "rec_b", "rec_c"]);
    assert.deepEqual(body.provisioning.nodes[1].pipeline, ["rec_a", "rec_b", "rec_c"]);
  });
});
