/**
 * End-to-end checks of the registry test harness (tests/_registry/): packages
 * published to the loopback JSR mirror and to Verdaccio are installed with
 * `deno add` into a throwaway project and run with `deno run`, each test with its
 * own DENO_DIR. Needs Verdaccio installed (`bash tests/_registry/install_verdaccio.sh`)
 * and the npm registry reachable (for zod).
 *
 * Run: deno test -A tests/registry_harness_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type JsrMirror,
  runDeno,
  type RunDenoResult,
  startJsrMirror,
} from "./_registry/jsr_mirror.ts";
import { type NpmRegistry, startVerdaccio } from "./_registry/verdaccio.ts";

const MARKER_ENV = "NAILGUN_TEST_MARKER";

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    await Deno.mkdir(join(full, ".."), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Temp dirs and child-process env for one test; `cleanup()` removes the dirs. */
async function workspace() {
  const root = await Deno.makeTempDir({ prefix: "nailgun-registry-test-" });
  const dirs = {
    root,
    pkg: join(root, "pkg"),
    app: join(root, "app"),
    publishDenoDir: join(root, "deno-dir-publish"),
    appDenoDir: join(root, "deno-dir-app"),
    marker: join(root, "side-effect-marker"),
  };
  for (const d of [dirs.pkg, dirs.app, dirs.publishDenoDir, dirs.appDenoDir]) {
    await Deno.mkdir(d, { recursive: true });
  }
  return {
    ...dirs,
    cleanup: () => Deno.remove(root, { recursive: true }).catch(() => {}),
  };
}

function assertOk(out: RunDenoResult, what: string): void {
  assert.ok(out.success, `${what} failed (exit ${out.code}):\n${out.output}`);
}

// ---------------------------------------------------------------------------
// JSR mirror

const HELLO_PKG = {
  "deno.json": JSON.stringify(
    {
      name: "@test/hello",
      version: "1.0.0",
      license: "MIT",
      exports: { ".": "./mod.ts", "./nailgun.extensions": "./ext.ts" },
      publish: { exclude: ["**/*_test.ts"] },
    },
    null,
    2,
  ),
  // Top-level side effect: proves whether mod.ts was evaluated.
  "mod.ts": `const marker = Deno.env.get("${MARKER_ENV}");
if (marker) Deno.writeTextFileSync(marker, "mod.ts ran");
export const greeting: string = "hello";
`,
  "ext.ts": `export interface ExtensionInfo {
  name: string;
  version: string;
}
export const extensions: ExtensionInfo[] = [{ name: "hello", version: "1.0.0" }];
`,
  // Not exported: importing it must fail.
  "internal.ts": `const marker = Deno.env.get("${MARKER_ENV}");
if (marker) Deno.writeTextFileSync(marker, "internal.ts ran");
export const internal: number = 1;
`,
  // Excluded from publishing by publish.exclude.
  "mod_test.ts": `Deno.test("never published", () => {});\n`,
};

