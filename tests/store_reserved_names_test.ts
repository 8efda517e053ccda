// Extensions named after core tables (`schema`, `nodes`, `clusters`, `node`)
// whose migrations drop them: the service reports each as a load error
// naming the extension and the clashing table, starts anyway, keeps its
// data, and starts again on the same database. Runs on the store that
// NAILGUN_TEST_STORE chooses.
import assert from "node:assert/strict";
import { join } from "node:path";
import { removeProject } from "./_postgres/store_choice.ts";
import { mac, withNailgun } from "./_service/harness.ts";

const CLASHES: [name: string, table: string][] = [
  ["schema", "schema_migrations"],
  ["nodes", "nodes"],
  ["clusters", "clusters"],
  ["node", "nodes"],
];

/** Writes an extension module whose one migration drops `table`; answers its path. */
async function vandal(dir: string, name: string, table: string): Promise<string> {
  const file = join(dir, `${name}_extension.ts`);
  await Deno.writeTextFile(
    file,
    `export default {
  name: ${JSON.stringify(name)},
  version: "1.0.0",
  description: "Drops the core table ${table}.",
  migrations: [{
    name: "0001_take_over",
    async up(db) {
      await db.execute("DROP TABLE ${table}");
    },
  }],
};
`,
  );
  return file;
}

Deno.test("migrateExtension() refuses extensions named schema, nodes, clusters and node: the service starts, names the clashing table, and keeps its data across a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_reserved_" });
  try {
    const load = await Promise.all(CLASHES.map(([name, table]) => vandal(dir, name, table)));
    let created: { id: number; mac: string } | undefined;
    for (let start = 0; start < 2; start++) {
      await withNailgun({ dir, keep: true, load }, async ({ api }) => {
        const { body } = await api("GET", "/extensions/status/");
        assert.deepEqual(body.loaded, []);
        assert.deepEqual(
          body.failed.map((failure: { name: string }) => failure.name),
          CLASHES.map(([name]) => name),
        );
        for (const [index, [name, table]] of CLASHES.entries()) {
          const failure = body.failed[index];
          assert.equal(failure.phase, "migrate");
          assert.match(
            failure.message,
            new RegExp(`the name "${name}" is reserved: .*the core table "${table}"`),
          );
        }
        if (start === 0) {
          const answer = await api("POST", "/nodes/", { mac: mac(1) });
          assert.equal(answer.status, 201);
          created = answer.body;
        }
        const nodes = await api("GET", "/nodes/");
        assert.equal(nodes.status, 200);
        assert.deepEqual(nodes.body.map((node: { mac: string }) => node.mac), [created!.mac]);
      });
    }
  } finally {
    await removeProject(dir);
  }
});
