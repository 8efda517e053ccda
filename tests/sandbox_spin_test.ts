// A sandboxed extension that spins forever in a handler: its call is
// abandoned at the time limit, its Worker is found stuck, terminated,
// reported and restarted, and the host (the manager, then the REST API)
// answers all along.
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
import { createSandboxLauncher, sandboxSettled, sandboxStatus } from "../src/sandbox/launcher.ts";
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

Deno.test("createSandboxLauncher() terminates and restarts a Worker that spins forever; the host stays responsive", async () => {
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
    // dispatch would never come back at all); notify() returns once the
    // event is posted, and the time-out is reported when it happens.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = performance.now();
    const result = await manager.notify("onNodeCreate", node(1, "spin"));
    const elapsed = performance.now() - started;
    assert.equal(result.handled, 2, "delivered to both");
    assert.deepEqual(result.failures, []);
    assert.ok(elapsed < LIMIT_MS, `the dispatch took ${elapsed} ms`);
    await until(
      () =>
        lines.some((line) =>
          line.startsWith('error: extension "spinner" failed in onNodeCreate (timeout)')
        ),
      "the time-out is reported",
    );
    clearInterval(ticker);
    assert.ok(ticks >= 3, `the host's timers fired ${ticks} times`);
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
    await sandboxSettled(spinner);
    assert.equal(await manager.call("events"), 1, "the restarted instance handled the event");
    assert.deepEqual(recorder.received.map((event) => (event.args[0] as Node).name), [
      "spin",
      "calm",
    ]);
  } finally {
    await manager.teardown();
  }
});

Deno.test("POST /api/v1/nodes/ and GET /api/v1/version/ answer while a sandboxed extension spins in the handler of the node created", async () => {
  const { logger, lines } = capture();
  const nailgun = await startSandboxedNailgun({
    load: [{ specifier: "./spinner.ts", sandbox: {} }],
    handlerTimeoutMs: LIMIT_MS,
    logger,
  });
  const { api, manager, report } = nailgun;
  try {
    assert.deepEqual(report.failed, []);
    const started = performance.now();
    const created = await call(`${api}/nodes/`, "POST", { mac: "52:54:00:00:01:01", name: "spin" });
    assert.equal(created.status, 201, "the node is created; the extension's failure is reported");
    assert.equal((created.body as { name: string }).name, "spin");
    assert.ok(performance.now() - started < LIMIT_MS, "the creation does not wait for the spinner");
    let answered = 0;
    while (
      !lines.some((line) =>
        line.startsWith('error: extension "spinner" failed in onNodeCreate (timeout)')
      )
    ) {
      assert.ok(
        performance.now() - started < 5_000,
        `the time-out is reported: ${lines.join("\n")}`,
      );
      const version = await call(`${api}/version/`, "GET");
      assert.equal(version.status, 200);
      assert.equal((version.body as { api: string }).api, "1");
      answered++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(answered >= 3, `GET /version/ answered ${answered} times while the spinner spun`);
    await until(
      () =>
        sandboxStatus(manager.get("spinner"))?.state === "running" &&
        sandboxStatus(manager.get("spinner"))?.restarts === 1,
      "the spinner is restarted",
    );
    const calm = await call(`${api}/nodes/`, "POST", { mac: "52:54:00:00:01:02", name: "calm" });
    assert.equal(calm.status, 201);
    await sandboxSettled(manager.get("spinner"));
    assert.equal(await manager.call("events"), 1);
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
