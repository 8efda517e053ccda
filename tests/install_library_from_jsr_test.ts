/**
 * The library as other projects get it: `@nailgun/extensions` published to
 * the loopback JSR mirror with the real `deno publish`, a separate host
 * project that imports it from there, an extension package from the mirror
 * that depends on it, and an extension written against a second copy of the
 * library (this repository's). Verification is structural, so the host's copy
 * accepts both.
 *
 * Needs the npm registry for the library's npm imports; everything else is loopback.
 *
 * @module
 */
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { runDeno, startJsrMirror } from "./_registry/jsr_mirror.ts";
import {
  assertOk,
  makeWorkspace,
  publishLibrary,
  readJson,
  REPO_ROOT,
  writeFiles,
  writeJson,
} from "./_install/host.ts";

/** The extension package from JSR: it depends on the library and extends BaseExtension. */
const AUDIT_PACKAGE: Record<string, string> = {
  "deno.json": JSON.stringify(
    {
      name: "@test/audit",
      version: "1.2.0",
      license: "MIT",
      exports: { ".": "./mod.ts", "./nailgun.extensions": "./mod.ts" },
      imports: { "@nailgun/extensions": "jsr:@nailgun/extensions@^0.1.0" },
    },
    null,
    2,
  ),
  "mod.ts": `/**
 * Records the nodes it is told about.
 *
 * @module
 */
import { BaseExtension, type Node } from "@nailgun/extensions";

/** Records the nodes it is told about. */
export default class Audit extends BaseExtension {
  /** Its name. */
  readonly name: string = "audit";
  /** Its version. */
  readonly version: string = "1.2.0";
  /** What it does. */
  readonly description: string = "Audits node changes.";
  /** The library range it was written for. */
  override readonly hostVersion: string = "^0.1.0";

  /**
   * Logs the node.
   *
   * @param node The new node.
   */
  override onNodeCreate(node: Node): void {
    this.context.logger.info(\`audited node \${node.id}\`);
  }
}
`,
};

/** The host: it loads extensions with the JSR copy of the library and delivers one event. */
const HOST_MAIN =
  `import { BaseExtension, loadExtensions, type Logger, type Node } from "@nailgun/extensions";

const lines: string[] = [];
const record = (line: string) => {
  lines.push(line);
};
const logger: Logger = { debug: record, info: record, warn: record, error: record };
const { manager, report } = await loadExtensions({
  configFile: "./extensions.json",
  importModule: (specifier) => import(specifier),
  services: { logger },
});
lines.length = 0;
const node: Node = {
  id: 5, uuid: "u5", mac: "52:54:00:00:00:05", name: "node-5", hostname: "node-5",
  status: "discover", cluster_id: null, group_id: null, roles: [], pending_roles: [],
  pending_addition: false, pending_deletion: false, online: true, meta: {},
};
const result = await manager.notify("onNodeCreate", node);
console.log(JSON.stringify({
  library: import.meta.resolve("@nailgun/extensions"),
  report,
  failures: result.failures.map((failure) => String(failure.error ?? failure)),
  lines,
  instanceOfHostBase: Object.fromEntries(
    manager.names.map((name) => [name, manager.get(name) instanceof BaseExtension]),
  ),
}));
await manager.teardown();
`;

Deno.test("loadExtensions() from the JSR copy of the library accepts extensions built on a JSR copy and on a second, local copy", async () => {
  const started = Date.now();
  const ws = await makeWorkspace("install-library");
  const mirror = await startJsrMirror();
  try {
    await publishLibrary(mirror, ws);
    await writeFiles(ws.path("audit"), AUDIT_PACKAGE);
    await mirror.publish(ws.path("audit"), { env: { DENO_DIR: ws.denoDir } });

    // A separate project: nothing of this repository, except the second copy
    // of the library that local_ext.ts imports by its file URL (whose own
    // npm imports, the host maps).
    const host = ws.path("host");
    const localCopy = pathToFileURL(`${REPO_ROOT}/mod.ts`).href;
    await writeFiles(host, {
      "main.ts": HOST_MAIN,
      "local_ext.ts": `import { BaseExtension, type Node } from "${localCopy}";

export default class Local extends BaseExtension {
  readonly name = "local";
  readonly version = "0.3.0";
  readonly description = "Built on this repository's copy of the library.";
  override readonly hostVersion = "^0.1.0";
  override onNodeCreate(node: Node): void {
    this.context.logger.info(\`local saw node \${node.id}\`);
  }
}
`,
    });
    const rootConfig = await readJson(`${REPO_ROOT}/deno.json`);
    const libraryImports = Object.fromEntries(
      Object.entries(rootConfig.imports as Record<string, string>).filter(([, target]) =>
        target.startsWith("npm:")
      ),
    );
    await writeJson(`${host}/deno.json`, { imports: libraryImports });
    await writeJson(`${host}/extensions.json`, {
      "nailgun.extensions": { load: ["./local_ext.ts"], discover: true },
    });
    const env = { JSR_URL: mirror.url, DENO_DIR: ws.denoDir };
    assertOk(
      await runDeno(["add", "jsr:@nailgun/extensions", "jsr:@test/audit"], { cwd: host, env }),
      "deno add",
    );
    const imports = (await readJson(`${host}/deno.json`)).imports as Record<string, string>;
    assert.equal(imports["@nailgun/extensions"], "jsr:@nailgun/extensions@^0.1.0");
    assert.equal(imports["@test/audit"], "jsr:@test/audit@^1.2.0");

    const out = await runDeno(["run", "-A", "main.ts"], { cwd: host, env });
    assertOk(out, "the host");
    const result = JSON.parse(out.stdout.trim().split("\n").at(-1)!);

    // The host runs the library from the mirror, not from this repository.
    assert.ok(
      result.library.startsWith(`${mirror.url}@nailgun/extensions/0.1.0/`),
      `library resolved to ${result.library}`,
    );
    assert.deepEqual(result.report.failed, []);
    assert.deepEqual(
      result.report.loaded.map((e: { name: string; source: string }) => [e.name, e.source]),
      [["local", "./local_ext.ts"], ["audit", "@test/audit"]],
    );
    // Packages of the import map without ./nailgun.extensions are passed over.
    assert.deepEqual(
      result.report.skipped.map((s: { source: string }) => s.source).sort(),
      ["@nailgun/extensions", ...Object.keys(libraryImports)].sort(),
    );
    // Two copies of the library: the local extension is no instance of the
    // host's BaseExtension, and was accepted all the same.
    assert.deepEqual(result.instanceOfHostBase, { local: false, audit: true });
    assert.deepEqual(result.failures, []);
    assert.deepEqual(result.lines, ["[local] local saw node 5", "[audit] audited node 5"]);
  } finally {
    await mirror.close();
    await ws.cleanup();
  }
  console.log(`  took ${Date.now() - started} ms`);
});
