// Durable delivery survives kill -9 (SQLite): the service is killed in the
// middle of a bounded load, restarted on the same database, and the durable
// extension receives every creation that was acknowledged before the crash.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startLoad } from "./_reliability/load.ts";
import { makeProject, spawnService } from "./_reliability/process.ts";
import { acknowledgedOf } from "./_reliability/scenario.ts";
import { readAttempts } from "./_delivery/fixtures/_durable.ts";
import { until } from "./_payloads.ts";

const FIXTURE = new URL("./_delivery/fixtures/durable_a.ts", import.meta.url).pathname;
const LOAD = { total: 1_500, concurrency: 8, deadlineMs: 60_000 } as const;
const KILL_AFTER = 300;

Deno.test("DeliveryEngine: after kill -9 in the middle of the load and a restart, a durable extension receives every acknowledged node creation", async () => {
  const project = await makeProject((dir) => ({
    load: [FIXTURE],
    discover: false,
    // slower than the load, so that a backlog is waiting when the kill comes
    settings: { durable_a: { file: join(dir, "received.jsonl"), delayMs: 4 } },
  }));
  const received = join(project.dir, "received.jsonl");
  const first = spawnService({ config: project.config, database: project.database });
  let second: ReturnType<typeof spawnService> | undefined;
  try {
    const url = await first.ready();
    const load = startLoad({ url, ...LOAD });
    await load.until(KILL_AFTER);
    first.child.kill("SIGKILL");
    load.stop();
    const summary = await load.done;
    assert.equal((await first.exited).signal, "SIGKILL");
    assert.ok(
      summary.acknowledged >= KILL_AFTER && summary.acknowledged < LOAD.total,
      `the crash came in the middle of the load: ${summary.acknowledged} acknowledged`,
    );
    const acknowledged = [...acknowledgedOf(load.sent).values()].map((sent) => sent.id!);
    const beforeRestart = new Set(readAttempts(received).map((line) => line.node));
    const missingAtCrash = acknowledged.filter((id) => !beforeRestart.has(id)).length;
    assert.ok(
      missingAtCrash > 0,
      "some acknowledged creations were still in the outbox at the kill",
    );

    second = spawnService({ config: project.config, database: project.database });
    await second.ready();
    const got = () => new Set(readAttempts(received).filter((l) => l.ok).map((l) => l.node));
    await until(
      () => acknowledged.every((id) => got().has(id)),
      "every acknowledged creation was delivered after the restart",
      30_000,
    ).catch((error) => {
      const missing = acknowledged.filter((id) => !got().has(id));
      throw new Error(`${error.message}: ${missing.length} missing, e.g. ${missing.slice(0, 5)}`);
    });
    const lines = readAttempts(received);
    const ids = new Map<number, Set<string>>();
    for (const line of lines) ids.set(line.node!, (ids.get(line.node!) ?? new Set()).add(line.id));
    assert.ok(
      [...ids.values()].every((set) => set.size === 1),
      "a redelivered event keeps its id",
    );
    console.log(JSON.stringify({
      scenario: "durable delivery across kill -9",
      acknowledgedBeforeKill: summary.acknowledged,
      notYetDeliveredAtKill: missingAtCrash,
      deliveredAfterRestart: acknowledged.length,
      redeliveries: lines.length - ids.size,
    }));
    second.child.kill("SIGTERM");
    assert.equal((await second.exited).code, 0, second.output());
  } finally {
    await first.dispose();
    await second?.dispose();
    await project.remove();
  }
});
