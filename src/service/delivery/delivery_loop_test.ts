import assert from "node:assert/strict";
import { type EventMeta, ExtensionManager, type Node } from "@nailgun/extensions";
import { createLogger } from "../logger.ts";
import { openStore } from "../store/open_store.ts";
import type { Store } from "../store/store.ts";
import { DeliveryEngine } from "./delivery_loop.ts";
import { Outbox } from "./outbox.ts";

function macOf(n: number): string {
  return `52:54:00:00:${(n >> 8).toString(16).padStart(2, "0")}:${
    (n & 0xff).toString(16).padStart(2, "0")
  }`;
}

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function durableSetup(
  store: Store,
  onNodeCreate: (node: Node, meta: EventMeta) => void | Promise<void>,
  options: { backlogThreshold?: number; lease?: boolean; leaseTtlMs?: number; owner?: string } = {},
) {
  const lines: string[] = [];
  const manager = new ExtensionManager([{
    source: "./slow.ts",
    extension: {
      name: "slow",
      version: "1.0.0",
      description: "Handles node creations slowly.",
      delivery: "durable",
      onNodeCreate,
    },
  }]);
  const outbox = new Outbox(
    { dialect: store.dialect, transaction: (fn) => store.write(fn) },
    { slow: new Set(["onNodeCreate"]) },
  );
  await outbox.migrate();
  store.useOutbox(outbox);
  const engine = new DeliveryEngine({
    outbox,
    manager,
    logger: createLogger({ write: (line) => lines.push(line), timestamps: false }),
    maxAttempts: 3,
    retryBaseMs: 10,
    retryMaxMs: 50,
    ...options,
  });
  return { engine, outbox, lines };
}

async function createNodes(store: Store, count: number, first = 1): Promise<void> {
  for (let n = first; n < first + count; n++) {
    await store.write(async (tx) => {
      tx.enqueue("onNodeCreate", await tx.createNode({ mac: macOf(n) }));
    });
  }
}

Deno.test("DeliveryEngine logs one line when a backlog grows past the threshold", async () => {
  const store = await openStore(":memory:");
  await store.migrateCore();
  const { engine, lines } = await durableSetup(
    store,
    () => new Promise<void>((resolve) => setTimeout(resolve, 2)),
    { backlogThreshold: 100 },
  );
  try {
    await createNodes(store, 300);
    engine.start();
    await until(async () => (await engine.status()).get("slow")!.pending === 0, "drained");
    const backlog = lines.filter((line) => line.includes("events wait for delivery"));
    assert.equal(backlog.length, 1, lines.join("\n"));
    assert.match(backlog[0]!, /extension "slow": \d+ events wait for delivery \(more than 100\)/);
  } finally {
    await engine.stop();
    await store.close();
  }
});

Deno.test("Outbox.acknowledge() deletes what was delivered: the outbox holds only pending and parked rows", async () => {
  const store = await openStore(":memory:");
  await store.migrateCore();
  let calls = 0;
  const { engine, outbox } = await durableSetup(store, () => {
    calls++;
  });
  try {
    engine.start();
    await createNodes(store, 150);
    await until(async () => (await engine.status()).get("slow")!.delivered === 150, "delivered");
    assert.equal(calls, 150);
    assert.deepEqual(await outbox.list("slow", "pending", 1000), []);
    const rows = await store.write((tx) =>
      tx.execute<{ n: number }>({
        sql: "select count(*) as n from delivery_outbox",
        parameters: [],
        query: undefined as never,
        queryId: undefined as never,
      })
    );
    assert.equal(Number(rows[0]!.n), 0);
  } finally {
    await engine.stop();
    await store.close();
  }
});

Deno.test("Outbox.lease() belongs to one owner until it runs out or is released", async () => {
  const store = await openStore(":memory:");
  await store.migrateCore();
  const outbox = new Outbox(
    { dialect: store.dialect, transaction: (fn) => store.write(fn) },
    { slow: new Set(["onNodeCreate"]) },
  );
  try {
    await outbox.migrate();
    assert.equal(await outbox.lease("slow", "a", 300), true);
    assert.equal(await outbox.lease("slow", "b", 300), false);
    assert.equal(await outbox.lease("slow", "a", 300), true, "the owner renews it");
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await outbox.lease("slow", "b", 300), true, "it ran out: b takes over");
    assert.equal(await outbox.lease("slow", "a", 300), false);
    await outbox.release("slow", "b");
    assert.equal(await outbox.lease("slow", "a", 300), true, "released: a takes it at once");
  } finally {
    await store.close();
  }
});

Deno.test("DeliveryEngine renews its lease during an attempt longer than the lease: no other instance starts on the same events", async () => {
  const store = await openStore(":memory:");
  await store.migrateCore();
  const seen: string[] = [];
  let running = 0;
  let most = 0;
  const handler = async (_node: Node, meta: EventMeta) => {
    running++;
    most = Math.max(most, running);
    seen.push(meta.id);
    await new Promise((resolve) => setTimeout(resolve, 400));
    running--;
  };
  const lease = { lease: true, leaseTtlMs: 150 };
  const first = await durableSetup(store, handler, { ...lease, owner: "one" });
  const second = await durableSetup(store, handler, { ...lease, owner: "two" });
  try {
    await createNodes(store, 3);
    first.engine.start();
    second.engine.start();
    await until(
      async () => (await first.engine.status()).get("slow")!.delivered === 3,
      "3 deliveries",
    );
    assert.equal(most, 1, "one attempt at a time across both instances");
    assert.equal(seen.length, 3, `each event once: ${seen.join(", ")}`);
  } finally {
    await first.engine.stop();
    await second.engine.stop();
    await store.close();
  }
});

Deno.test("Outbox.leftovers() counts the events kept for an extension that is no longer durable", async () => {
  const store = await openStore(":memory:");
  await store.migrateCore();
  try {
    const { outbox } = await durableSetup(store, () => {});
    await createNodes(store, 4);
    const later = new Outbox(
      { dialect: store.dialect, transaction: (fn) => store.write(fn) },
      { other: new Set(["onNodeCreate"]) },
    );
    await later.migrate();
    assert.deepEqual([...await later.leftovers()], [["slow", 4]]);
    assert.deepEqual([...await outbox.leftovers()], []);
  } finally {
    await store.close();
  }
});
