import assert from "node:assert/strict";
import {
  type Cluster,
  type EventMeta,
  type Extension,
  instantiateExtension,
  loadExtensions,
  type LoadResult,
  type Node,
  NOTIFICATION_HOOKS,
  type NotificationHook,
} from "@nailgun/extensions";
import * as inventorySyncModule from "./mod.ts";
import { URL_VARIABLE } from "./mod.ts";
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

let events = 0;
function meta(hook: NotificationHook, attempt = 1): EventMeta {
  return { id: `event-${++events}`, hook, occurredAt: new Date().toISOString(), attempt };
}

/** Calls a handler as the host's delivery loop does: the arguments, then the EventMeta. */
function deliver(extension: Extension, hook: NotificationHook, ...args: unknown[]): Promise<void> {
  const handler =
    (extension as unknown as Record<string, (...a: unknown[]) => Promise<void>>)[hook]!;
  return handler.call(extension, ...args, meta(hook));
}

Deno.test("InventorySync sends every node and cluster change, keyed by the event id", async () => {
  const receiver = startReceiver(() => Response.json({ ok: true }));
  const lines: string[] = [];
  const { manager, report } = await load({ url: receiver.url }, lines);
  try {
    assert.deepEqual(report.failed, []);
    const sync = manager.get("inventory_sync");
    assert.equal(sync.delivery, "durable");
    assert.ok(
      lines.includes(`info: [inventory_sync] sending node and cluster changes to ${receiver.url}`),
    );
    await deliver(sync, "onNodeCreate", node(3));
    await deliver(sync, "onNodeUpdate", node(3, { cluster_id: 5, roles: ["controller"] }));
    await deliver(sync, "onRemoveNodeFromCluster", node(3, { cluster_id: 5 }));
    await deliver(sync, "onNodeReset", node(3));
    await deliver(sync, "onNodeDelete", node(3));
    await deliver(sync, "onNodeCollectionDelete", [1, 2]);
    await deliver(sync, "onClusterCreate", cluster(), { name: "prod" });
    await deliver(sync, "onClusterPatchAttributes", cluster({ attributes: { debug: true } }), {
      debug: true,
    });
    await deliver(sync, "onClusterDelete", cluster());
    assert.equal(sync.onNodegroupCreate, undefined, "node groups are not sent");
  } finally {
    await manager.teardown();
    await receiver.close();
  }
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
  const keys = receiver.received.map((r) => r.key);
  assert.equal(new Set(keys).size, 9);
  assert.ok(keys.every((key) => /^event-\d+$/.test(key ?? "")));
  assert.deepEqual(receiver.received[0]!.body, node(3));
  assert.deepEqual(receiver.received[7]!.body, cluster({ attributes: { debug: true } }));
  assert.equal(receiver.received[4]!.body, null);
  assert.ok(NOTIFICATION_HOOKS.length > 9);
});

Deno.test("InventorySync throws when the other service fails, so that the host retries", async () => {
  const receiver = startReceiver(() => new Response("busy", { status: 503 }));
  const { manager } = await load({ url: receiver.url, requestTimeoutMs: 1000 });
  const closed = await load({ url: `http://127.0.0.1:${closedPort()}/`, requestTimeoutMs: 1000 });
  try {
    await assert.rejects(
      deliver(manager.get("inventory_sync"), "onNodeDelete", node(4)),
      /Cannot send DELETE nodes\/4\/ to .*: it answered 503: busy/,
    );
    await assert.rejects(deliver(closed.manager.get("inventory_sync"), "onNodeDelete", node(4)));
  } finally {
    await manager.teardown();
    await closed.manager.teardown();
    await receiver.close();
  }
});

Deno.test("InventorySync reads the URL from NAILGUN_INVENTORY_SYNC_URL when settings have none", async () => {
  const receiver = startReceiver();
  await withoutUrlVariable(async () => {
    Deno.env.set(URL_VARIABLE, receiver.url);
    const { manager, report } = await load(undefined);
    try {
      assert.deepEqual(report.failed, []);
      await deliver(manager.get("inventory_sync"), "onClusterDelete", cluster());
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
      '"settings.retryBaseMS" is not a setting: settings are url, requestTimeoutMs, headers: current value is 10',
    ],
    [
      "a negative time",
      { url: "http://inventory.local/", requestTimeoutMs: -1 },
      '"settings.requestTimeoutMs" must not be negative: current value is -1',
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
  assert.equal(config.version, "2.0.0");
  assert.equal(config.license, "Apache-2.0");
  assert.equal(config.exports["./nailgun.extensions"], "./mod.ts");
  assert.equal(config.exports["."], "./mod.ts");
  assert.match(config.imports["@nailgun/extensions"], /^jsr:@nailgun\/extensions@\^0\.1/);
  const extension = instantiateExtension(inventorySyncModule, "jsr:@nailgun/inventory-sync");
  assert.deepEqual([extension.name, extension.version], ["inventory_sync", config.version]);
  assert.equal(extension.delivery, "durable");
});
