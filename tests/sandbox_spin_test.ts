// A sandboxed extension that spins forever in a handler: its call is
// abandoned at the time limit (the dispatch, and the request that made it,
// wait no longer), its Worker is found stuck, terminated, reported and
// restarted, the breaker suspends it, and the host (the manager, then the
// REST API) answers all along.
//
// Deno 2.9's Worker.terminate() does not stop a thread that is running a
// loop that never yields (denoland/deno#35657): the Worker is discarded and
// replaced, but its thread keeps a CPU core busy until the process ends.
// These tests live in their own file so that the spinning threads end with
// this file's process; they assert what the host guarantees (the time limit,
// the report, the restart, the answers), not that the thread stopped.
//
// Run: deno test -A --unstable-worker-options tests/sandbox_spin_test.ts
import { until } from "./_payloads.ts";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadExtensions, type Logger, type Node } from "../mod.ts";
import { createSandboxLauncher, sandboxStatus } from "../src/sandbox/launcher.ts";
import { call, startSandboxedNailgun } from "./_sandbox/_service.ts";
import { recorder } from "./_sandbox/recorder.ts";

const CONFIG_FILE = fileURLToPath(new URL("./_sandbox/extensions.json", import.meta.url));
const LIMIT_MS = 500;
// The default probe time: max(1 000, LIMIT_MS / 2).
const PROBE_MS = 1_000;

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    logger: {
      debug: (message) => lines.push(`debug: ${message}`),
      info: (message) => lines.push(`info: ${message}`),
      warn: (message) => lines.push(`warn: ${message}`),
      error: (message) => lines.push(`error: ${message}`),
    },
  };
}

