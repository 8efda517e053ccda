/**
 * `deno task new-extension`: what it writes, what it refuses, and that its
 * output passes its own tests, publishes to JSR and loads in the reference
 * service unchanged. The end-to-end test publishes this library to the
 * loopback JSR mirror, so that the package's `jsr:@nailgun/extensions`
 * dependency resolves as it will for users.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runDeno, startJsrMirror } from "./_registry/jsr_mirror.ts";
import {
  assertOk,
  createNode,
  exists,
  listExtensions,
  makeServiceHost,
  makeWorkspace,
  publishLibrary,
  readJson,
  REPO_ROOT,
  type RunningService,
  startService,
  type StatusReport,
  writeJson,
} from "./_install/host.ts";
import { createExtensionPackage } from "../src/scaffold/new_extension.ts";
import { VERSION } from "../src/version.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "nailgun-scaffold-" });
}

Deno.test("createExtensionPackage() writes a package that exports ./nailgun.extensions", async () => {
  const root = await tempDir();
  try {
    const dir = join(root, "audit");
    const created = await createExtensionPackage({ name: "audit_log", dir, scope: "@acme" });
    assert.deepEqual(created, {
      name: "audit_log",
      packageName: "@acme/audit-log",
      className: "AuditLogExtension",
      dir,
      files: ["README.md", "deno.json", "mod.ts", "mod_test.ts"],
    });
    const config = await readJson(join(dir, "deno.json"));
    assert.equal(config.name, "@acme/audit-log");
    assert.equal(config.version, "0.1.0");
    assert.equal(config.license, "MIT");
    assert.deepEqual(config.exports, { ".": "./mod.ts", "./nailgun.extensions": "./mod.ts" });
    assert.deepEqual(config.imports, {
      "@nailgun/extensions": `jsr:@nailgun/extensions@^${VERSION}`,
    });
    assert.equal((config.tasks as Record<string, string>).test, "deno test");
    const mod = await Deno.readTextFile(join(dir, "mod.ts"));
    assert.match(mod, /export class AuditLogExtension extends BaseExtension \{/);
    assert.match(mod, /readonly name: string = "audit_log";/);
    assert.match(mod, new RegExp(`readonly hostVersion: string = "\\^${VERSION}";`));
    assert.match(mod, /export default AuditLogExtension;/);
    assert.match(await Deno.readTextFile(join(dir, "README.md")), /deno add jsr:@acme\/audit-log/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("createExtensionPackage() names the class after the extension", async (t) => {
  const root = await tempDir();
  try {
    for (
      const [name, className] of [
        ["audit", "AuditExtension"],
        ["volume_manager2", "VolumeManager2Extension"],
        ["my_extension", "MyExtension"],
        ["base", "MyBaseExtension"],
      ]
    ) {
      await t.step(name, async () => {
        const created = await createExtensionPackage({ name, dir: join(root, name) });
        assert.equal(created.className, className);
        assert.equal(created.packageName, `@me/${name.replaceAll("_", "-")}`);
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("createExtensionPackage() rejects a name that is not an extension name", async (t) => {
  const root = await tempDir();
  try {
    for (const name of ["", "Audit", "1audit", "my-ext", "my ext", "ext!", `a${"b".repeat(64)}`]) {
      await t.step(JSON.stringify(name), async () => {
        const dir = join(root, "out");
        await assert.rejects(
          createExtensionPackage({ name, dir }),
          (error) =>
            error instanceof TypeError &&
            error.message ===
              `Cannot create extension "${name}": the name must start with a lowercase letter and hold only lowercase letters, digits and "_" (64 at most): current value is ${
                JSON.stringify(name)
              }`,
        );
        assert.equal(await exists(dir), false);
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("createExtensionPackage() rejects a scope or package name that JSR would refuse", async () => {
  const root = await tempDir();
  try {
    await assert.rejects(
      createExtensionPackage({ name: "audit", dir: join(root, "a"), scope: "acme" }),
      (error) =>
        error instanceof TypeError &&
        /^Cannot create extension "audit": the scope must be .*: current value is "acme"$/.test(
          error.message,
        ),
    );
    // "a" is a valid extension name but too short for a JSR package name.
    await assert.rejects(
      createExtensionPackage({ name: "a", dir: join(root, "b") }),
      (error) =>
        error instanceof TypeError &&
        /the package name must be .*: pass one with --package: current value is "a"$/.test(
          error.message,
        ),
    );
    const created = await createExtensionPackage({
      name: "a",
      dir: join(root, "c"),
      packageName: "nailgun-a",
    });
    assert.equal(created.packageName, "@me/nailgun-a");
    assert.equal(await exists(join(root, "a")), false);
    assert.equal(await exists(join(root, "b")), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("createExtensionPackage() refuses to write into a non-empty directory", async () => {
  const root = await tempDir();
  try {
    await Deno.writeTextFile(join(root, "notes.txt"), "mine");
    await assert.rejects(
      createExtensionPackage({ name: "audit", dir: root }),
      (error) =>
        error instanceof Deno.errors.AlreadyExists &&
        error.message ===
          `Cannot create extension "audit": the directory "${root}" is not empty (it holds "notes.txt"): choose another with --dir, or empty it`,
    );
    assert.deepEqual([...Deno.readDirSync(root)].map((entry) => entry.name), ["notes.txt"]);

    // An existing empty directory is fine.
    const empty = join(root, "empty");
    await Deno.mkdir(empty);
    const created = await createExtensionPackage({ name: "audit", dir: empty });
    assert.equal(created.files.length, 4);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task new-extension writes the package and says what to do next, or what is wrong", async () => {
  const root = await tempDir();
  try {
    const dir = join(root, "my_ext");
    const run = (...args: string[]) =>
      runDeno(["task", "--quiet", "new-extension", ...args], { cwd: REPO_ROOT });

    let out = await run("my_ext", "--dir", dir, "--scope", "@acme");
    assertOk(out, "deno task new-extension");
    assert.match(out.stdout, /^Created the extension "my_ext" \(package @acme\/my-ext\) in /);
    assert.match(out.stdout, /deno add jsr:@acme\/my-ext/);
    assert.ok(await exists(join(dir, "mod_test.ts")));

    out = await run("my_ext", "--dir", dir);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /Cannot create extension "my_ext": the directory ".*" is not empty/);

    out = await run("My-Ext", "--dir", join(root, "other"));
    assert.equal(out.code, 1);
    assert.match(out.stderr, /Cannot create extension "My-Ext": the name must start with/);

    out = await run();
    assert.equal(out.code, 1);
    assert.match(out.stderr, /expected one NAME/);
    assert.match(out.stderr, /Usage: deno task new-extension NAME/);

    out = await run("--help");
    assertOk(out, "--help");
    assert.match(out.stdout, /^Usage: deno task new-extension NAME/);
    assert.equal(await exists(join(root, "other")), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task new-extension writes relative to the directory it was typed in", async () => {
  const root = await tempDir();
  const name = "scaffold_cwd_probe";
  try {
    // `deno task` runs in the directory of deno.json (the repository), and
    // sets INIT_CWD to where the user typed the command.
    let out = await runDeno(
      ["task", "--quiet", "--config", join(REPO_ROOT, "deno.json"), "new-extension", name],
      { cwd: root },
    );
    assertOk(out, "deno task new-extension NAME");
    assert.equal(await exists(join(REPO_ROOT, name)), false, "written into the repository");
    assert.ok(await exists(join(root, name, "deno.json")));
    assert.match(out.stdout, new RegExp(`cd \\./${name}\\n`));

    out = await runDeno(
      [
        "task",
        "--quiet",
        "--config",
        join(REPO_ROOT, "deno.json"),
        "new-extension",
        "nested",
        "--dir",
        `${name}_dir/nested`,
      ],
      { cwd: root },
    );
    assertOk(out, "deno task new-extension NAME --dir DIR");
    assert.ok(await exists(join(root, `${name}_dir`, "nested", "mod.ts")));
  } finally {
    await Deno.remove(root, { recursive: true });
    // Had the path been taken relative to the repository, clean up there too.
    for (const dir of [name, `${name}_dir`]) {
      await Deno.remove(join(REPO_ROOT, dir), { recursive: true }).catch(() => {});
    }
  }
});

Deno.test("the generated package passes its own tests, publishes to JSR and loads in the service unchanged", async () => {
  const started = Date.now();
  const ws = await makeWorkspace("scaffold");
  const mirror = await startJsrMirror();
  let service: RunningService | undefined;
  try {
    await publishLibrary(mirror, ws);
    const env = { JSR_URL: mirror.url, DENO_DIR: ws.denoDir };

    // Run from JSR, as users without a clone do.
    const dir = ws.path("packages", "greeter");
    const scaffolded = await runDeno(
      [
        "run",
        "-A",
        "jsr:@nailgun/extensions/new-extension",
        "greeter",
        "--dir",
        dir,
        "--scope",
        "@acme",
      ],
      { cwd: ws.root, env },
    );
    assertOk(scaffolded, "deno run jsr:@nailgun/extensions/new-extension");

    assertOk(await runDeno(["task", "test"], { cwd: dir, env }), "deno task test (generated)");
    assertOk(await runDeno(["fmt", "--check"], { cwd: dir, env }), "deno fmt --check (generated)");
    assertOk(await runDeno(["lint"], { cwd: dir, env }), "deno lint (generated)");

    // Before publishing, the author tries it in a Nailgun project by listing
    // its path in extensions.json (the project's import map resolves its
    // bare "@nailgun/extensions").
    const host = await makeServiceHost(ws);
    await writeJson(`${host}/extensions.json`, {
      "nailgun.extensions": { load: ["../packages/greeter/mod.ts"], discover: true },
    });
    const tried = await runDeno(["task", "--quiet", "extensions", "--json"], { cwd: host, env });
    assertOk(tried, "deno task extensions --json (extension listed by path)");
    const report = JSON.parse(tried.stdout) as StatusReport;
    assert.deepEqual(report.failed, []);
    assert.deepEqual(
      report.loaded.map((extension) => [extension.name, extension.source]),
      [["greeter", "../packages/greeter/mod.ts"]],
    );
    await writeJson(`${host}/extensions.json`, {
      "nailgun.extensions": { load: [], discover: true },
    });

    // The real `deno publish`: type check, no slow types, license, exports.
    await mirror.publish(dir, { env: { DENO_DIR: ws.denoDir } });

    assertOk(await runDeno(["add", "jsr:@acme/greeter"], { cwd: host, env }), "deno add");
    service = await startService(host, { env, database: ws.path("nailgun.db") });
    assert.deepEqual(await listExtensions(service), [{
      name: "greeter",
      version: "0.1.0",
      description: "Logs new nodes and deleted clusters.",
      provides: [],
      source: "@acme/greeter",
    }]);
    const node = await createNode(service, "52:54:00:12:34:56");
    await service.waitForOutput(
      new RegExp(`\\[greeter\\] node ${node.id} created \\(mac 52:54:00:12:34:56\\)`),
    );
  } finally {
    await service?.stop();
    await mirror.close();
    await ws.cleanup();
  }
  console.log(`  took ${Date.now() - started} ms`);
});
