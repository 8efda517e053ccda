// The delivery mode of the contract and the EventMeta every notification handler receives.
import assert from "node:assert/strict";
import { makeNode } from "../tests/_payloads.ts";
import { verifyExtension } from "./contract.ts";
import { ExtensionLoadError } from "./errors.ts";
import { type EventMeta, EventMetaSchema, HANDLER_ARGUMENTS } from "./hooks.ts";
import { ExtensionManager } from "./manager.ts";
import type { Node } from "./payloads.ts";

const node: Node = makeNode(1);

const base = { version: "1.0.0", description: "Records what it receives." };

Deno.test("ExtensionManager.notify() passes each handler an EventMeta last, one id per event", async () => {
  const seen: [number[], EventMeta][] = [];
  const manager = new ExtensionManager([
    {
      source: "a",
      extension: {
        ...base,
        name: "a",
        onNodeCollectionDelete: (ids: number[], meta: EventMeta) => void seen.push([ids, meta]),
      },
    },
    {
      source: "b",
      extension: {
        ...base,
        name: "b",
        onNodeCollectionDelete: (ids: number[], meta: EventMeta) => void seen.push([ids, meta]),
      },
    },
  ]);
  await manager.notify("onNodeCollectionDelete", [1, 2]);
  await manager.notify("onNodeCollectionDelete", [3]);
  assert.equal(seen.length, 4);
  for (const [ids, meta] of seen) {
    assert.equal(HANDLER_ARGUMENTS.onNodeCollectionDelete.safeParse([ids, meta]).success, true);
    assert.equal(meta.hook, "onNodeCollectionDelete");
    assert.equal(meta.attempt, 1);
    assert.ok(Object.isFrozen(meta));
    assert.ok(Math.abs(Date.parse(meta.occurredAt) - Date.now()) < 60_000);
  }
  assert.equal(seen[0]![1].id, seen[1]![1].id, "both extensions see the same event");
  assert.notEqual(seen[0]![1].id, seen[2]![1].id, "two events have two ids");
});

Deno.test("ExtensionManager.notify() leaves durable extensions to the host's outbox, vetoes still reach them", async () => {
  const calls: string[] = [];
  const manager = new ExtensionManager([
    {
      source: "inline",
      extension: { ...base, name: "inline", onNodeCreate: () => void calls.push("inline") },
    },
    {
      source: "durable",
      extension: {
        ...base,
        name: "durable",
        delivery: "durable",
        onNodeCreate: () => void calls.push("durable"),
        onBeforeDeploymentCheck: () => void calls.push("durable veto"),
      },
    },
  ]);
  const result = await manager.notify("onNodeCreate", node);
  assert.equal(result.handled, 1);
  await manager.check("onBeforeDeploymentCheck", {
    id: 1,
    name: "c",
    mode: "ha_compact",
    status: "new",
    release: "r",
    extensions: ["durable"],
    attributes: {},
  }, []);
  assert.deepEqual(calls, ["inline", "durable veto"]);
});

Deno.test("verifyExtension() accepts delivery inline or durable and refuses anything else", () => {
  for (const delivery of ["inline", "durable", undefined]) {
    assert.equal(verifyExtension({ ...base, name: "x", delivery }, "./x.ts").name, "x");
  }
  assert.throws(
    () => verifyExtension({ ...base, name: "x", delivery: "eventual" }, "./x.ts"),
    (error) =>
      error instanceof ExtensionLoadError &&
      error.message ===
        'Cannot load extension "./x.ts": "delivery" must be "inline" or "durable": current value is "eventual"',
  );
});

Deno.test("EventMetaSchema refuses an attempt below 1 and a time that is not ISO 8601", () => {
  const meta = { id: "e", hook: "onNodeCreate", occurredAt: new Date().toISOString(), attempt: 1 };
  assert.equal(EventMetaSchema.safeParse(meta).success, true);
  assert.equal(EventMetaSchema.safeParse({ ...meta, attempt: 0 }).success, false);
  assert.equal(EventMetaSchema.safeParse({ ...meta, occurredAt: "yesterday" }).success, false);
  assert.equal(
    EventMetaSchema.safeParse({ ...meta, hook: "onBeforeDeploymentCheck" }).success,
    false,
  );
});