Deno.test("jsr mirror: deno add + import the nailgun.extensions subpath; unexported subpaths fail without side effects", async () => {
  const ws = await workspace();
  let mirror: JsrMirror | undefined;
  try {
    mirror = await startJsrMirror();
    await writeFiles(ws.pkg, HELLO_PKG);
    const published = await mirror.publish(ws.pkg, { env: { DENO_DIR: ws.publishDenoDir } });
    assert.deepEqual(published, { name: "@test/hello", version: "1.0.0" });
    const served = mirror.files("@test/hello", "1.0.0")!;
    assert.deepEqual(Object.keys(served).sort(), [
      "/deno.json",
      "/ext.ts",
      "/internal.ts",
      "/mod.ts",
    ]);

    // The registry documents, as Deno reads them.
    const meta = await (await fetch(`${mirror.url}@test/hello/meta.json`)).json();
    assert.equal(meta.latest, "1.0.0");
    assert.equal(meta.versions["1.0.0"].createdAt, "2020-01-01T00:00:00.000Z");
    const versionMeta = await (await fetch(`${mirror.url}@test/hello/1.0.0_meta.json`)).json();
    assert.deepEqual(versionMeta.exports, {
      ".": "./mod.ts",
      "./nailgun.extensions": "./ext.ts",
    });
    assert.match(versionMeta.manifest["/mod.ts"].checksum, /^sha256-[0-9a-f]{64}$/);

    const env = { JSR_URL: mirror.url, DENO_DIR: ws.appDenoDir, [MARKER_ENV]: ws.marker };
    await writeFiles(ws.app, { "deno.json": "{}\n" });
    assertOk(await runDeno(["add", "jsr:@test/hello"], { cwd: ws.app, env }), "deno add");
    const config = JSON.parse(await Deno.readTextFile(join(ws.app, "deno.json")));
    assert.equal(config.imports["@test/hello"], "jsr:@test/hello@^1.0.0");

    // Static import of the exported subpath: works, and mod.ts is not evaluated.
    await writeFiles(ws.app, {
      "static.ts": `import { extensions } from "@test/hello/nailgun.extensions";
console.log(JSON.stringify(extensions));
`,
    });
    let out = await runDeno(["run", "-A", "static.ts"], { cwd: ws.app, env });
    assertOk(out, "static import");
    assert.equal(out.stdout.trim(), `[{"name":"hello","version":"1.0.0"}]`);
    assert.equal(await exists(ws.marker), false, "importing ext.ts must not run mod.ts");

    // Dynamic import() with specifiers unknown until run time, in a `deno run -A`
    // process: the bare name mapped by `deno add`, and a full jsr: specifier.
    await writeFiles(ws.app, {
      "dynamic.ts": `const [bare, full] = Deno.args;
const a = await import(bare);
const b = await import(full);
console.log(JSON.stringify([a.extensions[0].name, b.extensions[0].name]));
`,
    });
    out = await runDeno(
      [
        "run",
        "-A",
        "dynamic.ts",
        "@test/hello/nailgun.extensions",
        "jsr:@test/hello@^1.0.0/nailgun.extensions",
      ],
      { cwd: ws.app, env },
    );
    assertOk(out, "dynamic import");
    assert.equal(out.stdout.trim(), `["hello","hello"]`);
    assert.equal(await exists(ws.marker), false);

    // Unexported subpaths fail, statically and dynamically, and nothing runs.
    for (const spec of ["@test/hello/internal.ts", "@test/hello/missing"]) {
      await writeFiles(ws.app, { "bad.ts": `import * as m from "${spec}";\nconsole.log(m);\n` });
      out = await runDeno(["run", "-A", "bad.ts"], { cwd: ws.app, env });
      assert.equal(out.success, false, `importing ${spec} should fail:\n${out.output}`);
      assert.match(out.stderr, /Unknown export/, out.output);
    }
    await writeFiles(ws.app, {
      "bad_dynamic.ts": `try {
  await import(Deno.args[0]);
  console.log("imported");
} catch (e) {
  console.log("rejected: " + (e as Error).name + " " + (e as { code?: string }).code + " " + (e as Error).message);
}
`,
    });
    out = await runDeno(
      ["run", "-A", "bad_dynamic.ts", "jsr:@test/hello@^1.0.0/internal.ts"],
      { cwd: ws.app, env },
    );
    assertOk(out, "dynamic import of an unexported subpath (caught)");
    // The rejection is a TypeError with code ERR_MODULE_NOT_FOUND.
    assert.match(out.stdout, /^rejected: TypeError \S+ Unknown export/, out.output);
    assert.equal(await exists(ws.marker), false, "no module of the package may have run");

    // Control: the marker mechanism works (importing "." runs mod.ts).
    await writeFiles(ws.app, {
      "root.ts": `import { greeting } from "@test/hello";\nconsole.log(greeting);\n`,
    });
    out = await runDeno(["run", "-A", "root.ts"], { cwd: ws.app, env });
    assertOk(out, "import of the root export");
    assert.equal(out.stdout.trim(), "hello");
    assert.equal(await Deno.readTextFile(ws.marker), "mod.ts ran");

    // Publishing the same version again is refused, as on jsr.io.
    await assert.rejects(mirror.publish(ws.pkg), /already published/);
  } finally {
    await mirror?.close();
    await ws.cleanup();
  }
});

