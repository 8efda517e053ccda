import assert from "node:assert/strict";
import {
  type Cluster,
  type Extension,
  ExtensionManager,
  ExtensionVetoError,
  instantiateExtension,
  loadExtensions,
  type Logger,
  type SerializedData,
} from "@nailgun/extensions";
import * as volumeManagerModule from "./mod.ts";
import { type Disk, NODE_VOLUMES_TABLE } from "./mod.ts";
import { TestSqliteDatabase } from "./_test_sqlite.ts";
import { GB, node } from "./_test_node.ts";

function recordingLogger(lines: string[]): Logger {
  return {
    debug: (line) => lines.push(`debug: ${line}`),
    info: (line) => lines.push(`info: ${line}`),
    warn: (line) => lines.push(`warn: ${line}`),
    error: (line) => lines.push(`error: ${line}`),
  };
}

function cluster(extensions: string[] = ["volume_manager"]): Cluster {
  return {
    id: 1,
    name: "prod",
    mode: "ha_compact",
    status: "new",
    release: "liberty-8.0",
    extensions,
    attributes: {},
  };
}

const DEFAULT_LAYOUT: Disk[] = [
  { name: "sda", size: 102400, volumes: [{ name: "os", size: 102400 }] },
  { name: "sdb", size: 20480, volumes: [{ name: "data", size: 20480 }] },
];

interface Loaded extends Disposable {
  manager: ExtensionManager;
  extension: Extension;
  database: TestSqliteDatabase;
  lines: string[];
  /** Calls the extension's route as the host would, with the params of its path. */
  request(method: "GET" | "PUT", nodeId: string, body?: unknown): Promise<{
    status: number;
    body: unknown;
  }>;
}

/** Loads the extension as Nailgun does: from a config entry, migrated, set up, with a real SQLite database. */
async function load(settings: Record<string, unknown> = {}): Promise<Loaded> {
  const database = new TestSqliteDatabase();
  const lines: string[] = [];
  const { manager, report } = await loadExtensions({
    config: {
      "nailgun.extensions": {
        load: ["./mod.ts"],
        discover: false,
        settings: { volume_manager: settings },
      },
    },
    configFile: new URL("./extensions.json", import.meta.url).pathname,
    importMap: { file: "deno.json", imports: {} },
    services: { logger: recordingLogger(lines), database },
    async migrate(extension) {
      for (const migration of extension.migrations ?? []) await migration.up(database);
    },
  });
  assert.deepEqual(report.failed, []);
  const extension = manager.get("volume_manager");
  return {
    manager,
    extension,
    database,
    lines,
    request: (method, nodeId, body) => callRoute(extension, method, nodeId, body),
    [Symbol.dispose]: () => database[Symbol.dispose](),
  };
}

