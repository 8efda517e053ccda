/**
 * Install an extension from JSR, as the original request's acceptance
 * criterion says: publish `examples/logging` (and this library, which it
 * depends on) to the loopback JSR mirror with the real `deno publish`; in a
 * Nailgun project, `deno add jsr:@nailgun/logging`; restart: it is listed and
 * receives events; `deno remove`; restart: gone.
 *
 * Needs the npm registry for zod and semver; everything else is loopback.
 *
 * @module
 */
import { startJsrMirror } from "./_registry/jsr_mirror.ts";
import { copyRepoDir, makeWorkspace, publishLibrary, readJson } from "./_install/host.ts";
import { checkInstallFlow } from "./_install/install_flow.ts";

Deno.test("deno add jsr:@nailgun/logging and a restart install the extension; deno remove and a restart uninstall it", async () => {
  const started = Date.now();
  const ws = await makeWorkspace("install-jsr");
  const mirror = await startJsrMirror();
  try {
    await publishLibrary(mirror, ws);
    const logging = await copyRepoDir("examples/logging", ws.path("logging"));
    await mirror.publish(logging, { env: { DENO_DIR: ws.denoDir } });
    const config = await readJson(`${logging}/deno.json`);

    const times = await checkInstallFlow({
      ws,
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
      nodeCreatedLine: (id, mac) => new RegExp(`\\[logging\\] node ${id} created \\(mac ${mac}`),
    });
    console.log(`  took ${Date.now() - started} ms: ${JSON.stringify(times)}`);
  } finally {
    await mirror.close();
    await ws.cleanup();
  }
});
