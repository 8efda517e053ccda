// Faults of in-process extensions over real HTTP: each faulty fixture runs
// beside a healthy recorder (rec_a). The service stays up, each fault is in
// the log and in `health` (GET /api/v1/extensions/status/) under the right
// extension's name, and the recorder receives every event exactly once.
import assert from "node:assert/strict";
import type { ExtensionHealth } from "../mod.ts";
import { type Answer, mac, type TestNailgun, withNailgun } from "./_service/harness.ts";

type Status = { loaded: { name: string; health: ExtensionHealth }[] };

async function healthOf(api: TestNailgun["api"], name: string): Promise<ExtensionHealth> {
  const status = await api("GET", "/extensions/status/");
  assert.equal(status.status, 200);
  const entry = (status.body as Status).loaded.find((info) => info.name === name);
  assert.ok(entry, `"${name}" is loaded`);
  return entry.health;
}

/** Polls the status API until `check` holds for `name`'s health; rejects after `timeoutMs`. */
async function waitForHealth(
  api: TestNailgun["api"],
  name: string,
  check: (health: ExtensionHealth) => boolean,
  timeoutMs = 5_000,
): Promise<ExtensionHealth> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const health = await healthOf(api, name);
    if (check(health)) return health;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for the health of "${name}": ${JSON.stringify(health)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function created(api: TestNailgun["api"], n: number): Promise<Answer> {
  // A deadline of its own: a broken time limit fails the test instead of hanging it.
  const answer = await api("POST", "/nodes/", { mac: mac(n) }, {
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer;
}

async function recordedCreations(api: TestNailgun["api"]): Promise<number[]> {
  const events = (await api("GET", "/recorder/events/")).body as {
    extension: string;
    hook: string;
    args: [{ id: number }];
  }[];
  return events.filter((event) => event.hook === "onNodeCreate").map((event) => event.args[0].id);
}

Deno.test("startNailgun() survives a floating rejection, a throw from a timer and from a microtask, and blames each on its extension", async () => {
  await withNailgun(
    { load: ["fault_floating", "fault_timer", "fault_microtask", "rec_a"] },
    async ({ api, logs }) => {
      const ids: number[] = [];
      for (let n = 1; n <= 2; n++) ids.push((await created(api, n)).body.id);
      const expected: [string, RegExp][] = [
        [
          "fault_floating",
          /^ERROR extension "fault_floating" faulted with an unhandled rejection: TypeError: /,
        ],
        [
          "fault_timer",
          /^ERROR extension "fault_timer" faulted with an uncaught error: thrown from a timer$/,
        ],
        [
          "fault_microtask",
          /^ERROR extension "fault_microtask" faulted with an uncaught error: thrown from a microtask$/,
        ],
      ];
      for (const [name, line] of expected) {
        const health = await waitForHealth(api, name, (h) => h.unhandled === 2);
        assert.equal(health.state, "degraded");
        assert.equal(health.calls, 2);
        assert.equal(
          logs.filter((logged) => line.test(logged)).length,
          2,
          `${name}: ${logs.join("\n")}`,
        );
      }
      assert.equal((await healthOf(api, "rec_a")).unhandled, 0);
      assert.equal((await healthOf(api, "rec_a")).state, "healthy");
      assert.ok(!logs.some((line) => line.includes("host faulted")), "nothing was left unblamed");
      assert.deepEqual(await recordedCreations(api), ids, "the recorder got every event once");
      assert.equal((await api("GET", "/version/")).status, 200, "the service is up");
    },
  );
});

Deno.test("startNailgun() survives a throw from an extension route's timer and blames the route's extension", async () => {
  await withNailgun({ load: ["fault_route_timer", "rec_a"] }, async ({ api, logs }) => {
    assert.equal((await api("POST", "/fault_route_timer/arm/")).status, 202);
    const health = await waitForHealth(api, "fault_route_timer", (h) => h.unhandled === 1);
    assert.equal(health.calls, 1, "the route call is counted");
    assert.equal(health.lastError, "thrown from a route's timer");
    assert.ok(logs.includes(
      `ERROR extension "fault_route_timer" faulted with an uncaught error: thrown from a route's timer`,
    ));
    const id = (await created(api, 1)).body.id;
    assert.deepEqual(await recordedCreations(api), [id]);
    assert.equal((await healthOf(api, "rec_a")).unhandled, 0);
  });
});

Deno.test("startNailgun() with a never-settling handler and handlerTimeoutMs 1000 answers in its normal time from the fourth creation on, then probes the extension after the cool-down", async () => {
  const limit = 1_000;
  const cooldownMs = 3_000;
  await withNailgun(
    {
      load: ["fault_hang", "rec_a"],
      section: { handlerTimeoutMs: limit, breaker: { failures: 3, cooldownMs } },
    },
    async ({ api, logs }) => {
      const ids: number[] = [];
      for (let n = 1; n <= 6; n++) {
        const started = performance.now();
        ids.push((await created(api, n)).body.id);
        const took = performance.now() - started;
        if (n <= 3) assert.ok(took >= limit, `creation ${n} waited for the limit (${took} ms)`);
        else assert.ok(took < limit / 2, `creation ${n} took ${took} ms`);
      }
      const health = await healthOf(api, "fault_hang");
      assert.deepEqual(
        [health.state, health.timeouts, health.skipped, health.calls],
        ["suspended", 3, 3, 3],
      );
      assert.equal(
        logs.filter((line) =>
          line ===
            `ERROR extension "fault_hang" failed in onNodeCreate (timeout): did not settle within ${limit} ms`
        ).length,
        3,
      );
      assert.ok(logs.some((line) => line.startsWith('WARN extension "fault_hang" is suspended')));
      assert.deepEqual(await recordedCreations(api), ids, "the recorder got every event once");
      assert.equal((await healthOf(api, "rec_a")).state, "healthy");

      // Healed, and past the cool-down: the next event probes it, and it recovers.
      assert.equal((await api("POST", "/fault_hang/heal/")).status, 200);
      await new Promise((resolve) => setTimeout(resolve, cooldownMs + 200));
      const started = performance.now();
      ids.push((await created(api, 7)).body.id);
      assert.ok(performance.now() - started < limit / 2, "the probe answered at once");
      const probed = await waitForHealth(api, "fault_hang", (h) => h.state !== "suspended");
      // Three timeouts, the heal route, then the probe.
      assert.equal(probed.calls, 5, "the probe ran");
      ids.push((await created(api, 8)).body.id);
      const recovered = await healthOf(api, "fault_hang");
      assert.deepEqual([recovered.calls, recovered.skipped, recovered.timeouts], [6, 3, 3]);
      assert.notEqual(recovered.state, "suspended");
      assert.deepEqual(await recordedCreations(api), ids, "the recorder got every event once");
    },
  );
});

Deno.test("startNailgun() detects a sync handler that blocks the event loop, blames it and suspends it", async () => {
  const limit = 300;
  await withNailgun(
    {
      load: ["fault_block", "rec_a"],
      section: { handlerTimeoutMs: limit, settings: { fault_block: { blockMs: 2 * limit } } },
    },
    async ({ api, logs }) => {
      // The blocking clock's Worker starts with the service.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const ids: number[] = [];
      for (let n = 1; n <= 4; n++) ids.push((await created(api, n)).body.id);
      const health = await healthOf(api, "fault_block");
      assert.deepEqual([health.state, health.blocked, health.skipped], ["suspended", 3, 1]);
      assert.equal((await healthOf(api, "rec_a")).blocked, 0);
      const blocked = logs.filter((line) =>
        /^ERROR extension "fault_block" blocked the event loop for about \d+ ms in onNodeCreate \(the time limit is 300 ms\)$/
          .test(line)
      );
      assert.equal(blocked.length, 3, logs.join("\n"));
      assert.deepEqual(await recordedCreations(api), ids, "the recorder got every event once");
    },
  );
});
