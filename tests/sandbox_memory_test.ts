// The soft heap limit of sandboxed extensions: a Worker that keeps
// allocating is asked for its heap, terminated, reported with the
// extension's name and restarted, while the service keeps answering.
// (Deno 2.9 cannot bound a Worker's heap: see the README's security section.)
//
// Run: deno test -A --unstable-worker-options tests/sandbox_memory_test.ts
import assert from "node:assert/strict";
import type { Logger } from "../mod.ts";
import { sandboxStatus } from "../src/sandbox/launcher.ts";
import { call, startSandboxedNailgun } from "./_sandbox/_service.ts";

Deno.test("createSandboxLauncher() terminates, reports and restarts a Worker whose heap grows past maxHeapMb; the service keeps serving", async () => {
  const lines: string[] = [];
  const faults: [string, string][] = [];
  const logger: Logger = {
    debug: () => {},
    info: (message) => lines.push(`info: ${message}`),
    warn: (message) => lines.push(`warn: ${message}`),
    error: (message) => lines.push(`error: ${message}`),
  };
  const nailgun = await startSandboxedNailgun({
    load: [{ specifier: "./hog.ts", sandbox: {} }, "./recorder.ts"],
    handlerTimeoutMs: 2_000,
    logger,
    launcher: {
      maxHeapMb: 64,
      heapCheckMs: 100,
      onFault: (name, error) => faults.push([name, error.message]),
    },
  });
  const { api, manager } = nailgun;
  try {
    assert.deepEqual(nailgun.report.failed, []);
    const created = await call(`${api}/nodes/`, "POST", { mac: "52:54:00:00:0b:01" });
    assert.equal(created.status, 201);
    const started = Date.now();
    let slowest = 0;
    while (sandboxStatus(manager.get("hog"))?.restarts !== 1) {
      assert.ok(Date.now() - started < 10_000, `the hog is stopped: ${lines.join("\n")}`);
      const asked = performance.now();
      const version = await call(`${api}/version/`, "GET");
      assert.equal(version.status, 200);
      slowest = Math.max(slowest, performance.now() - asked);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(slowest < 500, `GET /version/ took up to ${slowest.toFixed(0)} ms`);
    const reported = lines.find((line) =>
      line.startsWith('error: sandboxed extension "hog" used ')
    );
    assert.match(
      reported ?? lines.join("\n"),
      /^error: sandboxed extension "hog" used \d+ MB of heap, more than the limit maxHeapMb \(64 MB\): its Worker was terminated and is restarted \(restart 1 of 3\)$/,
    );
    assert.equal(faults[0]?.[0], "hog");
    assert.match(faults[0]?.[1] ?? "", /more than the limit maxHeapMb \(64 MB\)/);
    const deadline = Date.now() + 5_000;
    while (sandboxStatus(manager.get("hog"))?.state !== "running") {
      assert.ok(Date.now() < deadline, "the hog is restarted");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // A fresh Worker holds nothing; the service still creates nodes.
    assert.equal(await manager.call("held"), 0);
    const next = await call(`${api}/nodes/`, "POST", { mac: "52:54:00:00:0b:02" });
    assert.equal(next.status, 201);
  } finally {
    await nailgun.close();
  }
});