Deno.test("jsr mirror: bare imports from the package's own deno.json (npm:zod, another JSR package) are unfurled at publish", async () => {
  const ws = await workspace();
  let mirror: JsrMirror | undefined;
  try {
    mirror = await startJsrMirror();
    const basePkg = join(ws.root, "base");
    await writeFiles(basePkg, {
      "deno.json": JSON.stringify({
        name: "@test/base",
        version: "1.2.0",
        license: "MIT",
        exports: "./mod.ts",
      }),
      "mod.ts": `export function shout(s: string): string {\n  return s.toUpperCase() + "!";\n}\n`,
    });
    await mirror.publish(basePkg, { env: { DENO_DIR: ws.publishDenoDir } });

    await writeFiles(ws.pkg, {
      "deno.json": JSON.stringify({
        name: "@test/uses-deps",
        version: "0.3.0",
        license: "MIT",
        exports: { ".": "./mod.ts", "./nailgun.extensions": "./ext.ts" },
        imports: { "zod": "npm:zod@^4.1.0", "@test/base": "jsr:@test/base@^1.0.0" },
      }),
      "mod.ts": `import { z } from "zod";
import { shout } from "@test/base";
export function greet(name: unknown): string {
  return shout("hello " + z.string().min(1).parse(name));
}
`,
      "ext.ts": `import { greet } from "./mod.ts";\nexport const message: string = greet("ext");\n`,
    });
    await mirror.publish(ws.pkg, { env: { DENO_DIR: ws.publishDenoDir } });

    // What jsr.io would store: bare specifiers replaced by the import map's targets.
    const served = mirror.files("@test/uses-deps", "0.3.0")!;
    assert.match(served["/mod.ts"], /from "npm:zod@\^4\.1\.0"/);
    assert.match(served["/mod.ts"], /from "jsr:@test\/base@\^1\.0\.0"/);

    const env = { JSR_URL: mirror.url, DENO_DIR: ws.appDenoDir };
    await writeFiles(ws.app, { "deno.json": "{}\n" });
    assertOk(await runDeno(["add", "jsr:@test/uses-deps"], { cwd: ws.app, env }), "deno add");
    await writeFiles(ws.app, {
      "main.ts": `import { greet } from "@test/uses-deps";
import { message } from "@test/uses-deps/nailgun.extensions";
console.log(greet("world"));
console.log(message);
try {
  greet(42);
} catch (e) {
  console.log((e as Error).constructor.name);
}
`,
    });
    const out = await runDeno(["run", "-A", "main.ts"], { cwd: ws.app, env });
    assertOk(out, "run");
    assert.deepEqual(out.stdout.trim().split("\n"), ["HELLO WORLD!", "HELLO EXT!", "ZodError"]);

    // Deno does not apply a JSR package's deno.json "imports" when loading it: a
    // package served with bare specifiers (i.e. not unfurled) cannot be installed.
    mirror.publishFiles("@test/not-unfurled", "1.0.0", {
      "deno.json": JSON.stringify({
        name: "@test/not-unfurled",
        version: "1.0.0",
        exports: "./mod.ts",
        imports: { "zod": "npm:zod@^4.1.0" },
      }),
      "mod.ts": `import { z } from "zod";\nexport const ok: string = z.string().parse("ok");\n`,
    }, "./mod.ts");
    const bad = await runDeno(["add", "jsr:@test/not-unfurled"], { cwd: ws.app, env });
    assert.equal(bad.success, false, bad.output);
    assert.match(bad.stderr, /Import "zod" not a dependency/, bad.output);
  } finally {
    await mirror?.close();
    await ws.cleanup();
  }
});

// ---------------------------------------------------------------------------
// Verdaccio

