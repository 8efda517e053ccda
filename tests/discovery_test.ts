/**
 * Import-map discovery without registries: a host project in a temporary
 * folder whose name holds a space, `#`, `%` and non-ASCII letters, with
 * "packages" whose `./nailgun.extensions` subpath the import map maps to
 * local files. Each key maps to a `jsr:` or `npm:` package (what discovery
 * considers); the subpath key beside it makes Deno import a local module
 * instead of fetching the package, so no registry is asked.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { readImportMap } from "../mod.ts";

const LIBRARY = new URL("../mod.ts", import.meta.url).href;
const REPO_CONFIG = new URL("../deno.json", import.meta.url);
const ODD_NAME = "My Projects #1 %20 Ünïcødé";

/** An extension module named `name`. */
const extension = (name: string) =>
  `export default { name: "${name}", version: "1.0.0", description: "Extension ${name}." };\n`;

/** The host script: loads with the defaults (./extensions.json, ./deno.json) and prints the report. */
const HOST = `import { loadExtensions } from ${JSON.stringify(LIBRARY)};
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const { report } = await loadExtensions({
  importModule: (specifier) => import(specifier),
  services: { logger: quiet },
});
console.log(JSON.stringify(report));
`;

async function makeProject(files: Record<string, string>): Promise<{ dir: string; root: string }> {
  const root = await Deno.makeTempDir({ prefix: "nailgun-discovery-" });
  const dir = join(root, ODD_NAME);
  await Deno.mkdir(dir);
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, path);
    await Deno.mkdir(join(file, ".."), { recursive: true });
    await Deno.writeTextFile(file, content);
  }
  return { dir, root };
}

/** The library's own npm dependencies, so that the host project can import the library. */
async function libraryImports(): Promise<Record<string, string>> {
  const { imports } = JSON.parse(await Deno.readTextFile(REPO_CONFIG));
  return Object.fromEntries(
    Object.entries(imports as Record<string, string>).filter(([, target]) =>
      target.startsWith("npm:")
    ),
  );
}

async function runHost(dir: string): Promise<{
  loaded: { name: string; source: string }[];
  failed: unknown[];
}> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "host.ts"],
    cwd: dir,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.ok(
    output.success,
    `the host failed:\n${text}\n${new TextDecoder().decode(output.stderr)}`,
  );
  return JSON.parse(text.trim().split("\n").at(-1)!);
}

