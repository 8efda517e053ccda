import assert from "node:assert/strict";
import {
  BoundContext,
  type Cluster,
  ExtensionManager,
  HOOK_NAMES,
  instantiateExtension,
  loadExtensions,
  type Logger,
  type Node,
  type NodeGroup,
} from "@nailgun/extensions";
import * as loggingModule from "./mod.ts";
import { Logging } from "./mod.ts";

const SOURCE = "jsr:@nailgun/logging";

interface Captured {
  level: string;
  line: string;
}

function capturingLogger(captured: Captured[]): Logger {
  return {
    debug: (line) => captured.push({ level: "debug", line }),
    info: (line) => captured.push({ level: "info", line }),
    warn: (line) => captured.push({ level: "warn", line }),
    error: (line) => captured.push({ level: "error", line }),
  };
}

function node(id: number, changes: Partial<Node> = {}): Node {
  return {
    id,
    uuid: `uuid-${id}`,
    mac: `52:54:00:00:00:0${id}`,
    name: `node-${id}`,
    hostname: `node-${id}.domain.tld`,
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

function cluster(): Cluster {
  return {
    id: 5,
    name: "prod",
    mode: "ha_compact",
    status: "new",
    release: "liberty-8.0",
    extensions: ["logging"],
    attributes: { debug: false },
  };
}

function group(): NodeGroup {
  return { id: 2, name: "rack-2", cluster_id: 5 };
}

/** A manager holding the extension, instantiated as the loader does it. */
function loadedLogging(captured: Captured[]): ExtensionManager {
  const context = new BoundContext(SOURCE, { logger: capturingLogger(captured) });
  const extension = instantiateExtension(loggingModule, SOURCE, context);
  context.bind(extension.name);
  return new ExtensionManager([{ extension, source: SOURCE }], {
    logger: capturingLogger(captured),
  });
}

Deno.test("Logging implements every hook of the contract", () => {
  const logging = new Logging() as unknown as Record<string, unknown>;
  for (const hook of HOOK_NAMES) {
    assert.equal(typeof logging[hook], "function", `Logging lacks ${hook}`);
  }
  assert.equal(HOOK_NAMES.length, 14);
});

Deno.test("Logging logs one line for each of the 14 events", async () => {
  const captured: Captured[] = [];
  const manager = loadedLogging(captured);
  const deployed = [node(3, { cluster_id: 5, roles: ["controller"] }), node(4, { cluster_id: 5 })];
  const results = [
    await manager.notify("onNodeCreate", node(3)),
    await manager.notify(
      "onNodeUpdate",
      node(3, { status: "ready", cluster_id: 5, roles: ["controller", "mongo"] }),
    ),
    await manager.notify("onNodeReset", node(3)),
    await manager.notify("onNodeDelete", node(3, { cluster_id: 5 })),
    await manager.notify("onRemoveNodeFromCluster", node(4, { cluster_id: 5 })),
    await manager.notify("onNodeCollectionDelete", [7, 8, 9]),
    await manager.notify("onNodegroupCreate", group()),
    await manager.notify("onNodegroupDelete", group()),
    await manager.notify("onClusterCreate", cluster(), { name: "prod", release: "liberty-8.0" }),
    await manager.notify("onClusterPatchAttributes", cluster(), { debug: true, syslog: "x" }),
    await manager.notify("onClusterDelete", cluster()),
  ];
  for (const result of results) {
    assert.deepEqual([result.handled, result.failures.length], [1, 0], result.hook);
  }
  await manager.check("onBeforeDeploymentCheck", cluster(), deployed);
  await manager.check("onBeforeDeploymentSerialization", cluster(), deployed, false);
  await manager.check("onBeforeProvisioningSerialization", cluster(), deployed, true);

  assert.deepEqual(
    captured,
    [
      "[logging] node 3 created (mac 52:54:00:00:00:03, cluster none)",
      "[logging] node 3 updated (status ready, cluster 5, roles controller,mongo)",
      "[logging] node 3 reset (mac 52:54:00:00:00:03, status discover)",
      "[logging] node 3 deleted (mac 52:54:00:00:00:03, cluster 5)",
      "[logging] node 4 removed from its cluster (cluster 5)",
      "[logging] 3 node(s) deleted (ids 7,8,9)",
      '[logging] node group 2 "rack-2" created (cluster 5)',
      '[logging] node group 2 "rack-2" deleted (cluster 5)',
      '[logging] cluster 5 "prod" created (release liberty-8.0, mode ha_compact, extensions logging, from fields name,release)',
      '[logging] cluster 5 "prod" attributes patched (keys debug,syslog)',
      '[logging] cluster 5 "prod" deleted',
      '[logging] cluster 5 "prod" deployment check (nodes 3,4)',
      '[logging] cluster 5 "prod" deployment serialization (nodes 3,4, ignore customized false)',
      '[logging] cluster 5 "prod" provisioning serialization (nodes 3,4, ignore customized true)',
    ].map((line) => ({ level: "info", line })),
  );
});

Deno.test("Logging never vetoes and says none for empty lists", async () => {
  const captured: Captured[] = [];
  const manager = loadedLogging(captured);
  await manager.check("onBeforeDeploymentCheck", cluster(), []);
  await manager.notify("onNodeUpdate", node(6));
  assert.deepEqual(captured.map((entry) => entry.line), [
    '[logging] cluster 5 "prod" deployment check (nodes none)',
    "[logging] node 6 updated (status discover, cluster none, roles none)",
  ]);
});

Deno.test("Logging answers synchronously, so the host takes the fast path", () => {
  const captured: Captured[] = [];
  const manager = loadedLogging(captured);
  const result = manager.dispatch("onNodeCreate", node(1));
  assert.ok(!(result instanceof Promise));
  assert.equal(result.handled, 1);
  assert.equal(captured.length, 1);
});

Deno.test("the package exports its extension under ./nailgun.extensions", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("./deno.json", import.meta.url)));
  assert.match(config.name, /^@nailgun\/[a-z0-9-]+$/);
  assert.equal(config.version, new Logging().version);
  assert.equal(config.license, "Apache-2.0");
  assert.equal(config.exports["./nailgun.extensions"], "./mod.ts");
  assert.equal(config.exports["."], "./mod.ts");
  assert.match(config.imports["@nailgun/extensions"], /^jsr:@nailgun\/extensions@\^0\.1/);

  const extension = instantiateExtension(loggingModule, SOURCE);
  assert.deepEqual(
    [extension.name, extension.version, extension.hostVersion],
    ["logging", "1.0.0", "^0.1.0"],
  );
  assert.ok(extension.description.length > 0);
});

Deno.test("loadExtensions() loads the package from a config entry", async () => {
  const captured: Captured[] = [];
  const { manager, report } = await loadExtensions({
    config: { "nailgun.extensions": { load: ["./mod.ts"], discover: false } },
    configFile: new URL("./extensions.json", import.meta.url).pathname,
    importMap: { file: "deno.json", imports: {} },
    services: { logger: capturingLogger(captured) },
  });
  assert.deepEqual(report.failed, []);
  assert.deepEqual(report.loaded.map((info) => [info.name, info.source]), [
    ["logging", "./mod.ts"],
  ]);
  captured.length = 0;
  await manager.notify("onNodeCreate", node(3, { cluster_id: 5 }));
  assert.deepEqual(captured, [{
    level: "info",
    line: "[logging] node 3 created (mac 52:54:00:00:00:03, cluster 5)",
  }]);
});
