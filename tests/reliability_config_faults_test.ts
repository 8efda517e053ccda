// Config faults. A malformed or wrongly typed extensions.json, or a missing
// one, stops `deno run -A src/service/main.ts` with exit code 1 and a message
// naming the file and the line and column or the JSON path; an entry that
// names nothing loadable (an unknown specifier, a missing file, a package
// without ./nailgun.extensions) is reported and the service serves.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startJsrMirror } from "./_registry/jsr_mirror.ts";
import { makeProject, runServiceToExit, spawnService } from "./_reliability/process.ts";
import { fixture } from "./_reliability/scenario.ts";
import { fixture as serviceFixture, mac, withNailgun } from "./_service/harness.ts";

interface ConfigCase {
  what: string;
  text: string;
  /** What stderr says after `Cannot start Nailgun: ExtensionConfigError: Cannot read extensions config "<file>": `. */
  reason: string;
}

const CASES: ConfigCase[] = [
  {
    what: "a missing comma",
    text: '{\n  "nailgun.extensions": {\n    "load": ["./a.ts"]\n    "discover": false\n  }\n}\n',
    reason: 'invalid JSON at line 4, column 5: unexpected "\\""',
  },
  {
    what: "a trailing comma",
    text: '{\n  "nailgun.extensions": [\n    "./a.ts",\n  ]\n}\n',
    reason: 'invalid JSON at line 4, column 3: unexpected "]"',
  },
  {
    what: "a file cut short",
    text: '{ "nailgun.extensions": { "load": ["./a.ts"',
    reason: "invalid JSON at line 1, column 44: the text ends too early",
  },
  {
    what: "an empty file",
    text: "",
    reason: "invalid JSON at line 1, column 1: the text ends too early",
  },
  {
    what: "no section",
    text: '{ "nailgun.extension": [] }',
    reason: 'it has no "nailgun.extensions" section: add { "nailgun.extensions": [] }',
  },
  {
    what: "a section that is a string",
    text: '{ "nailgun.extensions": "./a.ts" }',
    reason:
      '$["nailgun.extensions"] must be a list of specifiers or an object with load, discover, exclude, …: current value is "./a.ts"',
  },
  {
    what: "a time limit that is a string",
    text: '{ "nailgun.extensions": { "load": [], "handlerTimeoutMs": "fast" } }',
    reason:
      '$["nailgun.extensions"].handlerTimeoutMs must be a number of milliseconds: current value is "fast"',
  },
  {
    what: "an entry that is a number",
    text: '{ "nailgun.extensions": { "load": ["./a.ts", 42] } }',
    reason:
      '$["nailgun.extensions"].load[1] must be a specifier string or an object {specifier, sandbox}: current value is 42',
  },
  {
    what: "a grant that is not a list",
    text:
      '{ "nailgun.extensions": { "load": [{ "specifier": "./a.ts", "sandbox": { "net": "example.com" } }] } }',
    reason:
      '$["nailgun.extensions"].load[0].sandbox.net must be a list of strings: current value is "example.com"',
  },
  {
    what: "settings that are not an object",
    text: '{ "nailgun.extensions": { "load": [], "settings": { "audit": 3 } } }',
    reason: '$["nailgun.extensions"].settings.audit must be an object: current value is 3',
  },
  {
    what: "discover that is a string",
    text: '{ "nailgun.extensions": { "load": [], "discover": "yes" } }',
    reason: '$["nailgun.extensions"].discover must be true or false: current value is "yes"',
  },
  {
    what: "an unknown option",
    text: '{ "nailgun.extensions": { "loads": [] } }',
    reason:
      '$["nailgun.extensions"] has an unknown key "loads": known keys are load, discover, exclude, clusterDefaults, handlerTimeoutMs, strict, breaker, calls, delivery, settings: current value is {"loads":[]}',
  },
];

