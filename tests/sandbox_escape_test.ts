// Escape attempts of sandboxed extensions with the grant {}: each one tries
// to read a host file that holds a secret (a JSON or text file, the host's
// extensions.json with another extension's settings, the live SQLite
// database) through an import or at run time, inside the reference service
// over a real project directory. Each is refused at load or fails in the
// Worker; the secret appears in no log line and no API response; the other
// extensions and the service go on.
//
// Run: deno test -A --unstable-worker-options tests/sandbox_escape_test.ts
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  LIBRARY,
  makeProject,
  type Project,
  type ProjectService,
  SECRET,
  startProjectService,
} from "./_sandbox/_project.ts";

/** An extension module: imports, then an object with `results()` and the given members. */
function extensionModule(name: string, options: { imports?: string; members?: string }): string {
  return `import { BaseExtension } from ${JSON.stringify(LIBRARY)};
const results = {};
${options.imports ?? ""}
export default class Escaper extends BaseExtension {
  name = ${JSON.stringify(name)};
  version = "1.0.0";
  description = "Tries to read a host file.";
  provides = [${JSON.stringify(`${name}_results`)}];
  ${JSON.stringify(`${name}_results`)}() { return results; }
  ${options.members ?? ""}
}
`;
}

/** An in-process extension that holds the secret in its settings, and a sandboxed bystander. */
function bystanders(project: Project): { vault: string; bystander: string } {
  return {
    vault: project.extension("vault", {
      "mod.js": extensionModule("vault", {
        members:
          `onNodeCreate() { results.token = this.context.settings.token === undefined ? "none" : "set"; }`,
      }),
    }),
    bystander: project.extension("bystander", {
      "mod.js": extensionModule("bystander", {
        members: `onNodeCreate(node) { results.seen = [...(results.seen ?? []), node.name]; }`,
      }),
    }),
  };
}

/** Fails unless the secret is in no log line and no response body. */
function assertNoSecret(service: ProjectService): void {
  for (const line of service.lines) assert.ok(!line.includes(SECRET), `a log line: ${line}`);
  for (const body of service.bodies) assert.ok(!body.includes(SECRET), `a response: ${body}`);
}

