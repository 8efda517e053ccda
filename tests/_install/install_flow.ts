/**
 * The user's flow of the original request, step by step, against a real
 * registry: a Nailgun project without the extension; `deno add` it; restart:
 * listed by the API and by `deno task extensions`, and receiving events;
 * `deno remove` it; restart: gone, and the service is healthy.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runDeno } from "../_registry/jsr_mirror.ts";
import {
  assertOk,
  createNode,
  type ListedExtension,
  listExtensions,
  makeServiceHost,
  readJson,
  type RunningService,
  startService,
  type StatusReport,
  type Workspace,
} from "./host.ts";

/** What to install and what to expect of it. */
export interface InstallFlowOptions {
  /** The test's workspace. */
  ws: Workspace;
  /** Environment of every `deno` process (`DENO_DIR`, `JSR_URL`, `NPM_CONFIG_REGISTRY`). */
  env: Record<string, string>;
  /** What the user types after `deno add`, e.g. `["jsr:@nailgun/logging"]`. */
  add: string[];
  /** The import-map key `deno add` writes, and the extension's `source`. */
  key: string;
  /** What `deno add` maps the key to. */
  target: string;
  /** The extension as `GET /api/v1/extensions/` should list it. */
  listed: ListedExtension;
  /** The line the extension logs when a node is created. */
  nodeCreatedLine: (nodeId: number, mac: string) => RegExp;
  /** The user's project folder in the workspace (default `nailgun`). */
  hostFolder?: string;
}

/** How long each step took, in milliseconds, for the test's log. */
export type StepTimes = Record<string, number>;

/**
 * Runs the flow and asserts every step.
 *
 * @param options What to install and what to expect.
 * @returns How long each step took.
 */
export async function checkInstallFlow(options: InstallFlowOptions): Promise<StepTimes> {
  const { ws, env, listed } = options;
  const times: StepTimes = {};
  let last = Date.now();
  const lap = (step: string) => {
    const now = Date.now();
    times[step] = now - last;
    last = now;
  };
  const host = await makeServiceHost(ws, options.hostFolder);
  const database = ws.path(`${options.hostFolder ?? "nailgun"}.db`.replace(/[^\w.-]+/g, "_"));
  const start = () => startService(host, { env, database });
  let service: RunningService | undefined;
  try {
    // Before: the service runs without the extension.
    service = await start();
    assert.ok(
      !(await listExtensions(service)).some((extension) => extension.name === listed.name),
      `"${listed.name}" is listed before it was installed`,
    );
    assert.equal(await service.stop(), 0, `the service did not stop cleanly:\n${service.output()}`);
    lap("first start");

    // Install: `deno add`, nothing else.
    assertOk(await runDeno(["add", ...options.add], { cwd: host, env }), "deno add");
    const imports = (await readJson(`${host}/deno.json`)).imports as Record<string, string>;
    assert.equal(imports[options.key], options.target);
    lap("deno add");

    // Restart: listed, reported as loaded, and it receives events.
    service = await start();
    assert.deepEqual(
      (await listExtensions(service)).filter((extension) => extension.name === listed.name),
      [listed],
    );
    const status = await service.json("/extensions/status/") as StatusReport;
    assert.deepEqual(status.failed, []);
    const mac = "52:54:00:aa:bb:01";
    const node = await createNode(service, mac);
    await service.waitForOutput(options.nodeCreatedLine(node.id, mac));
    assert.equal(await service.stop(), 0, `the service did not stop cleanly:\n${service.output()}`);
    lap("restart with the extension");

    // The CLI shows the same load report.
    const cliEnv = { ...env, DATABASE_URL: database };
    const json = await runDeno(["task", "--quiet", "extensions", "--json"], {
      cwd: host,
      env: cliEnv,
    });
    assertOk(json, "deno task extensions --json");
    const report = JSON.parse(json.stdout) as StatusReport;
    assert.deepEqual(report.loaded.filter((extension) => extension.name === listed.name), [listed]);
    assert.deepEqual(report.failed, []);
    const table = await runDeno(["task", "--quiet", "extensions"], { cwd: host, env: cliEnv });
    assertOk(table, "deno task extensions");
    assert.ok(
      table.stdout.split("\n").some((line) =>
        line.includes(listed.name) && line.includes(listed.version) && line.includes(listed.source)
      ),
      `the table does not show ${listed.name} ${listed.version} from ${listed.source}:\n${table.stdout}`,
    );
    lap("deno task extensions");

    // Uninstall: `deno remove`, restart: gone, and the service is healthy.
    assertOk(await runDeno(["remove", options.key], { cwd: host, env }), "deno remove");
    const after = (await readJson(`${host}/deno.json`)).imports as Record<string, string>;
    assert.equal(after[options.key], undefined);
    service = await start();
    assert.ok(
      !(await listExtensions(service)).some((extension) => extension.name === listed.name),
      `"${listed.name}" is still listed after deno remove`,
    );
    const healthy = await service.json("/extensions/status/") as StatusReport;
    assert.deepEqual(healthy.failed, []);
    await createNode(service, "52:54:00:aa:bb:02");
    assert.equal(await service.stop(), 0, `the service did not stop cleanly:\n${service.output()}`);
    lap("restart without it");
  } finally {
    await service?.stop();
  }
  return times;
}
