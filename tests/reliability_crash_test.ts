// Crash: `kill -9` of the service in the middle of the load, then a restart on
// the same SQLite database: it opens, passes its integrity check, and every
// creation acknowledged before the crash is there, with each healthy
// extension's record of it.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { startLoad } from "./_reliability/load.ts";
import { spawnService } from "./_reliability/process.ts";
import {
  assertNothingLost,
  assertServing,
  LOAD,
  makeLoadProject,
} from "./_reliability/scenario.ts";
import { mac } from "./_service/harness.ts";

const KILL_AFTER = 600;

Deno.test("after kill -9 in the middle of the load, a restart on the same database holds every acknowledged creation", async () => {
  const project = await makeLoadProject();
  const first = spawnService({ config: project.config, database: project.database });
  let second: ReturnType<typeof spawnService> | undefined;
  try {
    const url = await first.ready();
    const load = startLoad({ url, ...LOAD });
    await load.until(KILL_AFTER);
    first.child.kill("SIGKILL");
    load.stop();
    const summary = await load.done;
    const { signal } = await first.exited;
    assert.equal(signal, "SIGKILL");
    assert.ok(
      summary.acknowledged >= KILL_AFTER && summary.acknowledged < LOAD.total,
      `the crash came in the middle of the load: ${summary.acknowledged} acknowledged`,
    );
    assert.equal(summary.outcomes.truncated, 0, "no response was cut short and still read as one");

    second = spawnService({ config: project.config, database: project.database });
    const restarted = await second.ready();
    await assertServing(restarted);
    const kept = await assertNothingLost(restarted, load.sent);
    assert.equal(kept.acknowledged, summary.acknowledged);
    assert.ok(kept.stored >= kept.acknowledged);
    const created = await fetch(`${restarted}/api/v1/nodes/`, {
      method: "POST",
      body: JSON.stringify({ mac: mac(900_000) }),
    });
    assert.equal(created.status, 201, await created.text());
    second.child.kill("SIGTERM");
    assert.equal((await second.exited).code, 0, second.output());

    const db = new DatabaseSync(project.database);
    try {
      assert.equal(db.prepare("PRAGMA integrity_check").get()?.integrity_check, "ok");
    } finally {
      db.close();
    }
    console.log(JSON.stringify({
      scenario: "crash",
      killedAfterMs: summary.elapsedMs,
      acknowledgedBeforeKill: summary.acknowledged,
      unanswered: summary.outcomes.unanswered,
      storedAfterRestart: kept.stored,
      lost: 0,
      tallyEvents: kept.events,
    }));
  } finally {
    await first.dispose();
    await second?.dispose();
    await project.remove();
  }
});