/** Creates a node over HTTP; the bystanders get it. */
async function assertServiceGoesOn(service: ProjectService, name: string): Promise<void> {
  const created = await service.request("POST", "/nodes/", {
    mac: `52:54:00:00:0${name.length % 10}:0${name.length % 7}`,
    name,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  // The notifications ran before the answer: the bystanders have the node already.
  assert.deepEqual(await service.manager.call("vault_results"), { token: "set" });
  assert.deepEqual(await service.manager.call("bystander_results"), { seen: [name] });
  const version = await service.request("GET", "/version/");
  assert.equal(version.status, 200);
}

Deno.test("createSandboxLauncher() refuses at load, with the grant {}, an extension whose module graph reaches a host file", async (t) => {
  const project = makeProject();
  const escapers: Record<string, { imports?: string; members?: string; written: string }> = {
    static_json: {
      imports:
        `import secret from "../../secret.json" with { type: "json" };\nresults.secret = secret;`,
      written: "../../secret.json",
    },
    static_text: {
      imports:
        `import secret from "../../secret.txt" with { type: "text" };\nresults.secret = secret;`,
      written: "../../secret.txt",
    },
    host_config: {
      imports:
        `import config from "../../extensions.json" with { type: "json" };\nresults.secret = config;`,
      written: "../../extensions.json",
    },
    host_database: {
      imports: `import db from "../../nailgun.db" with { type: "text" };\nresults.secret = db;`,
      written: "../../nailgun.db",
    },
    dynamic_literal: {
      members: `async onNodeCreate() {
    results.secret = (await import("../../secret.json", { with: { type: "json" } })).default;
  }`,
      written: "../../secret.json",
    },
  };
  const { vault, bystander } = bystanders(project);
  const paths = Object.fromEntries(
    Object.entries(escapers).map((
      [name, escaper],
    ) => [name, project.extension(name, { "mod.js": extensionModule(name, escaper) })]),
  );
  const service = await startProjectService(project, {
    load: [
      vault,
      { specifier: bystander, sandbox: {} },
      ...Object.values(paths).map((specifier) => ({ specifier, sandbox: {} })),
    ],
  });
  try {
    assert.deepEqual(service.report.loaded.map((entry) => entry.name), ["vault", "bystander"]);
    for (const [name, escaper] of Object.entries(escapers)) {
      await t.step(name, () => {
        const failed = service.report.failed.find((entry) => entry.source === paths[name]);
        assert.ok(failed, `${name} is refused: ${JSON.stringify(service.report.failed)}`);
        assert.equal(failed.phase, "sandbox");
        assert.ok(
          failed.message.startsWith(
            `Cannot load extension "${paths[name]}": it imports ${
              JSON.stringify(escaper.written)
            } (${join(project.dir, escaper.written.slice("../../".length))}) from file://${
              paths[name]
            }, and it `,
          ),
          failed.message,
        );
        assert.match(
          failed.message,
          /move the file into the extension's package or grant read access to it/,
        );
      });
    }
    const status = await service.request("GET", "/extensions/status/");
    assert.equal(status.status, 200);
    await assertServiceGoesOn(service, "after-refusals");
    assertNoSecret(service);
  } finally {
    await service.close();
    await project.remove();
  }
});

Deno.test("createSandboxLauncher() lets an escape at run time fail in the Worker, with the grant {}", async () => {
  const project = makeProject();
  const secretUrl = `file://${join(project.dir, "secret.json")}`;
  const importer = `import secret from ${JSON.stringify(secretUrl)} with { type: "json" };
export default secret;
postMessage(JSON.stringify(secret));`;
  const runtime = project.extension("runtime", {
    "mod.js": extensionModule("runtime", {
      members: `async onNodeCreate() {
    const attempts = {
      computed: async () => (await import(["..", "..", "secret.json"].join("/"), { with: { type: "json" } })).default,
      data: async () => (await import("data:application/javascript," + encodeURIComponent(${
        JSON.stringify(importer)
      }))).default,
      blob: async () => (await import(URL.createObjectURL(new Blob([${
        JSON.stringify(importer)
      }], { type: "application/javascript" })))).default,
      fetch: async () => await (await fetch(${JSON.stringify(secretUrl)})).text(),
      read: async () => await Deno.readTextFile(${JSON.stringify(join(project.dir, "secret.txt"))}),
      broadcast: async () => new BroadcastChannel("nailgun"),
      post: async () => postMessage("from the extension"),
      internals: async () => Object.keys(Deno[Deno.internal]),
      worker: () => new Promise((resolve, reject) => {
        const worker = new Worker("data:application/javascript," + encodeURIComponent(${
        JSON.stringify(importer)
      }), { type: "module", deno: { permissions: "inherit" } });
        worker.onmessage = (event) => { worker.terminate(); resolve(event.data); };
        worker.onerror = (event) => { event.preventDefault(); worker.terminate(); reject(new Error(event.message)); };
      }),
    };
    for (const [name, attempt] of Object.entries(attempts)) {
      try {
        results[name] = "READ: " + JSON.stringify(await attempt());
      } catch (error) {
        results[name] = "refused: " + String(error?.name) + ": " + String(error?.message).split("\\n")[0];
      }
    }
  }`,
    }),
  });
  const { vault, bystander } = bystanders(project);
  const service = await startProjectService(project, {
    load: [vault, { specifier: bystander, sandbox: {} }, { specifier: runtime, sandbox: {} }],
  });
  try {
    assert.deepEqual(service.report.failed, []);
    await assertServiceGoesOn(service, "runtime-escape");
    const results = await service.manager.call("runtime_results") as Record<string, string>;
    assert.deepEqual(Object.keys(results), [
      "computed",
      "data",
      "blob",
      "fetch",
      "read",
      "broadcast",
      "post",
      "internals",
      "worker",
    ]);
    for (const [name, result] of Object.entries(results)) {
      assert.ok(result.startsWith("refused: "), `${name}: ${result}`);
      assert.ok(!result.includes(SECRET), `${name}: ${result}`);
    }
    assert.match(results.computed!, /Requires read access/);
    assert.match(results.data!, /Requires read access/);
    assert.match(results.blob!, /Requires read access/);
    assert.match(results.fetch!, /NotCapable: Requires read access/);
    assert.match(results.worker!, /Cannot create a Worker in the sandbox/);
    assert.match(results.broadcast!, /Cannot open a BroadcastChannel in the sandbox/);
    assert.match(results.post!, /Cannot post a message directly in the sandbox/);
    assert.match(
      results.internals!,
      /^refused: TypeError: Cannot convert undefined or null to object/,
    );
    assertNoSecret(service);
  } finally {
    await service.close();
    await project.remove();
  }
});

Deno.test("createSandboxLauncher() lets an extension import from a path its grant's read lists, and from its own package", async () => {
  const project = makeProject();
  Deno.mkdirSync(join(project.dir, "shared"));
  Deno.writeTextFileSync(join(project.dir, "shared", "volumes.json"), '{"disks":3}');
  const granted = project.extension("granted", {
    "mod.js": extensionModule("granted", {
      imports:
        `import volumes from "../../shared/volumes.json" with { type: "json" };\nresults.volumes = volumes;`,
    }),
  });
  const packaged = project.extension("packaged", {
    "deno.json": "{}\n",
    "data/labels.json": '{"label":"rack-1"}',
    "lib/helper.js": "export const helper = 'helped';\n",
    "src/mod.js": extensionModule("packaged", {
      imports: `import labels from "../data/labels.json" with { type: "json" };
import { helper } from "../lib/helper.js";
results.labels = labels;
results.helper = helper;`,
    }),
  }, "src/mod.js");
  const { vault, bystander } = bystanders(project);
  const service = await startProjectService(project, {
    load: [
      vault,
      { specifier: bystander, sandbox: {} },
      { specifier: granted, sandbox: { read: [join(project.dir, "shared")] } },
      { specifier: packaged, sandbox: {} },
    ],
  });
  try {
    assert.deepEqual(service.report.failed, []);
    assert.deepEqual(await service.manager.call("granted_results"), { volumes: { disks: 3 } });
    assert.deepEqual(await service.manager.call("packaged_results"), {
      labels: { label: "rack-1" },
      helper: "helped",
    });
    await assertServiceGoesOn(service, "granted");
    assertNoSecret(service);
  } finally {
    await service.close();
    await project.remove();
  }
});

Deno.test("createSandboxLauncher() never counts the project folder as the package of an extension inside it", async () => {
  const project = makeProject();
  // The project's deno.json is the nearest manifest of exts/nested/mod.ts:
  // the package is still exts/nested/, so the project's files stay out.
  const nested = project.extension("nested", {
    "mod.js": extensionModule("nested", {
      imports:
        `import secret from "../../secret.json" with { type: "json" };\nresults.secret = secret;`,
    }),
  });
  // A package that would hold the host's files is cut down to the module's own directory.
  Deno.writeTextFileSync(
    join(project.dir, "top.js"),
    extensionModule("top", {
      imports:
        `import secret from "./secret.json" with { type: "json" };\nresults.secret = secret;`,
    }),
  );
  const { vault, bystander } = bystanders(project);
  const service = await startProjectService(project, {
    load: [
      vault,
      { specifier: bystander, sandbox: {} },
      { specifier: nested, sandbox: {} },
      { specifier: join(project.dir, "top.js"), sandbox: {} },
    ],
  });
  try {
    assert.deepEqual(service.report.failed.map((entry) => [entry.source, entry.phase]), [
      [nested, "sandbox"],
      [join(project.dir, "top.js"), "sandbox"],
    ]);
    assert.match(
      service.report.failed[0]!.message,
      new RegExp(`outside the extension's package ${join(project.dir, "exts", "nested")}:`),
    );
    await assertServiceGoesOn(service, "nested");
    assertNoSecret(service);
  } finally {
    await service.close();
    await project.remove();
  }
});
