// The files of a new extension package, as `deno task new-extension` writes them.

/** What the templates are filled with. */
export interface TemplateValues {
  /** The extension name, e.g. `my_ext`. */
  name: string;
  /** The JSR package, e.g. `@me/my-ext`. */
  packageName: string;
  /** The class of the extension, e.g. `MyExtExtension`. */
  className: string;
  /** The SPDX license of the package. */
  license: string;
  /** The range of `@nailgun/extensions` the package depends on and declares as `hostVersion`. */
  hostRange: string;
}

/** Every file of the package, keyed by its path in the package. */
export function renderPackage(values: TemplateValues): Record<string, string> {
  return {
    "deno.json": denoJson(values),
    "mod.ts": modTs(values),
    "mod_test.ts": modTestTs(values),
    "README.md": readme(values),
  };
}

function denoJson({ name, packageName, license, hostRange }: TemplateValues): string {
  const config = {
    name: packageName,
    version: "0.1.0",
    license,
    description: `Nailgun extension "${name}".`,
    exports: { ".": "./mod.ts", "./nailgun.extensions": "./mod.ts" },
    imports: { "@nailgun/extensions": `jsr:@nailgun/extensions@${hostRange}` },
    tasks: { test: "deno test", check: "deno check mod.ts mod_test.ts" },
    publish: { exclude: ["**/*_test.ts"] },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

function modTs({ name, packageName, className, hostRange }: TemplateValues): string {
  return `/**
 * The Nailgun extension \`${name}\`.
 *
 * Nailgun finds it through this package's \`./nailgun.extensions\` export:
 * run \`deno add jsr:${packageName}\` in a Nailgun project and restart it.
 * The module's default export is the extension class; Nailgun creates one
 * instance of it, with the host context, and calls its hooks on events.
 *
 * @module
 */
import { BaseExtension, type Cluster, type Node } from "@nailgun/extensions";

/**
 * TODO: say what the extension does (and update \`description\`).
 *
 * Hooks are optional methods named after the events (\`onNodeCreate\`,
 * \`onNodeUpdate\`, \`onClusterDelete\`, …); implement those you need. They
 * may be sync or async, receive frozen payloads, and run within a time
 * limit. An error in one is logged and reported, and never stops Nailgun.
 */
export class ${className} extends BaseExtension {
  /** The extension's name: its log prefix and the prefix of its tables. */
  readonly name: string = "${name}";
  /** The extension's version. */
  readonly version: string = "0.1.0";
  /** What the extension does, in one sentence: \`deno task extensions\` shows it. */
  readonly description: string = "Logs new nodes and deleted clusters.";
  /** The versions of \`@nailgun/extensions\` this extension was written for. */
  override readonly hostVersion: string = "${hostRange}";

  /**
   * Called after a node was created and stored.
   *
   * @param node The new node.
   */
  override onNodeCreate(node: Node): void {
    this.context.logger.info(\`node \${node.id} created (mac \${node.mac})\`);
  }

  /**
   * Called after a cluster was deleted.
   *
   * @param cluster The cluster as it was.
   */
  override onClusterDelete(cluster: Cluster): void {
    this.context.logger.info(\`cluster \${cluster.id} "\${cluster.name}" deleted\`);
  }
}

export default ${className};
`;
}

function modTestTs({ name, className }: TemplateValues): string {
  return `import assert from "node:assert/strict";
import {
  BoundContext,
  ExtensionManager,
  instantiateExtension,
  type Logger,
  type Node,
} from "@nailgun/extensions";
import * as extensionModule from "./mod.ts";

function recordingLogger(lines: string[]): Logger {
  const record = (line: string) => {
    lines.push(line);
  };
  return { debug: record, info: record, warn: record, error: record };
}

function node(id: number): Node {
  return {
    id,
    uuid: \`uuid-\${id}\`,
    mac: \`52:54:00:00:00:0\${id}\`,
    name: \`node-\${id}\`,
    hostname: \`node-\${id}\`,
    status: "discover",
    cluster_id: null,
    group_id: null,
    roles: [],
    pending_roles: [],
    pending_addition: false,
    pending_deletion: false,
    online: true,
    meta: {},
  };
}

Deno.test("${className} passes Nailgun's checks and logs a new node", async () => {
  // What Nailgun does with the module it imports from ./nailgun.extensions:
  // instantiate the default export with a context, check it, dispatch events.
  const lines: string[] = [];
  const context = new BoundContext("./mod.ts", { logger: recordingLogger(lines) });
  const extension = instantiateExtension(extensionModule, "./mod.ts", context);
  context.bind(extension.name);
  assert.equal(extension.name, "${name}");
  const manager = new ExtensionManager([{ extension, source: "./mod.ts" }]);

  const result = await manager.notify("onNodeCreate", node(3));
  assert.deepEqual(result.failures, []);
  assert.deepEqual(lines, ["[${name}] node 3 created (mac 52:54:00:00:00:03)"]);
});

Deno.test("${className} has a version and a description", () => {
  const extension = new extensionModule.${className}();
  assert.match(extension.version, /^\\d+\\.\\d+\\.\\d+/);
  assert.ok(extension.description.length > 0);
});
`;
}

function readme({ name, packageName, className }: TemplateValues): string {
  return `# ${packageName}

A [Nailgun](https://jsr.io/@nailgun/extensions) extension: \`${name}\`.

TODO: say what it does.

## Install

In a Nailgun project (for example a clone of the reference service):

\`\`\`sh
deno add jsr:${packageName}
deno task run          # restart Nailgun: the extension is discovered
deno task extensions   # lists "${name}"
\`\`\`

Nailgun loads every package of its import map that exports
\`./nailgun.extensions\`; this package does (see \`deno.json\`). To leave it out
without removing it, add \`"${packageName}"\` to \`exclude\` in the
\`nailgun.extensions\` section of \`extensions.json\`.

## Develop

- \`mod.ts\`: the extension, \`${className}\`, a subclass of \`BaseExtension\`.
  Implement the hooks you need (\`onNodeCreate\`, \`onNodeUpdate\`, \`onNodeDelete\`,
  \`onClusterCreate\`, \`onClusterDelete\`, …), and optionally \`routes\`,
  \`migrations\` (tables named \`${name}_…\`), \`pipelines\`, \`provides\`,
  \`setup\` and \`teardown\`.
- \`mod_test.ts\`: loads the extension as Nailgun does and delivers it an event.

\`\`\`sh
deno task test
\`\`\`

## Publish

Check \`name\`, \`version\` and \`license\` in \`deno.json\`, then:

\`\`\`sh
deno publish --dry-run
deno publish
\`\`\`
`;
}