Deno.test("verdaccio: deno add npm:hello-ext + import the nailgun.extensions subpath; unexported subpaths fail without side effects", async () => {
  const ws = await workspace();
  let registry: NpmRegistry | undefined;
  try {
    registry = await startVerdaccio();
    await writeFiles(ws.pkg, {
      "package.json": JSON.stringify(
        {
          name: "hello-ext",
          version: "1.0.0",
          type: "module",
          exports: { ".": "./index.js", "./nailgun.extensions": "./ext.js" },
          // Proxied from the real npm registry through Verdaccio's uplink.
          dependencies: { "zod": "^4.1.0" },
        },
        null,
        2,
      ),
      "index.js": `import fs from "node:fs";
import process from "node:process";
if (process.env.${MARKER_ENV}) fs.writeFileSync(process.env.${MARKER_ENV}, "index.js ran");
export const greeting = "hello";
`,
      "ext.js": `import { z } from "zod";
export const extensions = [{ name: z.string().parse("hello-ext"), version: "1.0.0" }];
`,
      "internal.js": `import fs from "node:fs";
import process from "node:process";
if (process.env.${MARKER_ENV}) fs.writeFileSync(process.env.${MARKER_ENV}, "internal.js ran");
export const internal = 1;
`,
    });
    assert.deepEqual(await registry.publish(ws.pkg), { name: "hello-ext", version: "1.0.0" });
    const packument = await (await fetch(`${registry.url}hello-ext`)).json();
    assert.equal(packument["dist-tags"].latest, "1.0.0");

    const env = {
      NPM_CONFIG_REGISTRY: registry.url,
      DENO_DIR: ws.appDenoDir,
      [MARKER_ENV]: ws.marker,
    };
    await writeFiles(ws.app, { "deno.json": "{}\n" });
    // Just published, so younger than Deno's default minimum dependency age (24 h).
    const tooNew = await runDeno(["add", "npm:hello-ext"], { cwd: ws.app, env });
    assert.equal(tooNew.success, false, tooNew.output);
    assert.match(tooNew.stderr, /minimum dependency/, tooNew.output);

    assertOk(
      await runDeno(["add", "--min-dep-age=0", "npm:hello-ext"], { cwd: ws.app, env }),
      "deno add",
    );
    const config = JSON.parse(await Deno.readTextFile(join(ws.app, "deno.json")));
    assert.equal(config.imports["hello-ext"], "npm:hello-ext@^1.0.0");

    await writeFiles(ws.app, {
      "static.ts": `import { extensions } from "hello-ext/nailgun.extensions";
console.log(JSON.stringify(extensions));
`,
    });
    let out = await runDeno(["run", "-A", "static.ts"], { cwd: ws.app, env });
    assertOk(out, "static import");
    assert.equal(out.stdout.trim(), `[{"name":"hello-ext","version":"1.0.0"}]`);
    assert.equal(await exists(ws.marker), false, "importing ext.js must not run index.js");

    await writeFiles(ws.app, {
      "dynamic.ts": `const [bare, full] = Deno.args;
const a = await import(bare);
const b = await import(full);
console.log(JSON.stringify([a.extensions[0].name, b.extensions[0].name]));
`,
    });
    out = await runDeno(
      [
        "run",
        "-A",
        "dynamic.ts",
        "hello-ext/nailgun.extensions",
        "npm:hello-ext@^1.0.0/nailgun.extensions",
      ],
      { cwd: ws.app, env },
    );
    assertOk(out, "dynamic import");
    assert.equal(out.stdout.trim(), `["hello-ext","hello-ext"]`);

    for (const spec of ["hello-ext/internal.js", "hello-ext/missing"]) {
      await writeFiles(ws.app, { "bad.ts": `import * as m from "${spec}";\nconsole.log(m);\n` });
      out = await runDeno(["run", "-A", "bad.ts"], { cwd: ws.app, env });
      assert.equal(out.success, false, `importing ${spec} should fail:\n${out.output}`);
      assert.match(out.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/, out.output);
    }
    await writeFiles(ws.app, {
      "bad_dynamic.ts": `try {
  await import(Deno.args[0]);
  console.log("imported");
} catch (e) {
  console.log("rejected: " + (e as { code?: string }).code + " " + (e as Error).message);
}
`,
    });
    out = await runDeno(["run", "-A", "bad_dynamic.ts", "hello-ext/internal.js"], {
      cwd: ws.app,
      env,
    });
    assertOk(out, "dynamic import of an unexported subpath (caught)");
    // Surprise: the rejection's `code` is ERR_MODULE_NOT_FOUND; the message names
    // ERR_PACKAGE_PATH_NOT_EXPORTED.
    assert.match(out.stdout, /^rejected: \S+ \[ERR_PACKAGE_PATH_NOT_EXPORTED\]/, out.output);
    assert.equal(await exists(ws.marker), false, "no module of the package may have run");

    // Control: importing "." runs index.js.
    await writeFiles(ws.app, {
      "root.ts": `import { greeting } from "hello-ext";\nconsole.log(greeting);\n`,
    });
    out = await runDeno(["run", "-A", "root.ts"], { cwd: ws.app, env });
    assertOk(out, "import of the root export");
    assert.equal(out.stdout.trim(), "hello");
    assert.equal(await Deno.readTextFile(ws.marker), "index.js ran");
  } finally {
    await registry?.close();
    await ws.cleanup();
  }
});