Deno.test("loadExtensions() discovers import-map packages in key order, after the listed ones, from a folder named with a space, #, % and non-ASCII letters", async () => {
  const { dir, root } = await makeProject({
    "host.ts": HOST,
    "extensions.json": JSON.stringify({
      "nailgun.extensions": { load: ["./local/listed.ts"], discover: true },
    }),
    "local/listed.ts": extension("listed"),
    "packages/zeta/mod.ts": extension("zeta"),
    "packages/alpha/mod.ts": extension("alpha"),
    "packages/middle/mod.ts": extension("middle"),
    "packages/upper/mod.ts": extension("upper"),
  });
  try {
    // Keys in no order; "Upper" sorts before the lowercase ones (code units).
    const imports: Record<string, string> = {
      "zeta-audit": "npm:zeta-audit@^1",
      "zeta-audit/nailgun.extensions": "./packages/zeta/mod.ts",
      "@acme/middle": "jsr:@acme/middle@^1",
      "@acme/middle/nailgun.extensions": "./packages/middle/mod.ts",
      "alpha": "jsr:@acme/alpha@^2",
      "alpha/nailgun.extensions": "./packages/alpha/mod.ts",
      "Upper": "npm:upper-case-ext@^1",
      "Upper/nailgun.extensions": "./packages/upper/mod.ts",
      "util/": "./util/",
      ...await libraryImports(),
    };
    await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify({ imports }, null, 2));
    const report = await runHost(dir);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.loaded.map(({ name, source }) => [source, name]), [
      ["./local/listed.ts", "listed"],
      ["@acme/middle", "middle"],
      ["Upper", "upper"],
      ["alpha", "alpha"],
      ["zeta-audit", "zeta"],
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("loadExtensions() discovers from a deno.json or deno.jsonc with comments and trailing commas", async (t) => {
  const library = Object.entries(await libraryImports())
    .map(([key, target]) => `    ${JSON.stringify(key)}: ${JSON.stringify(target)},`).join("\n");
  for (const file of ["deno.json", "deno.jsonc"]) {
    await t.step(file, async () => {
      const { dir, root } = await makeProject({
        "host.ts": HOST,
        "extensions.json": '{ "nailgun.extensions": [] }',
        "packages/alpha/mod.ts": extension("alpha"),
        [file]: `{
  // The host's packages. /* not a comment inside a line comment
  "imports": {
    /* an extension */ "alpha": "jsr:@acme/alpha@^2",
    "alpha/nailgun.extensions": "./packages/alpha/mod.ts",
${library}
  },
}
`,
      });
      try {
        const report = await runHost(dir);
        assert.deepEqual(report.failed, []);
        assert.deepEqual(report.loaded.map(({ name }) => name), ["alpha"]);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    });
  }
});

Deno.test("readImportMap() reads JSONC and never changes what is inside a string", async (t) => {
  const { dir, root } = await makeProject({});
  try {
    const text = `{
  // a comment
  "imports": {
    "remote": "https://example.com//x.ts", // "//" in a string stays
    "a, }": "./odd, }/mod.ts", /* ", }" in a string stays */
    "b": "./b/*not a comment*/.ts",
  },
  "importMap": "./import map.json",
}
`;
    await Deno.writeTextFile(
      join(dir, "import map.json"),
      '{ "imports": { "linked": "jsr:@acme/linked@^1", "b": "./overridden.ts", } }',
    );
    for (const name of ["deno.json", "deno.jsonc"]) {
      await t.step(name, async () => {
        await Deno.writeTextFile(join(dir, name), text);
        const map = await readImportMap(join(dir, name));
        assert.deepEqual(map, {
          file: join(dir, name),
          imports: {
            linked: "jsr:@acme/linked@^1",
            remote: "https://example.com//x.ts",
            "a, }": "./odd, }/mod.ts",
            b: "./b/*not a comment*/.ts",
          },
        });
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readImportMap() names a JSONC syntax error with its line and column", async () => {
  const { dir, root } = await makeProject({
    "deno.jsonc": '{\n  // fine\n  "imports": { "a": "npm:a@1" ]\n}\n',
  });
  try {
    const file = join(dir, "deno.jsonc");
    await assert.rejects(() => readImportMap(file), (error: unknown) => {
      assert.ok(error instanceof Error && error.name === "ExtensionConfigError");
      assert.equal(
        error.message,
        `Cannot read import map "${file}": invalid JSON at line 3, column 31: unexpected "]"`,
      );
      return true;
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("loadExtensions() resolves a listed path in a folder named with a space, #, % and non-ASCII letters", async () => {
  const { dir, root } = await makeProject({
    "host.ts": HOST,
    "extensions.json": '{ "nailgun.extensions": ["./ext/hello world.ts", "./ext/gone.ts"] }',
    "ext/hello world.ts": extension("hello"),
  });
  try {
    await Deno.writeTextFile(
      join(dir, "deno.json"),
      JSON.stringify({ imports: await libraryImports() }),
    );
    const report = await runHost(dir) as {
      loaded: { name: string }[];
      failed: { message: string }[];
    };
    assert.deepEqual(report.loaded.map(({ name }) => name), ["hello"]);
    assert.equal(
      report.failed[0]?.message,
      `Cannot load extension "./ext/gone.ts": the file "${
        join(dir, "ext", "gone.ts")
      }" does not exist: paths are relative to the config file`,
    );
    assert.ok(pathToFileURL(dir).href.includes("%2520"), "the folder name holds a literal %20");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
