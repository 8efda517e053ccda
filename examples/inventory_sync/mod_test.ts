import assert from "node:assert/strict";
import {
  type Cluster,
  type DispatchResult,
  instantiateExtension,
  loadExtensions,
  type LoadResult,
  type Node,
} from "@nailgun/extensions";
import * as inventorySyncModule from "./mod.ts";
import { type SyncStatus, URL_VARIABLE } from "./mod.ts";
import { closedPort, recordingLogger, startReceiver } from "./_test_receiver.ts";

function node(id: number, changes: Partial<Node> = {}): Node {
  return {
    id,
    uuid: `uuid-${id}`,
    mac: `52:54:00:00:00:0${id}`,
    name: `node-${id}`,
    hostname: `node-${id}`,
    status: "discover",
    cluster_id: null,
    group_id: null,
    roles: [],
    pending_roles: [],
    pending_addition: false,
    pending_deletion: false,
    online: true,
    meta: {},
    ...changes,
  };
}

function cluster(changes: Partial<Cluster> = {}): Cluster {
  return {
    id: 5,
    name: "prod",
    mode: "ha_compact",
    status: "new",
    release: "liberty-8.0",
    extensions: [],
    attributes: {},
    ...changes,
  };
}

/** Loads the extension as Nailgun does: from a config entry, with its settings. */
function load(
  settings: Record<string, unknown> | undefined,
  lines: string[] = [],
): Promise<LoadResult> {
  return loadExtensions({
    config: {
      "nailgun.extensions": {
        load: ["./mod.ts"],
        discover: false,
        settings: settings ? { inventory_sync: settings } : {},
      },
    },
    configFile: new URL("./extensions.json", import.meta.url).pathname,
    importMap: { file: "deno.json", imports: {} },
    services: { logger: recordingLogger(lines) },
  });
}

async function withoutUrlVariable(fn: () => Promise<void>): Promise<void> {
  const saved = Deno.env.get(URL_VARIABLE);
  Deno.env.delete(URL_VARIABLE);
  try {
    await fn();
  } finally {
    if (saved !== undefined) Deno.env.set(URL_VARIABLE, saved);
  }
}

Deno.test("InventorySync sends every node and cluster change in order", async () => {
  const receiver = startReceiver(() => Response.json({ ok: true }));
  const lines: string[] = [];
  const { manager, report } = await load({ url: receiver.url }, lines);
  try {
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.loaded[0]!.provides, ["syncStatus"]);
    assert.ok(
      lines.includes(`info: [inventory_sync] sending node and cluster changes to ${receiver.url}`),
    );
    await manager.notify("onNodeCreate", node(3));
    await manager.notify("onNodeUpdate", node(3, { cluster_id: 5, roles: ["controller"] }));
    await manager.notify("onRemoveNodeFromCluster", node(3, { cluster_id: 5 }));
    await manager.notify("onNodeReset", node(3));
    await manager.notify("onNodeDelete", node(3));
    await manager.notify("onNodeCollectionDelete", [1, 2]);
    await manager.notify("onClusterCreate", cluster(), { name: "prod" });
    await manager.notify("onClusterPatchAttributes", cluster({ attributes: { debug: true } }), {
      debug: true,
    });
    await manager.notify("onClusterDelete", cluster());
    const ignored = await manager.notify("onNodegroupCreate", { id: 1, name: "g", cluster_id: 5 });
    assert.equal(ignored.handled, 0, "node groups are not sent");
    await receiver.waitFor(9);
  } finally {
    assert.deepEqual(await manager.teardown(), []);
    await receiver.close();
  }
  const status = await manager.call("syncStatus") as SyncStatus;
  assert.deepEqual([status.sent, status.queued, status.failed, status.closed], [9, 0, 0, true]);
  assert.deepEqual(
    receiver.received.map((r) => [r.method, r.path, r.event]),
    [
      ["POST", "/api/nodes/", "onNodeCreate"],
      ["PUT", "/api/nodes/3/", "onNodeUpdate"],
      ["PUT", "/api/nodes/3/", "onRemoveNodeFromCluster"],
      ["PUT", "/api/nodes/3/", "onNodeReset"],
      ["DELETE", "/api/nodes/3/", "onNodeDelete"],
      ["DELETE", "/api/nodes/?ids=1,2", "onNodeCollectionDelete"],
      ["POST", "/api/clusters/", "onClusterCreate"],
      ["PUT", "/api/clusters/5/", "onClusterPatchAttributes"],
      ["DELETE", "/api/clusters/5/", "onClusterDelete"],
    ],
  );
  assert.deepEqual(receiver.received[0]!.body, node(3));
  assert.deepEqual(receiver.received[1]!.body, node(3, { cluster_id: 5, roles: ["controller"] }));
  assert.deepEqual(receiver.received[7]!.body, cluster({ attributes: { debug: true } }));
  assert.equal(receiver.received[4]!.body, null);
  assert.equal(
    lines.at(-1),
    "info: [inventory_sync] stopped: 9 request(s) sent, 0 failed, 0 dropped",
  );
});

