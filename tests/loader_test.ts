import assert from "node:assert/strict";
import {
  ExtensionConfigError,
  ExtensionLoadError,
  loadExtensions,
  type LoadPhase,
  type LoadResult,
  VERSION,
} from "../mod.ts";
import { currentExtension } from "../src/attribution.ts";

const fixtures = new URL("./fixtures/", import.meta.url).pathname;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function loadFixtures(
  specifiers: (string | { specifier: string })[],
  options: Record<string, unknown> = {},
): Promise<LoadResult> {
  return await loadExtensions({
    configFile: `${fixtures}extensions.json`,
    config: { load: specifiers, discover: false, ...options },
    services: { logger: quiet },
  });
}

async function expectFailure(fixture: string, phase: LoadPhase, pattern: RegExp): Promise<void> {
  const { manager, report } = await loadFixtures(["./good.ts", `./${fixture}`]);
  assert.deepEqual(manager.names, ["good"], "the healthy extension still loads");
  assert.equal(report.failed.length, 1, JSON.stringify(report.failed));
  const [failure] = report.failed;
  assert.equal(failure!.phase, phase);
  assert.equal(failure!.source, `./${fixture}`);
  assert.match(failure!.message, new RegExp(`^Cannot load extension "\\./${fixture}"`));
  assert.match(failure!.message, pattern);
}

Deno.test("loadExtensions() loads a class and a plain object in config order", async () => {
  const { manager, report } = await loadFixtures(["./plain_object.ts", "./good.ts"]);
  assert.deepEqual(manager.names, ["plain", "good"]);
  assert.deepEqual(report.loaded, [
    {
      name: "plain",
      version: "2.0.0",
      description: "A plain object that satisfies the contract.",
      provides: [],
      source: "./plain_object.ts",
    },
    {
      name: "good",
      version: "1.0.0",
      description: "Records created nodes.",
      provides: ["countNodes"],
      source: "./good.ts",
    },
  ]);
  assert.deepEqual(report.failed, []);
});

Deno.test("loadExtensions() reports each failure phase with the source and the field", async (t) => {
  await t.step(
    "import throws",
    () =>
      expectFailure("import_throws.ts", "import", /importing it threw: database driver missing/),
  );
  await t.step(
    "constructor throws",
    () =>
      expectFailure(
        "constructor_throws.ts",
        "import",
        /its constructor threw: .*boom in constructor/,
      ),
  );
  await t.step(
    "no default export",
    () =>
      expectFailure("no_default.ts", "validate", /no default export.*it exports Extension, name/),
  );
  await t.step(
    "missing name",
    () =>
      expectFailure(
        "no_name.ts",
        "validate",
        /"name" must be a string.*: current value is undefined$/,
      ),
  );
  await t.step("invalid name", async () => {
    await expectFailure(
      "bad_name.ts",
      "validate",
      /"name" must start with a lowercase letter.*: current value is "Drop Table"$/,
    );
    const { report } = await loadFixtures(["./bad_name.ts"]);
    assert.equal(report.failed[0]!.name, undefined, "an invalid name is not reported as a name");
  });
  await t.step("invalid version", () =>
    expectFailure(
      "bad_version.ts",
      "validate",
      /"version" must be a semantic version such as "1\.0\.0": current value is "one"$/,
    ));
  await t.step(
    "empty description",
    () => expectFailure("empty_description.ts", "validate", /"description" must be a sentence/),
  );
  await t.step(
    "provides a call it lacks",
    () =>
      expectFailure(
        "provides_missing_method.ts",
        "validate",
        /"provides\[0\]" names a call.*"getVolumes"/,
      ),
  );
  await t.step("duplicate name names both sources", () =>
    expectFailure(
      "duplicate_good.ts",
      "conflict",
      /the name "good" is already taken by the extension from "\.\/good\.ts"/,
    ));
  await t.step("a call with two providers names both", () =>
    expectFailure(
      "second_provider.ts",
      "conflict",
      /the call "countNodes" of "second" is already provided by "good"/,
    ));
  await t.step("hostVersion mismatch names both versions", () =>
    expectFailure(
      "host_mismatch.ts",
      "host-version",
      new RegExp(
        `"hostVersion" is "\\^9\\.0\\.0" but this host runs @nailgun/extensions ${VERSION}`,
      ),
    ));
  await t.step(
    "setup throws",
    () =>
      expectFailure(
        "setup_throws.ts",
        "setup",
        /setup\(\) of "brokensetup" failed: cannot reach the message bus/,
      ),
  );
  await t.step(
    "missing file",
    () => expectFailure("missing.ts", "resolve", /the file ".*\/missing\.ts" does not exist/),
  );
});

