// Durable delivery through the service (SPEC §3.1), in process, on the store
// the REST suite runs on: order, EventMeta, retries with the same id, parked
// events re-queued through the API, and a stuck extension that slows nothing.
import assert from "node:assert/strict";
import { join } from "node:path";
import { until } from "./_payloads.ts";
import { runCli } from "../src/service/cli.ts";
import { mac, withNailgun } from "./_service/harness.ts";
import { type Attempt, readAttempts } from "./_delivery/fixtures/_durable.ts";

const FIXTURES = new URL("./_delivery/fixtures/", import.meta.url).pathname;
const durable = (name: string) => join(FIXTURES, `${name}.ts`);

function delivered(file: string): Attempt[] {
  return readAttempts(file).filter((attempt) => attempt.ok);
}

Deno.test("DeliveryEngine delivers every node creation to a durable extension in event order, with EventMeta", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_delivery_" });
  const file = join(dir, "a.jsonl");
  try {
    await withNailgun({
      load: [durable("durable_a"), "rec_a"],
      section: { settings: { durable_a: { file } } },
    }, async ({ api }) => {
      const created: number[] = [];
      for (let n = 1; n <= 25; n++) {
        const answer = await api("POST", "/nodes/", { mac: mac(n) });
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
        created.push(answer.body.id);
      }
      await until(() => delivered(file).length >= 25, "25 deliveries", 10_000);
      const lines = delivered(file);
      assert.deepEqual(lines.map((line) => line.node), created, "in commit order");
      assert.ok(lines.every((line) => line.attempt === 1 && line.hook === "onNodeCreate"));
      assert.equal(new Set(lines.map((line) => line.id)).size, 25, "one id per event");
      for (const line of lines) assert.ok(!Number.isNaN(Date.parse(line.occurredAt)));
      const status = await api("GET", "/extensions/status/");
      const entry = status.body.loaded.find((e: { name: string }) => e.name === "durable_a");
      assert.equal(entry.delivery.mode, "durable");
      const inline = status.body.loaded.find((e: { name: string }) => e.name === "rec_a");
      assert.equal(inline.delivery.mode, "inline");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DeliveryEngine never runs two deliveries of one extension at once, even when a handler outlives its time limit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_delivery_" });
  const file = join(dir, "a.jsonl");
  try {
    await withNailgun({
      load: [durable("durable_a")],
      section: {
        handlerTimeoutMs: 150,
        delivery: { maxAttempts: 2, retryBaseMs: 10, retryMaxMs: 20 },
        settings: { durable_a: { file, delayMs: 400 } },
      },
    }, async ({ api }) => {
      for (let n = 1; n <= 2; n++) {
        assert.equal((await api("POST", "/nodes/", { mac: mac(n) })).status, 201);
      }
      const lines = () =>
        Deno.readTextFileSync(file).split("\n").filter(Boolean).map((line) => JSON.parse(line));
      // Two events, two attempts each (every attempt outlives the limit), each attempt ended.
      await until(
        () => {
          try {
            return lines().filter((line) => "ended" in line).length >= 4;
          } catch {
            return false;
          }
        },
        "4 attempts ended",
        15_000,
      );
      let running = 0;
      const order: string[] = [];
      for (const line of lines()) {
        if ("ended" in line) {
          running--;
          continue;
        }
        running++;
        order.push(`${line.node}:${line.attempt}`);
        assert.equal(running, 1, `two deliveries at once: ${JSON.stringify(lines())}`);
      }
      assert.deepEqual(order.slice(0, 4), ["1:1", "1:2", "2:1", "2:2"], "in order, one at a time");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DeliveryEngine: a stuck durable extension never slows a request nor another durable extension", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_delivery_" });
  const file = join(dir, "a.jsonl");
  try {
    await withNailgun({
      load: [durable("durable_stuck"), durable("durable_a")],
      section: {
        handlerTimeoutMs: 60_000,
        settings: {
          durable_stuck: { file: join(dir, "stuck.jsonl"), hang: true },
          durable_a: { file },
        },
      },
    }, async ({ api }) => {
      assert.equal((await api("POST", "/nodes/", { mac: mac(999) })).status, 201); // warm-up
      const slowest: number[] = [];
      for (let n = 1; n <= 20; n++) {
        const started = performance.now();
        const answer = await api("POST", "/nodes/", { mac: mac(n) });
        slowest.push(performance.now() - started);
        assert.equal(answer.status, 201);
      }
      assert.ok(
        Math.max(...slowest) < 100,
        `requests took ${slowest.map(Math.round).join(", ")} ms`,
      );
      await until(() => delivered(file).length >= 21, "durable_a received all 21", 10_000);
      const status = await api("GET", "/extensions/status/");
      const stuck = status.body.loaded.find((e: { name: string }) => e.name === "durable_stuck");
      assert.equal(stuck.delivery.pending, 21, "the stuck one keeps its events");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DeliveryEngine retries a flaky durable extension with the same id and an increasing attempt", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_delivery_" });
  const file = join(dir, "a.jsonl");
  try {
    await withNailgun({
      load: [durable("durable_a")],
      section: {
        delivery: { maxAttempts: 5, retryBaseMs: 20, retryMaxMs: 100 },
        settings: { durable_a: { file, failFirst: 2 } },
      },
    }, async ({ api, logs }) => {
      for (let n = 1; n <= 3; n++) {
        assert.equal((await api("POST", "/nodes/", { mac: mac(n) })).status, 201);
      }
      await until(() => delivered(file).length >= 3, "3 deliveries", 10_000);
      const attempts = readAttempts(file);
      const byId = Map.groupBy(attempts, (attempt) => attempt.id);
      assert.equal(byId.size, 3);
      for (const [, tries] of byId) {
        assert.deepEqual(tries.map((t) => [t.attempt, t.ok]), [[1, false], [2, false], [3, true]]);
      }
      assert.deepEqual(delivered(file).map((line) => line.mac), [mac(1), mac(2), mac(3)]);
      assert.ok(logs.some((line) => /retrying in \d+ ms/.test(line)), logs.join("\n"));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DeliveryEngine parks a poison event while later events arrive; POST …/events/retry/ delivers it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_delivery_" });
  const file = join(dir, "a.jsonl");
  const poisonFile = join(dir, "poison");
  await Deno.writeTextFile(poisonFile, mac(2));
  try {
    await withNailgun({
      load: [durable("durable_a")],
      section: {
        delivery: { maxAttempts: 3, retryBaseMs: 10, retryMaxMs: 40 },
        settings: { durable_a: { file, poisonFile } },
      },
    }, async ({ api, logs, service }) => {
      for (let n = 1; n <= 6; n++) {
        assert.equal((await api("POST", "/nodes/", { mac: mac(n) })).status, 201);
      }
      await until(() => delivered(file).length >= 5, "the 5 healthy events", 10_000);
      assert.deepEqual(delivered(file).map((line) => line.mac), [1, 3, 4, 5, 6].map(mac));
      const parked = await api("GET", "/extensions/durable_a/events/?status=parked");
      assert.equal(parked.status, 200);
      assert.equal(parked.body.length, 1);
      assert.equal(parked.body[0].args[0].mac, mac(2));
      assert.equal(parked.body[0].attempts, 3);
      assert.match(parked.body[0].lastError, /refuses onNodeCreate/);
      const listed = await runCli(
        ["events", "durable_a", "--parked", "--url", service.url],
        () => undefined,
      );
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^${parked.body[0].id}  onNodeCreate  .*attempts 3`));
      const parkedLines = logs.filter((line) => /parked event/.test(line));
      assert.equal(parkedLines.length, 1, logs.join("\n"));
      assert.ok(parkedLines[0]!.includes(parked.body[0].id));
      const status = await api("GET", "/extensions/status/");
      const entry = status.body.loaded.find((e: { name: string }) => e.name === "durable_a");
      assert.equal(entry.delivery.parked, 1);
      assert.equal(entry.delivery.pending, 0);
      assert.match(entry.delivery.lastError, /refuses/);

      await Deno.remove(poisonFile);
      const retried = await api("POST", "/extensions/durable_a/events/retry/", {
        ids: [parked.body[0].id],
      });
      assert.equal(retried.status, 200, JSON.stringify(retried.body));
      assert.deepEqual(retried.body.requeued, [parked.body[0].id]);
      await until(() => delivered(file).length >= 6, "the re-queued event", 10_000);
      const last = delivered(file).at(-1)!;
      assert.equal(last.mac, mac(2));
      assert.equal(last.id, parked.body[0].id, "the same id after the re-queue");
      assert.equal(last.attempt, 1, "attempts start again");
      const after = await api("GET", "/extensions/status/");
      const done = after.body.loaded.find((e: { name: string }) => e.name === "durable_a");
      assert.equal(done.delivery.parked, 0);
      assert.equal(
        (await api("GET", "/extensions/durable_a/events/?status=parked")).body.length,
        0,
      );
      const none = await runCli(["retry", "durable_a", "--url", service.url], () => undefined);
      assert.deepEqual([none.code, none.stdout], [0, "0 event(s) re-queued"]);
      assert.equal((await api("GET", "/extensions/durable_a/events/?status=lost")).status, 400);
      assert.equal((await api("GET", "/extensions/nobody/events/")).status, 404);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DeliveryEngine delivers to a sandboxed durable extension, with retries and the same id", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_delivery_" });
  const file = join(dir, "b.jsonl");
  try {
    await withNailgun({
      load: [],
      section: {
        load: [{ specifier: durable("durable_b"), sandbox: { write: [file], read: [file] } }],
        delivery: { maxAttempts: 5, retryBaseMs: 20, retryMaxMs: 100 },
        settings: { durable_b: { file, failFirst: 1 } },
      },
    }, async ({ api, service }) => {
      assert.deepEqual(service.report.failed, []);
      assert.equal(service.manager.get("durable_b").delivery, "durable");
      for (let n = 1; n <= 3; n++) {
        assert.equal((await api("POST", "/nodes/", { mac: mac(n) })).status, 201);
      }
      await until(() => delivered(file).length >= 3, "3 deliveries in the sandbox", 15_000);
      assert.deepEqual(delivered(file).map((line) => line.mac), [mac(1), mac(2), mac(3)]);
      const byId = Map.groupBy(readAttempts(file), (attempt) => attempt.id);
      for (const [, tries] of byId) {
        assert.deepEqual(tries.map((t) => [t.attempt, t.ok]), [[1, false], [2, true]]);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