Deno.test("main.ts exits 1 naming the file and the line and column, or the JSON path, of a bad extensions.json", async () => {
  const results = await Promise.all(CASES.map(async (entry) => {
    const project = await makeProject(entry.text);
    try {
      return { entry, project, ...await runServiceToExit(project) };
    } finally {
      await project.remove();
    }
  }));
  for (const { entry, project, code, stderr, stdout } of results) {
    assert.equal(code, 1, `${entry.what}: ${stdout}\n${stderr}`);
    const expected =
      `Cannot start Nailgun: ExtensionConfigError: Cannot read extensions config "${project.config}": ${entry.reason}`;
    assert.ok(
      stderr.split("\n").includes(expected),
      `${entry.what}: expected the line\n${expected}\nin\n${stderr}`,
    );
    assert.doesNotMatch(stdout, /listening/);
  }
});

Deno.test("main.ts exits 1 when EXTENSIONS_CONFIG names a file that does not exist", async () => {
  const project = await makeProject({ load: [] });
  try {
    const config = join(project.dir, "nowhere", "extensions.json");
    const { code, stderr } = await runServiceToExit({ config, database: project.database });
    assert.equal(code, 1, stderr);
    assert.ok(
      stderr.split("\n").includes(
        `Cannot start Nailgun: ExtensionConfigError: Cannot read extensions config "${config}": the file does not exist`,
      ),
      stderr,
    );
  } finally {
    await project.remove();
  }
});

Deno.test("main.ts accepts an extensions.json saved with a UTF-8 byte order mark, or names the mark", async () => {
  const project = await makeProject(`\uFEFF${JSON.stringify({ "nailgun.extensions": [] })}`);
  const service = spawnService(project);
  try {
    const serving = await service.ready().then(() => true, () => false);
    if (!serving) {
      // Refusing it is fine if the message shows what to remove: the mark itself is invisible.
      assert.match(service.stderr.join("\n"), /U\+FEFF|byte order mark/, service.output());
    }
  } finally {
    await service.dispose();
    await project.remove();
  }
});

