// Shutdown: SIGTERM in the middle of the load. Requests in flight finish with
// a complete answer, no stored creation goes unanswered, the extensions are
// torn down in reverse order, and the process exits 0.
import assert from "node:assert/strict";
import type { Node } from "../mod.ts";
import { startLoad } from "./_reliability/load.ts";
import { makeProject, spawnService } from "./_reliability/process.ts";
import { RawConnection } from "./_reliability/raw_http.ts";
import {
  assertNothingLost,
  assertServing,
  fixture,
  getJson,
  LOAD,
  LOADED,
  makeLoadProject,
} from "./_reliability/scenario.ts";
import { mac } from "./_service/harness.ts";

const SIGNAL_AFTER = 400;

Deno.test("SIGTERM during the load lets requests in flight finish, tears down in reverse order and exits 0", async () => {
  const project = await makeLoadProject();
  const first = spawnService({ config: project.config, database: project.database });
  let second: ReturnType<typeof spawnService> | undefined;
  try {
    const url = await first.ready();
    // The raw client records when each request was written to its socket.
    const load = startLoad({ url, ...LOAD, client: "raw" });
    await load.until(SIGNAL_AFTER);
    // Signal while requests are written and not answered yet (bounded wait).
    for (let waited = 0; load.inFlight === 0 && waited < 5_000; waited++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const signalledAt = performance.now();
    first.child.kill("SIGTERM");
    const status = await first.exited;
    load.stop();
    const summary = await load.done;
    assert.equal(status.code, 0, first.output());
    assert.ok(
      first.stdout.some((line) => /INFO SIGTERM: shutting down$/.test(line)),
      first.output(),
    );
    assert.ok(first.stdout.some((line) => /INFO stopped$/.test(line)), first.output());
    assert.equal(
      await Deno.readTextFile(project.teardownFile),
      [...LOADED].reverse().map((name) => `${name}\n`).join(""),
      "teardown runs once per extension, in reverse load order",
    );

    const truncated = load.sent.filter((s) => s.outcome === "truncated" || s.outcome === "refused");
    assert.deepEqual(truncated, [], "every response that arrived is a complete 201");
    const sentBefore = load.sent.filter((s) => s.written !== undefined && s.written < signalledAt);
    const notServed = sentBefore.filter((s) => s.outcome !== "acknowledged");
    assert.deepEqual(
      notServed,
      [],
      `every request written before the signal (at ${signalledAt}) is answered 201`,
    );
    const inFlight = sentBefore.filter((s) => s.ended > signalledAt);
    assert.ok(inFlight.length > 0, "some requests were in flight when the signal came");

    second = spawnService({ config: project.config, database: project.database });
    const restarted = await second.ready();
    await assertServing(restarted);
    const kept = await assertNothingLost(restarted, load.sent);
    const answered = new Set(
      load.sent.filter((s) => s.outcome === "acknowledged").map((s) => s.mac),
    );
    const nodes = await getJson<Node[]>(restarted, "/nodes/");
    const unanswered = nodes.filter((node) => !answered.has(node.mac)).map((node) => node.mac);
    assert.deepEqual(unanswered, [], "every creation the service stored was answered");
    console.log(JSON.stringify({
      scenario: "shutdown",
      acknowledged: summary.acknowledged,
      inFlightAtSignal: inFlight.length,
      writtenBeforeSignal: sentBefore.length,
      notWrittenBeforeSignal: load.sent.length - sentBefore.length,
      answeredAfterSignal: load.sent.filter((s) =>
        s.outcome === "acknowledged" && s.ended > signalledAt
      ).length,
      stored: kept.stored,
      lost: 0,
      exitCode: status.code,
    }));
  } finally {
    await first.dispose();
    await second?.dispose();
    await project.remove();
  }
});

Deno.test("a request that reached the service before SIGTERM is answered, even on an idle keep-alive connection of a busy service", async () => {
  const project = await makeProject({ load: [fixture("busy")], discover: false });
  const service = spawnService(project);
  let idle: RawConnection | undefined;
  try {
    const url = await service.ready();
    // A keep-alive connection that has served one request and is idle.
    idle = await RawConnection.open(url);
    assert.equal((await idle.request("GET", "/api/v1/version/", {})).status, 200);
    // The service is busy for 400 ms: it reads nothing meanwhile.
    const busy = fetch(`${url}/api/v1/busy/?ms=400`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A request reaches the service's socket, then the signal comes.
    const answer = idle.request("POST", "/api/v1/nodes/", { mac: mac(1) }).then(
      (answered) => answered.status,
      (error) => String(error),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    service.child.kill("SIGTERM");
    const finished = await busy;
    assert.equal(finished.status, 200, "the request in progress finished");
    await finished.body?.cancel();
    assert.equal(await answer, 201, "the request that had arrived was answered");
    assert.equal((await service.exited).code, 0, service.output());
  } finally {
    idle?.close();
    await service.dispose();
    await project.remove();
  }
});

Deno.test("SIGTERM while an extension route streams forever cuts the stream after SHUTDOWN_TIMEOUT_MS, tears down, closes the database and exits 0", async () => {
  const shutdownTimeout = 1_000;
  const project = await makeProject((dir) => ({
    load: [fixture("streamer")],
    discover: false,
    settings: { streamer: { teardownFile: `${dir}/teardown.txt` } },
  }));
  const service = spawnService({
    ...project,
    env: { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeout) },
  });
  try {
    const url = await service.ready();
    const response = await fetch(`${url}/api/v1/streamer/forever/`);
    assert.equal(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await reader.read()).value ?? "", /^line 0/);
    const signalled = performance.now();
    service.child.kill("SIGTERM");
    // The client keeps reading: the stream ends (cut) once the timeout has passed.
    const drained = (async () => {
      for (;;) {
        const { done } = await reader.read().catch(() => ({ done: true }));
        if (done) return performance.now() - signalled;
      }
    })();
    const status = await Promise.race([
      service.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit within 10 s:\n${service.output()}`)), 10_000)
      ),
    ]);
    const exitedAfter = performance.now() - signalled;
    const cutAfter = await drained;
    assert.equal(status.code, 0, service.output());
    assert.ok(cutAfter >= shutdownTimeout - 100, `the stream was cut after ${cutAfter} ms`);
    assert.ok(exitedAfter < shutdownTimeout + 3_000, `exited after ${exitedAfter} ms`);
    assert.ok(
      service.stderr.some((line) => /SHUTDOWN_TIMEOUT_MS/.test(line)),
      service.output(),
    );
    assert.ok(service.stdout.some((line) => /INFO stopped$/.test(line)), service.output());
    assert.equal(
      await Deno.readTextFile(`${project.dir}/teardown.txt`),
      "streamer cancelled=true\n",
    );
    // The database was closed cleanly: a new process opens it and serves.
    const second = spawnService(project);
    try {
      const restarted = await second.ready();
      assert.equal((await fetch(`${restarted}/api/v1/nodes/`).then((r) => r.json())).length, 0);
    } finally {
      await second.dispose();
    }
  } finally {
    await service.dispose();
    await project.remove();
  }
});
