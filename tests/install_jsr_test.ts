/**
 * Install an extension from JSR, as the original request's acceptance
 * criterion says: publish `examples/logging` (and this library, which it
 * depends on) to the loopback JSR mirror with the real `deno publish`; in a
 * Nailgun project, `deno add jsr:@nailgun/logging`; restart: it is listed and
 * receives events; `deno remove`; restart: gone. Once in a plain project
 * folder, once in one whose path holds a space, `#`, `%` and non-ASCII letters.
 *
 * Needs the npm registry for zod, semver and jsonc-parser; everything else is loopback.
 *
 * @module
 */
import { join } from "node:path";
import { startJsrMirror } from "./_registry/jsr_mirror.ts";
import {
  AWKWARD_FOLDER,
  copyRepoDir,
  makeWorkspace,
  publishLibrary,
  readJson,
} from "./_install/host.ts";
import { checkInstallFlow } from "./_install/install_flow.ts";

Deno.test("deno add jsr:@nailgun/logging and a restart install the extension; deno remove and a restart uninstall it", async (t) => {
  const started = Date.now();
  const ws = await makeWorkspace("install-jsr");
  const mirror = await startJsrMirror();
  try {
    await publishLibrary(mirror, ws);
    const logging = await copyRepoDir("examples/logging", ws.path("logging"));
    await mirror.publish(logging, { env: { DENO_DIR: ws.denoDir } });
    const config = await readJson(`${logging}/deno.json`);
    console.log(`  published in ${Date.now() - started} ms`);

    const folders = [
      ["in a plain project folder", "nailgun"],
      [`in a project folder named "${AWKWARD_FOLDER}"`, join(AWKWARD_FOLDER, "nailgun")],
    ];
    for (const [what, hostFolder] of folders) {
      await t.step(what!, async () => {
        const times = await checkInstallFlow({
          ws,
          hostFolder,
          env: { JSR_URL: mirror.url, DENO_DIR: ws.denoDir },
          add: ["jsr:@nailgun/logging"],
          key: "@nailgun/logging",
          target: `jsr:@nailgun/logging@^${config.version}`,
          listed: {
            name: "logging",
            version: String(config.version),
            description: "Logs one line for every node, node group and cluster event.",
            provides: [],
            source: "@nailgun/logging",
          },
          nodeCreatedLine: (id, mac) =>
            new RegExp(`\\[logging\\] node ${id} created \\(mac ${mac}`),
        });
        console.log(`  ${what}: ${JSON.stringify(times)}`);
      });
    }
  } finally {
    await mirror.close();
    await ws.cleanup();
  }
});