Deno.test("an unknown specifier, a missing file and a directory are reported in phase resolve; the service serves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_reliability_" });
  try {
    await Deno.mkdir(join(dir, "a_directory"));
    // `section.load` is written as is: the paths are relative to the config file in `dir`.
    const load = ["@acme/nowhere", "./missing.ts", "./a_directory", serviceFixture("rec_a")];
    await withNailgun({ dir, section: { load } }, async ({ api, logs }) => {
      assert.equal((await api("GET", "/version/")).status, 200);
      const status = (await api("GET", "/extensions/status/")).body;
      assert.deepEqual(status.loaded.map((info: { name: string }) => info.name), ["rec_a"]);
      const bySource = new Map(
        status.failed.map((entry: { source: string }) => [entry.source, entry]),
      );
      const expected: [string, RegExp][] = [
        [
          "@acme/nowhere",
          new RegExp(
            `^Cannot load extension "@acme/nowhere": it is not a path, a jsr: or npm: specifier, nor a key of the import map ".*deno\\.json": install it with "deno add jsr:@acme/nowhere" \\(or npm:\\), or write a path such as`,
          ),
        ],
        [
          "./missing.ts",
          new RegExp(
            `^Cannot load extension "\\./missing\\.ts": the file "${dir}/missing\\.ts" does not exist: paths are relative to the config file$`,
          ),
        ],
        [
          "./a_directory",
          /^Cannot load extension "\.\/a_directory": the module cannot be found: .*Directory import/,
        ],
      ];
      assert.equal(status.failed.length, expected.length, JSON.stringify(status.failed));
      for (const [source, pattern] of expected) {
        const failure = bySource.get(source) as { phase: string; message: string } | undefined;
        assert.ok(failure, `${source} is reported`);
        assert.equal(failure.phase, "resolve");
        assert.match(failure.message, pattern);
        assert.ok(logs.includes(`ERROR extension load failed (resolve): ${failure.message}`));
      }
      const created = await api("POST", "/nodes/", { mac: mac(1) });
      assert.equal(created.status, 201);
      const events = (await api("GET", "/recorder/events/")).body;
      assert.deepEqual(events.map((event: { hook: string }) => event.hook), ["onNodeCreate"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a listed JSR package loads from ./nailgun.extensions; one without that export, and one that does not exist, are reported without running their code; the service serves", async () => {
  const mirror = await startJsrMirror();
  const marker = "NAILGUN_RELIABILITY_MARKER";
  const project = await makeProject({
    load: [
      "jsr:@test/plain@1.0.0",
      "jsr:@test/absent@^1",
      fixture("tally_a"),
      "jsr:@test/listed@^1",
    ],
    discover: false,
  });
  mirror.publishFiles("@test/listed", "1.2.0", {
    "ext.ts":
      `export default { name: "listed", version: "1.2.0", description: "Listed by its jsr: specifier." };\n`,
  }, { "./nailgun.extensions": "./ext.ts" });
  const sideEffect = join(project.dir, "side-effect");
  mirror.publishFiles("@test/plain", "1.0.0", {
    "mod.ts": `const marker = Deno.env.get("${marker}");\n` +
      `if (marker) Deno.writeTextFileSync(marker, "mod.ts ran");\n` +
      `export default { name: "plain", version: "1.0.0", description: "Not exported as an extension." };\n`,
  }, { ".": "./mod.ts" });
  const service = spawnService({
    ...project,
    env: {
      JSR_URL: mirror.url,
      DENO_DIR: join(project.dir, "deno_dir"),
      [marker]: sideEffect,
    },
  });
  try {
    const url = await service.ready(60_000);
    const status = await (await fetch(`${url}/api/v1/extensions/status/`)).json();
    assert.deepEqual(status.loaded.map((info: { name: string }) => info.name), [
      "tally_a",
      "listed",
    ]);
    assert.deepEqual(status.loaded[1], {
      name: "listed",
      version: "1.2.0",
      description: "Listed by its jsr: specifier.",
      provides: [],
      source: "jsr:@test/listed@^1",
      health: status.loaded[1].health,
      delivery: { mode: "inline", pending: 0, parked: 0, delivered: 0 },
    });
    assert.equal(status.loaded[1].health.state, "healthy");
    assert.deepEqual(status.failed, [
      {
        source: "jsr:@test/plain@1.0.0",
        phase: "resolve",
        message:
          `Cannot load extension "jsr:@test/plain@1.0.0": the package does not export "./nailgun.extensions": add it to "exports" in the package's deno.json or package.json, or list the module itself`,
      },
      {
        source: "jsr:@test/absent@^1",
        phase: "resolve",
        message:
          `Cannot load extension "jsr:@test/absent@^1": the module cannot be found: TypeError: JSR package not found: @test/absent`,
      },
    ]);
    for (const failure of status.failed) {
      assert.ok(
        service.stderr.some((line) =>
          line.endsWith(`ERROR extension load failed (resolve): ${failure.message}`)
        ),
        service.output(),
      );
    }
    await assert.rejects(
      () => Deno.stat(sideEffect),
      Deno.errors.NotFound,
      "no code of the package ran",
    );
    assert.ok(
      !mirror.requests.some((path) => path.endsWith("/mod.ts")),
      mirror.requests.join("\n"),
    );
    const created = await fetch(`${url}/api/v1/nodes/`, {
      method: "POST",
      body: JSON.stringify({ mac: mac(1) }),
    });
    assert.equal(created.status, 201);
    const node = await created.json();
    const tally = await (await fetch(`${url}/api/v1/tally_a/tally/`)).json();
    assert.deepEqual(tally, [{ node_id: node.id, hook: "onNodeCreate", events: 1 }]);
  } finally {
    await service.dispose();
    await mirror.close();
    await project.remove();
  }
});
