/**
 * Discovery never runs the code of a package that is not an extension: a JSR
 * package and two npm packages (one with `exports`, one from before `exports`,
 * with only `main`) that do not export `./nailgun.extensions` are installed
 * with `deno add` into a Nailgun project. After a restart none is loaded or
 * reported as failed, and the file each one writes when its code runs was
 * not written. A control import of the same packages writes all three.
 *
 * Needs Verdaccio (`bash tests/_registry/install_verdaccio.sh`) and the npm
 * registry for zod and semver; everything else is loopback.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runDeno, startJsrMirror } from "./_registry/jsr_mirror.ts";
import { startVerdaccio } from "./_registry/verdaccio.ts";
import {
  assertOk,
  exists,
  listExtensions,
  makeServiceHost,
  makeWorkspace,
  MARKER_ENV,
  type RunningService,
  startService,
  type StatusReport,
  writeFiles,
} from "./_install/host.ts";

/** Top-level code that leaves a file named after the package in `$NAILGUN_TEST_MARKER`. */
function sideEffect(name: string): string {
  return `import fs from "node:fs";
import process from "node:process";
const dir = process.env.${MARKER_ENV};
if (dir) fs.writeFileSync(dir + "/${name}", "${name} ran");
`;
}

Deno.test("discovery skips packages without ./nailgun.extensions and runs none of their code", async () => {
  const started = Date.now();
  const ws = await makeWorkspace("install-skip");
  const mirror = await startJsrMirror();
  let registry: Awaited<ReturnType<typeof startVerdaccio>> | undefined;
  let service: RunningService | undefined;
  try {
    registry = await startVerdaccio();
    await writeFiles(ws.path("jsr-utils"), {
      "deno.json": JSON.stringify({
        name: "@test/plain-utils",
        version: "1.0.0",
        license: "MIT",
        exports: { ".": "./mod.ts", "./extra": "./extra.ts" },
      }),
      "mod.ts": `${sideEffect("jsr-utils")}export const utils: string = "jsr";\n`,
      "extra.ts": `${sideEffect("jsr-utils-extra")}export const extra: string = "extra";\n`,
    });
    await mirror.publish(ws.path("jsr-utils"), { env: { DENO_DIR: ws.denoDir } });
    await writeFiles(ws.path("npm-utils"), {
      "package.json": JSON.stringify({
        name: "test-plain-utils",
        version: "1.0.0",
        type: "module",
        exports: { ".": "./index.js" },
      }),
      "index.js": `${sideEffect("npm-utils")}export const utils = "npm";\n`,
    });
    await registry.publish(ws.path("npm-utils"));
    await writeFiles(ws.path("npm-legacy"), {
      "package.json": JSON.stringify({
        name: "test-legacy-utils",
        version: "1.0.0",
        type: "module",
        main: "index.js",
      }),
      "index.js": `${sideEffect("npm-legacy")}export const utils = "legacy";\n`,
    });
    await registry.publish(ws.path("npm-legacy"));

    const host = await makeServiceHost(ws);
    const markers = ws.path("markers");
    await Deno.mkdir(markers);
    const env = {
      JSR_URL: mirror.url,
      NPM_CONFIG_REGISTRY: registry.url,
      DENO_DIR: ws.denoDir,
      [MARKER_ENV]: markers,
    };
    assertOk(
      await runDeno([
        "add",
        "--min-dep-age=0",
        "jsr:@test/plain-utils",
        "npm:test-plain-utils",
        "npm:test-legacy-utils",
      ], { cwd: host, env }),
      "deno add",
    );

    service = await startService(host, { env, database: ws.path("nailgun.db") });
    assert.deepEqual(await listExtensions(service), []);
    const status = await service.json("/extensions/status/") as StatusReport;
    assert.deepEqual(status.failed, []);
    const skipped = status.skipped.map((entry) => entry.source);
    for (const key of ["@test/plain-utils", "test-plain-utils", "test-legacy-utils"]) {
      assert.ok(skipped.includes(key), `${key} is not reported as skipped: ${skipped}`);
    }
    assert.equal(await service.stop(), 0, `the service did not stop cleanly:\n${service.output()}`);
    assert.deepEqual([...Deno.readDirSync(markers)], [], "a package's code ran during discovery");

    // Control: importing the packages themselves runs their code.
    await writeFiles(host, {
      "control.ts": `import "@test/plain-utils";
import "test-plain-utils";
import "test-legacy-utils";
`,
    });
    assertOk(await runDeno(["run", "-A", "control.ts"], { cwd: host, env }), "control import");
    for (const name of ["jsr-utils", "npm-utils", "npm-legacy"]) {
      assert.ok(await exists(`${markers}/${name}`), `the control import did not run ${name}`);
    }
  } finally {
    await service?.stop();
    await registry?.close();
    await mirror.close();
    await ws.cleanup();
  }
  console.log(`  took ${Date.now() - started} ms`);
});
