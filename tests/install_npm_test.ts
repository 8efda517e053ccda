/**
 * Install an extension from npm: a package written in plain JavaScript, with
 * no dependency on this library, published to a loopback Verdaccio with the
 * real `npm publish`; in a Nailgun project, `deno add npm:nailgun-audit-ext`;
 * restart: the structural contract accepts it, it is listed and receives
 * events; `deno remove`; restart: gone.
 *
 * Needs Verdaccio (`bash tests/_registry/install_verdaccio.sh`) and the npm
 * registry for zod and semver, which Verdaccio proxies.
 *
 * @module
 */
import { startVerdaccio } from "./_registry/verdaccio.ts";
import { makeWorkspace, writeFiles } from "./_install/host.ts";
import { checkInstallFlow } from "./_install/install_flow.ts";

/** An extension package as a JavaScript author writes it: no build, no TypeScript, no import. */
const NPM_AUDIT_PACKAGE: Record<string, string> = {
  "package.json": JSON.stringify(
    {
      name: "nailgun-audit-ext",
      version: "2.1.0",
      description: "Audits node changes in Nailgun.",
      license: "MIT",
      type: "module",
      exports: { ".": "./index.js", "./nailgun.extensions": "./extension.js" },
    },
    null,
    2,
  ),
  "index.js": `export { default as NpmAudit } from "./extension.js";\n`,
  "extension.js": `/** A Nailgun extension: the shape is the contract, no base class needed. */
export default class NpmAudit {
  name = "npm_audit";
  version = "2.1.0";
  description = "Audits node changes, from a plain JavaScript npm package.";
  hostVersion = "^0.1.0";

  constructor(context) {
    this.context = context;
  }

  onNodeCreate(node) {
    this.context.logger.info(\`audit: node \${node.id} created with mac \${node.mac}\`);
  }

  onNodeDelete(node) {
    this.context.logger.info(\`audit: node \${node.id} deleted\`);
  }
}
`,
};

Deno.test("deno add npm:nailgun-audit-ext (plain JavaScript) and a restart install the extension; deno remove and a restart uninstall it", async () => {
  const started = Date.now();
  const ws = await makeWorkspace("install-npm");
  const registry = await startVerdaccio();
  try {
    await writeFiles(ws.path("audit"), NPM_AUDIT_PACKAGE);
    await registry.publish(ws.path("audit"));

    const times = await checkInstallFlow({
      ws,
      env: { NPM_CONFIG_REGISTRY: registry.url, DENO_DIR: ws.denoDir },
      // Published a moment ago: younger than Deno's default minimum dependency age.
      add: ["--min-dep-age=0", "npm:nailgun-audit-ext"],
      key: "nailgun-audit-ext",
      target: "npm:nailgun-audit-ext@^2.1.0",
      listed: {
        name: "npm_audit",
        version: "2.1.0",
        description: "Audits node changes, from a plain JavaScript npm package.",
        provides: [],
        source: "nailgun-audit-ext",
      },
      nodeCreatedLine: (id, mac) =>
        new RegExp(`\\[npm_audit\\] audit: node ${id} created with mac ${mac}`),
    });
    console.log(`  took ${Date.now() - started} ms: ${JSON.stringify(times)}`);
  } finally {
    await registry.close();
    await ws.cleanup();
  }
});