Deno.test("InventorySync retries until the other service recovers", async () => {
  const receiver = startReceiver((_request, index) =>
    index < 2 ? new Response("busy", { status: 503 }) : new Response(null, { status: 201 })
  );
  const lines: string[] = [];
  const { manager } = await load({ url: receiver.url, retryBaseMs: 20 }, lines);
  try {
    await manager.notify("onNodeCreate", node(1));
    await manager.notify("onNodeDelete", node(1));
    await receiver.waitFor(4);
    assert.deepEqual(
      receiver.received.map((r) => `${r.method} ${r.path}`),
      ["POST /api/nodes/", "POST /api/nodes/", "POST /api/nodes/", "DELETE /api/nodes/1/"],
    );
  } finally {
    await manager.teardown();
    await receiver.close();
  }
  const status = await manager.call("syncStatus") as SyncStatus;
  assert.deepEqual([status.sent, status.failed, status.retries], [2, 0, 2]);
  assert.equal(
    lines.filter((line) => line.startsWith("warn: [inventory_sync] POST nodes/")).length,
    2,
  );
});

Deno.test("InventorySync handlers return at once while the other service is down", async () => {
  const lines: string[] = [];
  const { manager } = await load({
    url: `http://127.0.0.1:${closedPort()}/inventory`,
    retryBaseMs: 5000,
    flushDeadlineMs: 300,
  }, lines);
  const results: DispatchResult[] = [];
  const started = performance.now();
  for (let id = 1; id <= 50; id++) {
    const result = manager.dispatch("onNodeUpdate", node(id, { status: "ready" }));
    assert.ok(!(result instanceof Promise), "the handler completes synchronously");
    results.push(result);
  }
  const dispatched = performance.now() - started;
  assert.ok(results.every((result) => result.handled === 1 && result.failures.length === 0));
  assert.ok(dispatched < 250, `50 dispatches took ${dispatched} ms`);

  const tearing = performance.now();
  const failures = await manager.teardown();
  const tornDown = performance.now() - tearing;
  assert.deepEqual(failures, []);
  assert.ok(tornDown >= 290 && tornDown < 2000, `teardown took ${tornDown} ms`);
  const status = await manager.call("syncStatus") as SyncStatus;
  assert.deepEqual([status.sent, status.dropped, status.closed], [0, 50, true]);
  assert.match(status.lastError ?? "", /Connection refused/);
  assert.ok(lines.includes(
    `warn: [inventory_sync] 50 request(s) not delivered to ${status.url} within 300 ms: dropped`,
  ));
});

Deno.test("InventorySync reads the URL from NAILGUN_INVENTORY_SYNC_URL when settings have none", async () => {
  const receiver = startReceiver();
  await withoutUrlVariable(async () => {
    Deno.env.set(URL_VARIABLE, receiver.url);
    const { manager, report } = await load(undefined);
    try {
      assert.deepEqual(report.failed, []);
      await manager.notify("onClusterDelete", cluster());
      await receiver.waitFor(1);
      assert.equal(receiver.received[0]!.path, "/api/clusters/5/");
    } finally {
      await manager.teardown();
      await receiver.close();
    }
  });
});

Deno.test("loadExtensions() reports wrong InventorySync settings in phase setup", async (t) => {
  const cases: [string, Record<string, unknown> | undefined, string][] = [
    [
      "no URL",
      undefined,
      `"settings.url" is missing and ${URL_VARIABLE} is not set: give the base URL of the other service in extensions.json (settings.inventory_sync.url) or in ${URL_VARIABLE}: current value is undefined`,
    ],
    [
      "not an http URL",
      { url: "inventory.local" },
      '"settings.url" must be an http or https URL: current value is "inventory.local"',
    ],
    [
      "a misspelt setting",
      { url: "http://inventory.local/", retryBaseMS: 10 },
      '"settings.retryBaseMS" is not a setting: settings are url, maxQueue, maxAttempts, retryBaseMs, retryMaxMs, requestTimeoutMs, flushDeadlineMs, headers: current value is 10',
    ],
    [
      "a negative time",
      { url: "http://inventory.local/", flushDeadlineMs: -1 },
      '"settings.flushDeadlineMs" must not be negative: current value is -1',
    ],
  ];
  for (const [name, settings, reason] of cases) {
    await t.step(name, () =>
      withoutUrlVariable(async () => {
        const { manager, report } = await load(settings);
        assert.deepEqual(manager.names, []);
        assert.deepEqual(report.failed, [{
          source: "./mod.ts",
          name: "inventory_sync",
          phase: "setup",
          message:
            `Cannot load extension "./mod.ts": setup() of "inventory_sync" failed: TypeError: Cannot configure "inventory_sync": ${reason}`,
        }]);
      }));
  }
});

Deno.test("the package exports its extension under ./nailgun.extensions", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("./deno.json", import.meta.url)));
  assert.equal(config.name, "@nailgun/inventory-sync");
  assert.equal(config.version, "1.0.0");
  assert.equal(config.license, "Apache-2.0");
  assert.equal(config.exports["./nailgun.extensions"], "./mod.ts");
  assert.equal(config.exports["."], "./mod.ts");
  assert.match(config.imports["@nailgun/extensions"], /^jsr:@nailgun\/extensions@\^0\.1/);
  const extension = instantiateExtension(inventorySyncModule, "jsr:@nailgun/inventory-sync");
  assert.deepEqual([extension.name, extension.version], ["inventory_sync", config.version]);
  assert.deepEqual(extension.provides, ["syncStatus"]);
});
