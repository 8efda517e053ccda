// Durable delivery on PostgreSQL (SPEC §3.1): several instances on one
// database, one of them delivering each durable extension's events at a
// time; kill -9 of that one; and writers whose commits come out of id order.
// Needs NAILGUN_TEST_POSTGRES_URL (`export NAILGUN_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"`).
import assert from "node:assert/strict";
import { join } from "node:path";
import { createTestDatabase, dropTestDatabase, type TestDatabase } from "./_postgres/database.ts";
import { makeProject, type ServiceProcess, spawnService } from "./_reliability/process.ts";
import { readAttempts } from "./_delivery/fixtures/_durable.ts";
import { until } from "./_payloads.ts";
import { mac, withNailgun } from "./_service/harness.ts";
import { type EventMeta, ExtensionManager, type Node } from "../mod.ts";
import { createLogger } from "../src/service/logger.ts";
import { openStore } from "../src/service/store/open_store.ts";
import { DeliveryEngine } from "../src/service/delivery/delivery_loop.ts";
import { Outbox, queuedEvent } from "../src/service/delivery/outbox.ts";

const FIXTURE = new URL("./_delivery/fixtures/durable_a.ts", import.meta.url).pathname;

async function createNode(url: string, n: number): Promise<number> {
  const response = await fetch(`${url}/api/v1/nodes/`, {
    method: "POST",
    body: JSON.stringify({ mac: mac(n) }),
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  return body.id;
}

/**
 * The database, dropped at the end of the test; a drop that meets a backend
 * it may not end (autovacuum, on a database just written to) is tried again.
 */
function droppedLater(database: TestDatabase): TestDatabase {
  const drop = async () => {
    for (let attempt = 1;; attempt++) {
      try {
        return await dropTestDatabase(database.name);
      } catch (error) {
        if (attempt >= 10 || !/pg_signal_backend/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    }
  };
  return { ...database, drop, [Symbol.asyncDispose]: drop };
}

function holderOf(services: readonly ServiceProcess[]): number {
  const holds = (service: ServiceProcess) =>
    service.stdout.filter((line) => line.includes("this instance delivers its events")).length >
      service.stdout.filter((line) => line.includes("another instance delivers")).length;
  return services.findIndex(holds);
}

Deno.test("DeliveryEngine on PostgreSQL: two instances take writes alternately, a durable extension on both receives each event exactly once", async () => {
  await using database = droppedLater(await createTestDatabase());
  const project = await makeProject((dir) => ({
    load: [FIXTURE],
    discover: false,
    settings: { durable_a: { file: join(dir, "received.jsonl") } },
  }));
  const received = join(project.dir, "received.jsonl");
  const services = [0, 1].map(() =>
    spawnService({ config: project.config, database: database.url })
  );
  try {
    const urls = await Promise.all(services.map((service) => service.ready()));
    const created: number[] = [];
    for (let n = 1; n <= 60; n++) created.push(await createNode(urls[n % 2]!, n));
    await until(() => readAttempts(received).length >= 60, "60 deliveries", 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // a duplicate would arrive now
    const lines = readAttempts(received);
    assert.deepEqual(lines.map((line) => line.node), created, "in commit order, across instances");
    assert.equal(new Set(lines.map((line) => line.id)).size, 60, "each event exactly once");
    assert.ok(holderOf(services) !== -1, "one instance says it delivers");
  } finally {
    await Promise.all(services.map((service) => service.dispose()));
    await project.remove();
  }
});

Deno.test("DeliveryEngine on PostgreSQL: after kill -9 of the delivering instance, the other takes over and nothing is lost", async () => {
  await using database = droppedLater(await createTestDatabase());
  const project = await makeProject((dir) => ({
    load: [FIXTURE],
    discover: false,
    settings: { durable_a: { file: join(dir, "received.jsonl"), delayMs: 20 } },
  }));
  const received = join(project.dir, "received.jsonl");
  const services = [0, 1].map(() =>
    spawnService({ config: project.config, database: database.url })
  );
  try {
    const urls = await Promise.all(services.map((service) => service.ready()));
    await createNode(urls[0]!, 1_000);
    await until(() => readAttempts(received).length >= 1, "the first delivery", 10_000);
    const holder = holderOf(services);
    assert.ok(holder !== -1, "one instance delivers");
    const survivor = 1 - holder;
    const created: number[] = [];
    for (let n = 1; n <= 80; n++) created.push(await createNode(urls[n % 2]!, n));
    services[holder]!.child.kill("SIGKILL");
    const killedAt = performance.now();
    const deliveredAtKill = new Set(readAttempts(received).map((line) => line.node)).size;
    assert.ok(deliveredAtKill < 81, `a backlog was left at the kill (${deliveredAtKill} of 81)`);
    const takeover = services[survivor]!.waitForLine(/this instance delivers its events/, 15_000)
      .then(() => performance.now() - killedAt);
    for (let n = 81; n <= 100; n++) created.push(await createNode(urls[survivor]!, n));
    const takeoverMs = await takeover;
    assert.ok(takeoverMs < 10_000, `the other instance took over after ${takeoverMs} ms`);
    const got = () => new Set(readAttempts(received).map((line) => line.node));
    await until(() => created.every((id) => got().has(id)), "every event delivered", 30_000);
    const allDeliveredMs = performance.now() - killedAt;
    const lines = readAttempts(received);
    const byNode = Map.groupBy(lines, (line) => line.node);
    assert.ok([...byNode.values()].every((tries) => new Set(tries.map((t) => t.id)).size === 1));
    console.log(JSON.stringify({
      scenario: "kill -9 of the delivering instance",
      deliveredAtKill,
      events: created.length + 1,
      redeliveries: lines.length - byNode.size,
      takeoverMs: Math.round(takeoverMs),
      allDeliveredWithinMs: Math.round(allDeliveredMs),
    }));
  } finally {
    await Promise.all(services.map((service) => service.dispose()));
    await project.remove();
  }
});

Deno.test("DeliveryEngine on PostgreSQL: writers whose commits come out of id order never make an event be skipped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_delivery_" });
  const file = join(dir, "received.jsonl");
  await using database = droppedLater(await createTestDatabase());
  try {
    await withNailgun({
      load: [FIXTURE],
      databaseUrl: database.url,
      section: { settings: { durable_a: { file } } },
    }, async ({ service }) => {
      const committed: number[] = [];
      const writers = Array.from({ length: 12 }, async (_, writer) => {
        for (let round = 0; round < 10; round++) {
          const node = await service.store.write(async (tx) => {
            const node = await tx.createNode({ mac: mac(writer * 100 + round + 1) });
            tx.enqueue("onNodeCreate", node);
            // hold the transaction open a random while: later ids commit first
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 15));
            return node;
          });
          committed.push(node.id);
        }
      });
      await Promise.all(writers);
      await until(() => readAttempts(file).length >= 120, "120 deliveries", 20_000);
      const order = readAttempts(file).map((line) => line.node!);
      assert.deepEqual([...order].sort((a, b) => a - b), [...committed].sort((a, b) => a - b));
      assert.equal(new Set(order).size, 120, "each once");
      const outOfIdOrder = committed.some((id, index) => index > 0 && id < committed[index - 1]!);
      assert.ok(outOfIdOrder, "the transactions did commit out of node id order");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Outbox on PostgreSQL: an event whose row got its id before later ones but commits after they were delivered is still delivered", async () => {
  await using database = droppedLater(await createTestDatabase());
  const store = await openStore(database.url);
  const received: { id: number; seq: string }[] = [];
  const manager = new ExtensionManager([{
    source: "./late.ts",
    extension: {
      name: "late",
      version: "1.0.0",
      description: "Records the nodes it is told of.",
      delivery: "durable",
      onNodeCreate: (node: Node, meta: EventMeta) =>
        void received.push({ id: node.id, seq: meta.id }),
    },
  }]);
  const outbox = new Outbox(
    { dialect: store.dialect, transaction: (fn) => store.write(fn) },
    { late: new Set(["onNodeCreate"]) },
  );
  const engine = new DeliveryEngine({
    outbox,
    manager,
    logger: createLogger({ level: "silent" }),
    maxAttempts: 3,
    retryBaseMs: 10,
    retryMaxMs: 50,
  });
  try {
    await store.migrateCore();
    await outbox.migrate();
    store.useOutbox(outbox);
    engine.start();
    let release!: () => void;
    const held = new Promise<void>((resolve) => release = resolve);
    let inserted!: () => void;
    const rowWritten = new Promise<void>((resolve) => inserted = resolve);
    // The slow writer takes its outbox id first, then holds its transaction open.
    const slow = store.write(async (tx) => {
      const node = await tx.createNode({ mac: mac(1) });
      await outbox.append(tx, [queuedEvent("onNodeCreate", [node])]);
      inserted();
      await held;
      return node;
    });
    await rowWritten;
    const quick: number[] = [];
    for (let n = 2; n <= 6; n++) {
      const node = await store.write(async (tx) => {
        const node = await tx.createNode({ mac: mac(n) });
        tx.enqueue("onNodeCreate", node);
        return node;
      });
      quick.push(node.id);
    }
    await until(() => received.length >= 5, "the 5 later events delivered", 10_000);
    assert.deepEqual(
      received.map((r) => r.id),
      quick,
      "the later ids first: the slow one is not committed",
    );
    release();
    const late = await slow;
    await until(() => received.length >= 6, "the late event delivered", 10_000);
    assert.equal(received.at(-1)!.id, late.id, "committed last, delivered last, not skipped");
    assert.equal(new Set(received.map((r) => r.seq)).size, 6);
  } finally {
    await engine.stop();
    await store.close();
  }
});
