// Load: 2,000 node creations from 32 concurrent clients over loopback, with
// five extensions loaded (one slow, one failing on every event, three healthy
// tallies). Every acknowledged creation is stored, every healthy extension
// received every event exactly once, and the service stays up. Prints the
// throughput and latency as one JSON line (RELIABILITY.md).
import assert from "node:assert/strict";
import type { ExtensionHealth } from "../src/health.ts";
import { startLoad } from "./_reliability/load.ts";
import { spawnService } from "./_reliability/process.ts";
import {
  assertNothingLost,
  assertServing,
  getJson,
  LOAD,
  LOADED,
  makeLoadProject,
} from "./_reliability/scenario.ts";

Deno.test("the service holds 2,000 node creations from 32 clients with a slow and a failing extension, losing nothing", async () => {
  const project = await makeLoadProject();
  const service = spawnService({ config: project.config, database: project.database });
  try {
    const url = await service.ready();
    const status = await getJson<{ loaded: { name: string }[]; failed: unknown[] }>(
      url,
      "/extensions/status/",
    );
    assert.deepEqual(status.loaded.map((info) => info.name), [...LOADED]);
    assert.deepEqual(status.failed, []);

    const load = startLoad({ url, ...LOAD });
    const summary = await load.done;
    assert.equal(summary.timedOut, false, `the load did not finish in ${LOAD.deadlineMs} ms`);
    assert.deepEqual(summary.outcomes, {
      acknowledged: LOAD.total,
      refused: 0,
      truncated: 0,
      unanswered: 0,
    }, JSON.stringify(load.sent.filter((s) => s.outcome !== "acknowledged").slice(0, 5)));

    await assertServing(url);
    const kept = await assertNothingLost(url, load.sent);
    assert.equal(kept.stored, LOAD.total);
    for (const [name, events] of Object.entries(kept.events)) {
      assert.equal(events, LOAD.total, `${name} holds ${events} events`);
    }
    const failures = service.stderr.filter((line) =>
      /ERROR extension "faulty" failed in onNodeCreate \(threw\): faulty cannot handle onNodeCreate$/
        .test(line)
    );
    // Its circuit breaker suspends it after 3 consecutive failures: every
    // event is either a logged failure or counted as skipped.
    const after = await getJson<{ loaded: { name: string; health: ExtensionHealth }[] }>(
      url,
      "/extensions/status/",
    );
    const health = after.loaded.find((info) => info.name === "faulty")!.health;
    assert.equal(
      failures.length,
      health.failures,
      "each failure of the failing extension is logged",
    );
    assert.ok(failures.length >= 3, `${failures.length} failures logged`);
    assert.equal(health.failures + health.skipped, LOAD.total, JSON.stringify(health));
    console.log(JSON.stringify({ scenario: "load", ...summary }));
  } finally {
    await service.dispose();
    await project.remove();
  }
});