function node(id: number, name: string): Node {
  return {
    id,
    uuid: `uuid-${id}`,
    mac: `52:54:00:00:00:${String(id).padStart(2, "0")}`,
    name,
    hostname: name,
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

Deno.test("createSandboxLauncher() terminates and restarts a Worker that spins forever; the dispatch ends at the time limit and the host stays responsive", async () => {
  const { logger, lines } = capture();
  const { manager, report } = await loadExtensions({
    configFile: CONFIG_FILE,
    importMap: { file: "<none>", imports: {} },
    config: {
      load: [{ specifier: "./spinner.ts", sandbox: {} }, "./recorder.ts"],
      discover: false,
      handlerTimeoutMs: LIMIT_MS,
    },
    sandbox: createSandboxLauncher({ logger, handlerTimeoutMs: LIMIT_MS }),
    services: { logger },
  });
  recorder.received.length = 0;
  const spinner = manager.get("spinner");
  try {
    assert.deepEqual(report.failed, []);
    // Timers of the host fire while the handler spins (in process, the
    // dispatch would never come back at all); the dispatch awaits the
    // spinner until the time limit, and reports it as timed out.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = performance.now();
    const result = await manager.notify("onNodeCreate", node(1, "spin"));
    const elapsed = performance.now() - started;
    clearInterval(ticker);
    assert.equal(result.handled, 1, "the extension in process got it");
    assert.deepEqual(
      result.failures.map(({ extension, kind, message }) => ({ extension, kind, message })),
      [{ extension: "spinner", kind: "timeout", message: `did not settle within ${LIMIT_MS} ms` }],
    );
    assert.ok(elapsed >= LIMIT_MS && elapsed < 2 * LIMIT_MS, `the dispatch took ${elapsed} ms`);
    assert.ok(ticks >= 10, `the host's timers fired ${ticks} times during the dispatch`);
    assert.equal(manager.health("spinner").timeouts, 1);
    await until(() => sandboxStatus(spinner)?.restarts === 1, "the spinner is terminated");
    await until(() => sandboxStatus(spinner)?.state === "running", "the spinner is restarted");
    assert.ok(
      lines.includes(
        `error: sandboxed extension "spinner" is stuck: onNodeCreate did not settle within ${LIMIT_MS} ms and the Worker did not answer a probe within ${PROBE_MS} ms more: its Worker was terminated and is restarted (restart 1 of 3)`,
      ),
      lines.join("\n"),
    );
    const next = await manager.notify("onNodeCreate", node(2, "calm"));
    assert.deepEqual(next.failures, []);
    assert.equal(next.handled, 2);
    assert.equal(await manager.call("events"), 1, "the restarted instance handled the event");
    assert.deepEqual(recorder.received.map((event) => (event.args[0] as Node).name), [
      "spin",
      "calm",
    ]);
  } finally {
    await manager.teardown();
  }
});

Deno.test("POST /api/v1/nodes/ answers within the time limit while a sandboxed extension spins in the handler of the node created, GET /api/v1/version/ meanwhile, and the breaker then suspends the spinner", async () => {
  const { logger, lines } = capture();
  // Two faults open the breaker: the time-out, and the Worker terminated
  // because it is stuck (the sandbox's onFault goes to manager.recordFault()).
  const nailgun = await startSandboxedNailgun({
    load: [{ specifier: "./spinner.ts", sandbox: {} }],
    handlerTimeoutMs: LIMIT_MS,
    breaker: { failures: 2, cooldownMs: 60_000 },
    logger,
  });
  const { api, manager, report } = nailgun;
  try {
    assert.deepEqual(report.failed, []);
    const started = performance.now();
    let answered = false;
    const creating = call(`${api}/nodes/`, "POST", { mac: "52:54:00:00:01:01", name: "spin" })
      .finally(() => answered = true);
    let versions = 0;
    while (!answered) {
      assert.ok(performance.now() - started < 5_000, "the creation answers");
      const version = await call(`${api}/version/`, "GET");
      assert.equal(version.status, 200);
      assert.equal((version.body as { api: string }).api, "1");
      if (!answered) versions++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const created = await creating;
    const elapsed = performance.now() - started;
    assert.equal(created.status, 201, "the node is created; the extension's failure is reported");
    assert.equal((created.body as { name: string }).name, "spin");
    assert.ok(elapsed < 2 * LIMIT_MS, `the creation waited ${elapsed} ms for the spinner`);
    assert.ok(versions >= 3, `GET /version/ answered ${versions} times while the spinner spun`);
    assert.ok(
      lines.some((line) =>
        line.startsWith('error: extension "spinner" failed in onNodeCreate (timeout)')
      ),
      lines.join("\n"),
    );
    await until(
      () => manager.health("spinner").state === "suspended",
      "the spinner is suspended once its Worker is terminated",
    );
    const health = manager.health("spinner");
    assert.deepEqual([health.timeouts, health.failures], [1, 1]);
    // The termination is logged once, by the sandbox.
    assert.equal(lines.filter((line) => line.includes("was terminated because")).length, 0);
    assert.equal(lines.filter((line) => line.includes('"spinner" is stuck')).length, 1);
    await until(
      () => sandboxStatus(manager.get("spinner"))?.state === "running",
      "the spinner is restarted",
    );
    // Suspended: another spinning node costs nothing, and the spinner does not get it.
    const again = performance.now();
    const skipped = await call(`${api}/nodes/`, "POST", { mac: "52:54:00:00:01:02", name: "spin" });
    assert.equal(skipped.status, 201);
    assert.ok(performance.now() - again < LIMIT_MS / 2, "the suspended spinner is skipped");
    assert.equal(manager.health("spinner").skipped, 1);
    assert.equal(await manager.call("events"), 0);
    const listed = await call(`${api}/extensions/`, "GET");
    assert.deepEqual((listed.body as { name: string }[]).map((extension) => extension.name), [
      "spinner",
    ]);
  } finally {
    await nailgun.close();
  }
});

Deno.test("createSandboxLauncher() stops the Worker of an extension whose setup spins forever", async () => {
  const { logger, lines } = capture();
  const { manager, report } = await loadExtensions({
    configFile: CONFIG_FILE,
    importMap: { file: "<none>", imports: {} },
    config: {
      load: [{ specifier: "./spin_setup.ts", sandbox: {} }, "./recorder.ts"],
      discover: false,
      handlerTimeoutMs: LIMIT_MS,
    },
    sandbox: createSandboxLauncher({ logger, handlerTimeoutMs: LIMIT_MS }),
    services: { logger },
  });
  try {
    assert.deepEqual(manager.names, ["recorder"]);
    assert.deepEqual(report.failed, [{
      source: "./spin_setup.ts",
      name: "spin_setup",
      phase: "setup",
      message:
        `Cannot load extension "./spin_setup.ts": setup() of "spin_setup" failed: did not settle within ${LIMIT_MS} ms`,
    }]);
    // The Worker was stopped, not restarted: no restart is ever reported.
    await new Promise((resolve) => setTimeout(resolve, LIMIT_MS + PROBE_MS + 200));
    assert.ok(!lines.some((line) => line.includes("restarted")), lines.join("\n"));
  } finally {
    await manager.teardown();
  }
});
