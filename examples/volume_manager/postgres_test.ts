// The same SQL on PostgreSQL: runs when NAILGUN_TEST_POSTGRES_URL points at a
// server (`export NAILGUN_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"`, as
// `deno task test` does), in a database made for the test and dropped after it.
import assert from "node:assert/strict";
import postgres from "npm:postgres@3.4.9";
import {
  BoundContext,
  type ExtensionDatabase,
  ExtensionManager,
  ExtensionVetoError,
  instantiateExtension,
} from "@nailgun/extensions";
import { GB, node } from "./_test_node.ts";
import * as volumeManagerModule from "./mod.ts";
import { NodeVolumesTable } from "./mod.ts";

const ONE_40_GB_DISK = { disks: [{ name: "sda", size: 40 * GB }] };

const baseUrl = Deno.env.get("NAILGUN_TEST_POSTGRES_URL");

/** `ExtensionDatabase` over one PostgreSQL connection; `?` placeholders become `$n`. */
function postgresDatabase(sql: postgres.Sql | postgres.TransactionSql): ExtensionDatabase {
  const numbered = (text: string) => {
    let index = 0;
    return text.replace(/\?/g, () => `$${++index}`);
  };
  return {
    dialect: "postgres",
    async query<T>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      return [
        ...await sql.unsafe(numbered(text), params as postgres.ParameterOrJSON<never>[]),
      ] as T[];
    },
    async execute(text: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
      const result = await sql.unsafe(numbered(text), params as postgres.ParameterOrJSON<never>[]);
      return { changes: result.count ?? 0 };
    },
    async transaction<T>(fn: (tx: ExtensionDatabase) => Promise<T>): Promise<T> {
      if (!("begin" in sql)) return await fn(postgresDatabase(sql));
      return await sql.begin((tx) => fn(postgresDatabase(tx))) as T;
    },
  };
}

async function withDatabase(fn: (database: ExtensionDatabase) => Promise<void>): Promise<void> {
  const name = `volume_manager_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = postgres(baseUrl!, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl!);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { max: 1, onnotice: () => {} });
  try {
    await fn(postgresDatabase(sql));
  } finally {
    await sql.end();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

Deno.test({
  name: "VolumeManager keeps layouts, serves routes and vetoes on PostgreSQL",
  ignore: baseUrl === undefined,
  fn: () =>
    withDatabase(async (database) => {
      const context = new BoundContext("./mod.ts", { database, logger: console });
      const extension = instantiateExtension(volumeManagerModule, "./mod.ts", context);
      context.bind(extension.name);
      for (const migration of extension.migrations!) await migration.up(database);
      const manager = new ExtensionManager([{ extension, source: "./mod.ts" }]);

      for (const id of [1, 2, 3]) {
        const result = await manager.notify(
          "onNodeCreate",
          node(id, { roles: ["controller"], meta: ONE_40_GB_DISK }),
        );
        assert.deepEqual(result.failures, []);
      }
      const table = new NodeVolumesTable(database);
      assert.deepEqual(await table.get(1), [
        { name: "sda", size: 40960, volumes: [{ name: "os", size: 40960 }] },
      ]);

      const put = extension.routes!.find((route) => route.method === "PUT")!;
      const url = new URL("http://nailgun.test/api/v1/nodes/1/disks/");
      const layout = [{ name: "sda", size: 40960, volumes: [{ name: "os", size: 20480 }] }];
      const response = await put.handler(
        new Request(url, { method: "PUT", body: JSON.stringify(layout) }),
        { params: { node_id: "1" }, url },
      );
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.deepEqual(await manager.call("getNodeVolumes", 1), layout, "the upsert replaced it");

      const cluster = {
        id: 1,
        name: "prod",
        mode: "ha_compact",
        status: "new" as const,
        release: "liberty-8.0",
        extensions: ["volume_manager"],
        attributes: {},
      };
      await assert.rejects(
        manager.check("onBeforeDeploymentCheck", cluster, [
          node(1, { roles: ["controller"], meta: ONE_40_GB_DISK }),
        ]),
        ExtensionVetoError,
      );

      await manager.notify("onNodeCollectionDelete", [1, 2]);
      assert.equal(await table.get(1), undefined);
      assert.equal(await table.delete([3, 4]), 1);
    }),
});