async function callRoute(
  extension: Extension,
  method: "GET" | "PUT",
  nodeId: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const route = extension.routes!.find((route) => route.method === method)!;
  const url = new URL(`http://nailgun.test/api/v1/nodes/${nodeId}/disks/`);
  const match = new URLPattern({ pathname: `/api/v1${route.path}` }).exec(url);
  assert.ok(match, `${url.pathname} matches ${route.path}`);
  const request = new Request(url, {
    method,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const response = await route.handler(request, {
    params: match.pathname.groups as Record<string, string>,
    url,
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("VolumeManager's migration creates its own table, with its prefix", async () => {
  using loaded = await load();
  assert.deepEqual(loaded.database.tables(), [NODE_VOLUMES_TABLE]);
  assert.equal(NODE_VOLUMES_TABLE, "volume_manager_node_volumes");
  assert.deepEqual(loaded.extension.migrations!.map((migration) => migration.name), [
    "0001_create_node_volumes",
  ]);
});

Deno.test("VolumeManager gives a new node its default layout, and GET answers it", async () => {
  using loaded = await load();
  const result = await loaded.manager.notify("onNodeCreate", node(3));
  assert.deepEqual([result.handled, result.failures], [1, []]);
  assert.deepEqual(await loaded.request("GET", "3"), { status: 200, body: DEFAULT_LAYOUT });
  assert.deepEqual(await loaded.manager.call("getNodeVolumes", 3), DEFAULT_LAYOUT);
  const rows = await loaded.database.query<{ node_id: number; disks: string }>(
    `SELECT node_id, disks FROM ${NODE_VOLUMES_TABLE}`,
  );
  assert.deepEqual(rows.map((row) => [row.node_id, JSON.parse(row.disks)]), [[3, DEFAULT_LAYOUT]]);
});

Deno.test("GET /nodes/:node_id/disks/ answers 404 for an unknown node and 400 for a bad id", async () => {
  using loaded = await load();
  assert.deepEqual(await loaded.request("GET", "42"), {
    status: 404,
    body: {
      message:
        "Cannot read the disks of node 42: the volume manager holds none for it: nodes get a layout when they are created or updated",
    },
  });
  assert.deepEqual(await loaded.request("GET", "abc"), {
    status: 400,
    body: {
      message:
        'Cannot read the disks of node abc: "node_id" must be a positive whole number: current value is "abc"',
      field: "node_id",
    },
  });
  assert.equal(await loaded.manager.call("getNodeVolumes", 42), null);
});

Deno.test("PUT /nodes/:node_id/disks/ stores a new layout of the node's disks", async () => {
  using loaded = await load();
  await loaded.manager.notify("onNodeCreate", node(3));
  const layout: Disk[] = [
    {
      name: "sda",
      size: 102400,
      volumes: [{ name: "os", size: 51200 }, { name: "mysql", size: 20480 }],
    },
    { name: "sdb", size: 20480, volumes: [{ name: "logs", size: 10240 }] },
  ];
  assert.deepEqual(await loaded.request("PUT", "3", layout), { status: 200, body: layout });
  assert.deepEqual(await loaded.request("GET", "3"), { status: 200, body: layout });
  assert.deepEqual(await loaded.manager.call("getNodeVolumes", 3), layout);
});

Deno.test("PUT /nodes/:node_id/disks/ answers 400 naming the field of a bad body", async (t) => {
  using loaded = await load();
  await loaded.manager.notify("onNodeCreate", node(3));
  const sda = (volumes: unknown) => ({ name: "sda", size: 102400, volumes });
  const sdb = { name: "sdb", size: 20480, volumes: [] };
  const cases: [string, unknown, string, string][] = [
    ["not JSON", "{disks", "body", "must be JSON (.*)"],
    [
      "not a list",
      { name: "sda" },
      "body",
      'must be a list of disks: current value is {"name":"sda"}',
    ],
    [
      "a negative size",
      [sda([{ name: "os", size: -5 }]), sdb],
      "[0].volumes[0].size",
      "must not be negative: current value is -5",
    ],
    [
      "a fractional size",
      [sda([{ name: "os", size: 1.5 }]), sdb],
      "[0].volumes[0].size",
      "must be a whole number of MB: current value is 1.5",
    ],
    [
      "volumes that do not fit",
      [sda([{ name: "os", size: 100000 }, { name: "image", size: 5000 }]), sdb],
      "[0].volumes",
      'must fit on disk sda: they take 105000 MB of its 102400 MB: current value is [{"name":"os","size":100000},{"name":"image","size":5000}]',
    ],
    [
      "a volume name twice",
      [sda([{ name: "os", size: 1 }, { name: "os", size: 1 }]), sdb],
      "[0].volumes[1].name",
      'must be unique on disk sda: current value is "os"',
    ],
    [
      "a bad volume name",
      [sda([{ name: "OS!", size: 1 }]), sdb],
      "[0].volumes[0].name",
      'must be 1 to 32 lowercase letters, digits, "_" or "-", starting with a letter: current value is "OS!"',
    ],
    [
      "an unknown field",
      [sda([]), { ...sdb, bootable: true }],
      "[1].bootable",
      "is not a field of a disk or volume: current value is true",
    ],
    [
      "a disk the node does not have",
      [sda([]), { ...sdb, name: "sdc" }],
      "[1].name",
      'must be a disk of the node (sda, sdb): current value is "sdc"',
    ],
    [
      "another size for a disk",
      [sda([]), { ...sdb, size: 40960 }],
      "[1].size",
      "must be the size of disk sdb, 20480 MB: current value is 40960",
    ],
    [
      "a missing disk",
      [sda([])],
      "body",
      'must list every disk of the node: sdb missing: current value is ["sda"]',
    ],
  ];
  for (const [name, body, field, reason] of cases) {
    await t.step(name, async () => {
      const { status, body: answer } = await loaded.request("PUT", "3", body);
      assert.equal(status, 400);
      const { message, field: answeredField } = answer as { message: string; field: string };
      assert.equal(answeredField, field);
      const expected = `Cannot update the disks of node 3: "${field}" ${reason}`;
      if (reason.includes("(.*)")) {
        assert.match(message, new RegExp(`^${expected.replace("(.*)", "\\(.+\\)")}$`));
      } else {
        assert.equal(message, expected);
      }
    });
  }
  assert.deepEqual(await loaded.request("GET", "3"), { status: 200, body: DEFAULT_LAYOUT });
});

Deno.test("VolumeManager removes the layouts of deleted nodes", async () => {
  using loaded = await load();
  for (const id of [1, 2, 3, 4]) await loaded.manager.notify("onNodeCreate", node(id));
  await loaded.manager.notify("onNodeDelete", node(1));
  await loaded.manager.notify("onNodeCollectionDelete", [2, 3, 99]);
  await loaded.manager.notify("onNodeCollectionDelete", []);
  const rows = await loaded.database.query<{ node_id: number }>(
    `SELECT node_id FROM ${NODE_VOLUMES_TABLE} ORDER BY node_id`,
  );
  assert.deepEqual(rows.map((row) => row.node_id), [4]);
  assert.equal((await loaded.request("GET", "2")).status, 404);
});

Deno.test("VolumeManager restores the default layout on reset and adopts unknown nodes on update", async () => {
  using loaded = await load();
  await loaded.manager.notify("onNodeCreate", node(3));
  const custom: Disk[] = [
    { name: "sda", size: 102400, volumes: [] },
    { name: "sdb", size: 20480, volumes: [] },
  ];
  assert.equal((await loaded.request("PUT", "3", custom)).status, 200);
  await loaded.manager.notify("onNodeUpdate", node(3, { status: "ready" }));
  assert.deepEqual(await loaded.manager.call("getNodeVolumes", 3), custom, "update keeps a layout");
  await loaded.manager.notify("onNodeReset", node(3));
  assert.deepEqual(await loaded.manager.call("getNodeVolumes", 3), DEFAULT_LAYOUT);

  await loaded.manager.notify("onNodeUpdate", node(8));
  assert.deepEqual(await loaded.manager.call("getNodeVolumes", 8), DEFAULT_LAYOUT);
});

Deno.test("VolumeManager gives a node with unusable meta.disks an empty layout, and says why", async () => {
  using loaded = await load();
  const result = await loaded.manager.notify(
    "onNodeCreate",
    node(5, { meta: { disks: [{ name: "sda", size: "big" }] } }),
  );
  assert.deepEqual(result.failures, []);
  assert.deepEqual(await loaded.manager.call("getNodeVolumes", 5), []);
  assert.ok(
    loaded.lines.some((line) =>
      line.startsWith(
        'warn: [volume_manager] node 5 reports no usable disks: "meta.disks[0].size" is not a list of {name, size}',
      )
    ),
    loaded.lines.join("\n"),
  );
});

Deno.test("runPipelines() adds ks_spaces to provisioning data and volumes to deployment data", async () => {
  using loaded = await load();
  await loaded.manager.notify("onNodeCreate", node(3));
  const layout: Disk[] = [
    { name: "sda", size: 102400, volumes: [{ name: "os", size: 51200 }] },
    {
      name: "sdb",
      size: 20480,
      volumes: [{ name: "os", size: 1024 }, { name: "logs", size: 2048 }],
    },
  ];
  await loaded.request("PUT", "3", layout);
  const nodes = [node(3), node(4, { meta: { disks: [{ name: "vda", size: 10 * GB }] } })];
  const data: SerializedData = { cluster: { uid: "1" }, nodes: [{ uid: "3" }, { uid: "4" }] };

  const provisioning = await loaded.manager.runPipelines("provisioning", cluster(), nodes, data);
  assert.deepEqual(provisioning, {
    cluster: { uid: "1" },
    nodes: [
      {
        uid: "3",
        ks_spaces: [
          { type: "disk", id: "sda", name: "sda", size: 102400, volumes: layout[0]!.volumes },
          { type: "disk", id: "sdb", name: "sdb", size: 20480, volumes: layout[1]!.volumes },
        ],
      },
      {
        uid: "4",
        ks_spaces: [{
          type: "disk",
          id: "vda",
          name: "vda",
          size: 10240,
          volumes: [{ name: "os", size: 10240 }],
        }],
      },
    ],
  });

  const deployment = await loaded.manager.runPipelines("deployment", cluster(), nodes, data);
  assert.deepEqual(deployment.nodes, [
    {
      uid: "3",
      volumes: {
        disks: 2,
        total_mb: 122880,
        allocated_mb: 54272,
        by_name: { os: 52224, logs: 2048 },
      },
    },
    {
      uid: "4",
      volumes: { disks: 1, total_mb: 10240, allocated_mb: 10240, by_name: { os: 10240 } },
    },
  ]);
  assert.deepEqual(data, { cluster: { uid: "1" }, nodes: [{ uid: "3" }, { uid: "4" }] });

  const untouched = await loaded.manager.runPipelines("deployment", cluster([]), nodes, data);
  assert.deepEqual(untouched, data, "a cluster without volume_manager enabled is left alone");
});

Deno.test("check() vetoes a deployment whose controllers have too little disk", async (t) => {
  await t.step("one controller below the default minimum of 50 GB", async () => {
    using loaded = await load();
    const small = node(3, {
      name: "ctrl-1",
      roles: ["controller"],
      meta: { disks: [{ name: "sda", size: 30 * GB }, { name: "sdb", size: 10.5 * GB }] },
    });
    await assert.rejects(
      loaded.manager.check("onBeforeDeploymentCheck", cluster(), [node(2), small]),
      (error) => {
        assert.ok(error instanceof ExtensionVetoError);
        assert.equal(error.extension, "volume_manager");
        assert.equal(error.hook, "onBeforeDeploymentCheck");
        assert.equal(
          error.message,
          'Extension "volume_manager" vetoed onBeforeDeploymentCheck: Cannot deploy cluster 1 "prod": controller node 3 "ctrl-1" needs at least 50 GB of disk (settings.volume_manager.minControllerDiskGb): current value is 40.5 GB',
        );
        return true;
      },
    );
  });

  await t.step("every small controller is named, pending roles included", async () => {
    using loaded = await load({ minControllerDiskGb: 200 });
    await assert.rejects(
      loaded.manager.check("onBeforeDeploymentCheck", cluster(), [
        node(3, { roles: ["controller"] }),
        node(4, { pending_roles: ["controller", "mongo"] }),
        node(5, { roles: ["compute"], meta: {} }),
      ]),
      {
        name: "ExtensionVetoError",
        message:
          'Extension "volume_manager" vetoed onBeforeDeploymentCheck: Cannot deploy cluster 1 "prod": controller node 3 "node-3" needs at least 200 GB of disk (settings.volume_manager.minControllerDiskGb): current value is 120 GB; controller node 4 "node-4" needs at least 200 GB of disk (settings.volume_manager.minControllerDiskGb): current value is 120 GB',
      },
    );
  });

  await t.step("controllers with enough disk, and small computes, pass", async () => {
    using loaded = await load({ minControllerDiskGb: 120 });
    await loaded.manager.check("onBeforeDeploymentCheck", cluster(), [
      node(3, { roles: ["controller"] }),
      node(4, { roles: ["compute"], meta: {} }),
    ]);
  });

  await t.step("a cluster that does not enable volume_manager is not checked", async () => {
    using loaded = await load();
    await loaded.manager.check("onBeforeDeploymentCheck", cluster([]), [
      node(3, { roles: ["controller"], meta: {} }),
    ]);
  });
});

Deno.test("loadExtensions() reports a wrong VolumeManager setting in phase setup", async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { minControllerDiskGb: "fifty" },
      '"settings.minControllerDiskGb" must be a number of GB: current value is "fifty"',
    ],
    [
      { minControllerDiskGb: -1 },
      '"settings.minControllerDiskGb" must not be negative: current value is -1',
    ],
    [
      { minDiskGb: 10 },
      '"settings.minDiskGb" is not a setting: the setting is minControllerDiskGb: current value is 10',
    ],
  ];
  for (const [settings, reason] of cases) {
    await t.step(JSON.stringify(settings), async () => {
      const { report } = await loadExtensions({
        config: {
          "nailgun.extensions": {
            load: ["./mod.ts"],
            discover: false,
            settings: { volume_manager: settings },
          },
        },
        configFile: new URL("./extensions.json", import.meta.url).pathname,
        importMap: { file: "deno.json", imports: {} },
        services: { logger: recordingLogger([]) },
      });
      assert.deepEqual(report.failed, [{
        source: "./mod.ts",
        name: "volume_manager",
        phase: "setup",
        message:
          `Cannot load extension "./mod.ts": setup() of "volume_manager" failed: TypeError: Cannot configure "volume_manager": ${reason}`,
      }]);
    });
  }
});

Deno.test("VolumeManager without a database answers 503 and reports its hooks' failure", async () => {
  const extension = instantiateExtension(volumeManagerModule, "./mod.ts");
  const manager = new ExtensionManager([{ extension, source: "./mod.ts" }], {
    logger: recordingLogger([]),
  });
  assert.deepEqual(await callRoute(extension, "GET", "3"), {
    status: 503,
    body: { message: "Cannot read the disks of node 3: the host gives extensions no database" },
  });
  const result = await manager.notify("onNodeCreate", node(3));
  assert.equal(result.failures.length, 1);
  assert.equal(
    result.failures[0]!.message,
    'Cannot use the table of "volume_manager": the host gives extensions no database: run it in a host with a database, such as the reference Nailgun service',
  );
  const data = await manager.runPipelines("deployment", cluster(), [node(3)], {
    cluster: {},
    nodes: [{}],
  });
  assert.equal((data.nodes[0]!.volumes as { total_mb: number }).total_mb, 122880);
});

Deno.test("the package exports its extension under ./nailgun.extensions", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("./deno.json", import.meta.url)));
  assert.equal(config.name, "@nailgun/volume-manager");
  assert.equal(config.version, "1.0.0");
  assert.equal(config.license, "Apache-2.0");
  assert.equal(config.exports["./nailgun.extensions"], "./mod.ts");
  assert.equal(config.exports["."], "./mod.ts");
  assert.match(config.imports["@nailgun/extensions"], /^jsr:@nailgun\/extensions@\^0\.1/);
  const extension = instantiateExtension(volumeManagerModule, "jsr:@nailgun/volume-manager");
  assert.deepEqual(
    [extension.name, extension.version, extension.provides],
    ["volume_manager", config.version, ["getNodeVolumes"]],
  );
  assert.deepEqual(extension.routes!.map((route) => `${route.method} ${route.path}`), [
    "GET /nodes/:node_id/disks/",
    "PUT /nodes/:node_id/disks/",
  ]);
});