Deno.test("loadExtensions() reports a module whose own import is missing as an import failure", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/nested.ts`,
      'import "./gone.ts";\nexport default { name: "nested", version: "1.0.0", description: "x" };\n',
    );
    const { report } = await loadExtensions({
      configFile: `${dir}/extensions.json`,
      config: { load: ["./nested.ts"], discover: false },
      services: { logger: quiet },
    });
    assert.equal(report.failed[0]?.phase, "import");
    assert.match(report.failed[0]!.message, /gone\.ts/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExtensions() reports an unknown bare specifier in phase resolve", async () => {
  const { report } = await loadFixtures(["@acme/unknown"]);
  assert.equal(report.failed[0]?.phase, "resolve");
  assert.match(
    report.failed[0]!.message,
    /^Cannot load extension "@acme\/unknown": it is not a path, a jsr: or npm: specifier, nor a key of the import map/,
  );
});

Deno.test("loadExtensions() in strict mode rejects when any extension fails", async () => {
  await assert.rejects(
    () => loadFixtures(["./good.ts", "./bad_version.ts"], { strict: true }),
    (error: unknown) => {
      assert.ok(error instanceof ExtensionLoadError);
      assert.equal(error.phase, "validate");
      assert.match(
        error.message,
        /^Cannot start in strict mode: 1 extension\(s\) failed to load: .*"version"/,
      );
      return true;
    },
  );
});

Deno.test("loadExtensions() skips what the config excludes, by source or by name", async () => {
  const { manager, report } = await loadFixtures(["./good.ts", "./plain_object.ts"], {
    exclude: ["plain"],
  });
  assert.deepEqual(manager.names, ["good"]);
  assert.deepEqual(report.skipped, [{
    source: "./plain_object.ts",
    reason: 'the extension "plain" is excluded by the config',
  }]);
});

Deno.test("loadExtensions() runs setup in order and gives each extension its settings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const order: string[] = [];
    (globalThis as Record<string, unknown>).__setupOrder = order;
    for (const name of ["alpha", "beta"]) {
      await Deno.writeTextFile(
        `${dir}/${name}.ts`,
        `export default class {
          name = "${name}"; version = "1.0.0"; description = "Set up in order.";
          constructor(context) { this.context = context; }
          setup(context) { globalThis.__setupOrder.push(this.name + ":" + context.settings.color); }
          teardown() { globalThis.__setupOrder.push("down:" + this.name); }
        }`,
      );
    }
    const { manager } = await loadExtensions({
      configFile: `${dir}/extensions.json`,
      config: {
        load: ["./alpha.ts", "./beta.ts"],
        discover: false,
        settings: { alpha: { color: "red" }, beta: { color: "blue" } },
      },
      services: { logger: quiet },
    });
    assert.deepEqual(order, ["alpha:red", "beta:blue"]);
    await manager.teardown();
    assert.deepEqual(order.slice(2), ["down:beta", "down:alpha"]);
  } finally {
    delete (globalThis as Record<string, unknown>).__setupOrder;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExtensions() refuses a route that collides with a reserved or earlier route", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const route = (path: string) =>
      `{ method: "GET", path: "${path}", handler: () => new Response("x") }`;
    await Deno.writeTextFile(
      `${dir}/first.ts`,
      `export default { name: "first", version: "1.0.0", description: "d", routes: [${
        route("/first/items/")
      }] };`,
    );
    await Deno.writeTextFile(
      `${dir}/second.ts`,
      `export default { name: "second", version: "1.0.0", description: "d", routes: [${
        route("/first/:id")
      }] };`,
    );
    await Deno.writeTextFile(
      `${dir}/third.ts`,
      `export default { name: "third", version: "1.0.0", description: "d", routes: [${
        route("/nodes/summary/")
      }] };`,
    );
    const { manager, report } = await loadExtensions({
      configFile: `${dir}/extensions.json`,
      config: { load: ["./first.ts", "./second.ts", "./third.ts"], discover: false },
      services: { logger: quiet },
      reservedRoutes: [{ method: "GET", path: "/nodes/:id/" }],
    });
    assert.deepEqual(manager.names, ["first"]);
    assert.deepEqual(report.failed.map((f) => [f.name, f.phase]), [
      ["second", "conflict"],
      ["third", "conflict"],
    ]);
    assert.match(
      report.failed[0]!.message,
      /"GET \/first\/:id" of "second" collides with "GET \/first\/items\/" of "first"/,
    );
    assert.match(report.failed[1]!.message, /collides with "GET \/nodes\/:id\/" of the core API/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExtensions() reads extensions.json and resolves paths relative to it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/ext`);
    await Deno.writeTextFile(
      `${dir}/ext/hello.ts`,
      'export default { name: "hello", version: "1.0.0", description: "Hi." };',
    );
    await Deno.writeTextFile(
      `${dir}/extensions.json`,
      '{ "nailgun.extensions": ["./ext/hello.ts"] }',
    );
    const { manager } = await loadExtensions({
      configFile: `${dir}/extensions.json`,
      services: { logger: quiet },
    });
    assert.deepEqual(manager.names, ["hello"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExtensions() rejects a malformed config file with its line and column", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/extensions.json`,
      '{\n  "nailgun.extensions": [\n    "./a.ts",,\n  ]\n}\n',
    );
    await assert.rejects(
      () => loadExtensions({ configFile: `${dir}/extensions.json` }),
      (error: unknown) => {
        assert.ok(error instanceof ExtensionConfigError);
        assert.equal(error.line, 3);
        assert.equal(error.column, 14);
        assert.match(
          error.message,
          /^Cannot read extensions config ".*extensions\.json": invalid JSON at line 3, column 14/,
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExtensions() rejects an explicit config file that does not exist", async () => {
  await assert.rejects(
    () => loadExtensions({ configFile: "/nonexistent/extensions.json" }),
    (error: unknown) =>
      error instanceof ExtensionConfigError &&
      error.message ===
        'Cannot read extensions config "/nonexistent/extensions.json": the file does not exist',
  );
});

Deno.test("loadExtensions() loads a source listed twice once, and says so", async () => {
  const { manager, report } = await loadFixtures(["./good.ts", "./good.ts"]);
  assert.deepEqual(manager.names, ["good"]);
  assert.deepEqual(report.failed, []);
  assert.deepEqual(report.skipped, [{
    source: "./good.ts",
    reason: "listed more than once in the config: loaded once",
  }]);
});

Deno.test("loadExtensions() names a malformed deno.json as the import map, with line and column", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, '{\n  "imports": { "a": "npm:a@1" \n}\n');
    await assert.rejects(
      () => loadExtensions({ configFile: `${dir}/extensions.json`, config: { load: [] } }),
      (error: unknown) => {
        assert.ok(error instanceof ExtensionConfigError);
        assert.equal(error.file, `${dir}/deno.json`);
        assert.match(
          error.message,
          /^Cannot read import map ".*deno\.json": invalid JSON at line 4, column 1: the text ends too early$/,
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExtensions() resolves an explicitly listed import-map key with the host's import map", async () => {
  // The repository's deno.json maps "@nailgun/extensions" to ./mod.ts: a real
  // key whose module has no default export. It must get past resolve (the key
  // is known) and fail in validate, naming the key.
  const { report } = await loadExtensions({
    configFile: `${fixtures}extensions.json`,
    config: { load: ["@nailgun/extensions"], discover: false },
    importMap: new URL("../deno.json", import.meta.url).pathname,
    services: { logger: quiet },
  });
  assert.equal(report.failed.length, 1);
  assert.equal(report.failed[0]!.phase, "validate");
  assert.match(
    report.failed[0]!.message,
    /^Cannot load extension "@nailgun\/extensions": the module has no default export/,
  );
});

Deno.test("loadExtensions() warns of methods named like hooks or pipeline steps that are not, and still loads", async () => {
  const warned: string[] = [];
  const { manager, report } = await loadExtensions({
    configFile: `${fixtures}extensions.json`,
    config: { load: ["./good.ts", "./misspelt_hooks.ts"], discover: false },
    services: { logger: { ...quiet, warn: (message: string) => warned.push(message) } },
  });
  assert.deepEqual(manager.names, ["good", "misspelt"]);
  assert.deepEqual(report.failed, []);
  const hint = (message: string) => ({ source: "./misspelt_hooks.ts", name: "misspelt", message });
  assert.deepEqual(report.warnings, [
    hint("onnodedelete is not a hook: did you mean onNodeDelete?"),
    hint("onNodeCreated is not a hook: did you mean onNodeCreate?"),
    hint("onClusterDeleted is not a hook: did you mean onClusterDelete?"),
    hint(
      "pipelines[0].processDeploymentForNodes is not a pipeline step: did you mean processDeploymentForNode?",
    ),
  ]);
  assert.deepEqual(warned, [
    'extension "misspelt" (from ./misspelt_hooks.ts): onnodedelete is not a hook: did you mean onNodeDelete?',
    'extension "misspelt" (from ./misspelt_hooks.ts): onNodeCreated is not a hook: did you mean onNodeCreate?',
    'extension "misspelt" (from ./misspelt_hooks.ts): onClusterDeleted is not a hook: did you mean onClusterDelete?',
    'extension "misspelt" (from ./misspelt_hooks.ts): pipelines[0].processDeploymentForNodes is not a pipeline step: did you mean processDeploymentForNode?',
  ]);
});

Deno.test("loadExtensions() warns of nothing for an extension whose hooks are spelt right", async () => {
  const { report } = await loadFixtures(["./good.ts", "./plain_object.ts"]);
  assert.deepEqual(report.warnings, []);
});

Deno.test("loadExtensions() answers a path written without ./ with the path that would work", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/examples/logging`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/examples/logging/mod.ts`,
      'export default { name: "logging", version: "1.0.0", description: "Logs." };',
    );
    const load = async (source: string) => {
      const { report } = await loadExtensions({
        configFile: `${dir}/extensions.json`,
        config: { load: [source], discover: false },
        importMap: { file: `${dir}/deno.json`, imports: {} },
        services: { logger: quiet },
      });
      assert.equal(report.failed.length, 1);
      assert.equal(report.failed[0]!.phase, "resolve");
      return report.failed[0]!.message;
    };
    const unknown = (source: string) =>
      `Cannot load extension "${source}": it is not a path, a jsr: or npm: specifier, nor a key of the import map "${dir}/deno.json"`;
    await t.step("a file that exists", async () => {
      assert.equal(
        await load("examples/logging/mod.ts"),
        `${
          unknown("examples/logging/mod.ts")
        }: a path starts with "./" or "../": write "./examples/logging/mod.ts"`,
      );
    });
    await t.step("a file that does not exist either", async () => {
      assert.equal(
        await load("examples/loging/mod.ts"),
        `${
          unknown("examples/loging/mod.ts")
        }: a path starts with "./" or "../", and the file "${dir}/examples/loging/mod.ts" does not exist either: paths are relative to the config file`,
      );
    });
    await t.step("in strict mode, the same hint rejects the load", async () => {
      await assert.rejects(
        () =>
          loadExtensions({
            configFile: `${dir}/extensions.json`,
            config: { load: ["examples/logging/mod.ts"], discover: false, strict: true },
            importMap: { file: `${dir}/deno.json`, imports: {} },
            services: { logger: quiet },
          }),
        (error: unknown) => {
          assert.ok(error instanceof ExtensionLoadError);
          assert.equal(error.phase, "resolve");
          assert.match(error.message, /: write "\.\/examples\/logging\/mod\.ts"$/);
          return true;
        },
      );
    });
    await t.step("a package name keeps the install advice", async () => {
      assert.equal(
        await load("@acme/audit"),
        `${
          unknown("@acme/audit")
        }: install it with "deno add jsr:@acme/audit" (or npm:), or write a path such as "./@acme/audit.ts"`,
      );
      assert.equal(
        await load("nailgun-audit"),
        `${
          unknown("nailgun-audit")
        }: install it with "deno add npm:nailgun-audit", or write a path such as "./nailgun-audit.ts"`,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExtensions() reports a module whose top-level code throws a 404 in phase import", async () => {
  await expectFailure(
    "throws_404.ts",
    "import",
    /: importing it threw: GET https:\/\/inventory\.invalid\/api answered 404: not found$/,
  );
});

Deno.test("loadExtensions() runs migrate and setup in the extension's async context", async () => {
  const dir = await Deno.makeTempDir();
  const seen: unknown[] = [];
  const probe = (step: string) => seen.push([step, currentExtension()]);
  (globalThis as Record<string, unknown>).__probe = probe;
  try {
    await Deno.writeTextFile(
      `${dir}/ctx.ts`,
      `export default {
        name: "ctx", version: "1.0.0", description: "Checks its context.",
        async setup() {
          await new Promise((resolve) => setTimeout(resolve, 1));
          globalThis.__probe("setup");
        },
      };`,
    );
    await loadExtensions({
      configFile: `${dir}/extensions.json`,
      config: { load: ["./ctx.ts"], discover: false },
      services: { logger: quiet },
      migrate: async () => {
        await Promise.resolve();
        probe("migrate");
      },
    });
    probe("after");
    const scope = { name: "ctx", source: "./ctx.ts" };
    assert.deepEqual(seen, [["migrate", scope], ["setup", scope], ["after", undefined]]);
  } finally {
    delete (globalThis as Record<string, unknown>).__probe;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExtensions() gives no warning for an extension the config excludes by name", async () => {
  const { report } = await loadFixtures(["./misspelt_hooks.ts"], { exclude: ["misspelt"] });
  assert.deepEqual(report.warnings, []);
  assert.deepEqual(report.skipped.map((skipped) => skipped.source), ["./misspelt_hooks.ts"]);
});
