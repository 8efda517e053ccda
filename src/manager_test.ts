import { makeCluster, makeNode } from "../tests/_payloads.ts";
import assert from "node:assert/strict";
import { ExtensionError, ExtensionVetoError } from "./errors.ts";
import type { Extension } from "./extension.ts";
import { ExtensionManager } from "./manager.ts";
import type { Cluster, Node } from "./payloads.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function ext(name: string, members: Record<string, unknown> = {}): Extension {
  return { name, version: "1.0.0", description: `The ${name} extension.`, ...members };
}

function manage(extensions: Extension[], handlerTimeoutMs = 1_000): ExtensionManager {
  return new ExtensionManager(
    extensions.map((extension) => ({ extension, source: `./${extension.name}.ts` })),
    { handlerTimeoutMs, logger: quiet },
  );
}

Deno.test("ExtensionManager.notify() isolates a throwing, a rejecting and a never-settling handler", async () => {
  const received: string[] = [];
  const record = (name: string) => (n: Node) => void received.push(`${name}:${n.id}`);
  const manager = manage([
    ext("first", { onNodeCreate: record("first") }),
    ext("thrower", {
      onNodeCreate() {
        throw new Error("sync boom");
      },
    }),
    ext("rejecter", { onNodeCreate: () => Promise.reject(new TypeError("async boom")) }),
    ext("sleeper", { onNodeCreate: () => new Promise(() => {}) }),
    ext("last", { onNodeCreate: async (n: Node) => void received.push(`last:${n.id}`) }),
  ], 50);
  const started = performance.now();
  const result = await manager.notify("onNodeCreate", makeNode(7));
  assert.ok(performance.now() - started < 2_000, "the time limit ends the wait");
  assert.deepEqual(received, ["first:7", "last:7"]);
  assert.equal(result.handled, 2);
  assert.deepEqual(
    result.failures.map((f) => [f.extension, f.hook, f.kind, f.message]),
    [
      ["thrower", "onNodeCreate", "threw", "sync boom"],
      ["rejecter", "onNodeCreate", "rejected", "TypeError: async boom"],
      ["sleeper", "onNodeCreate", "timeout", "did not settle within 50 ms"],
    ],
  );
  assert.equal(result.failures[0]!.source, "./thrower.ts");
});

Deno.test("ExtensionManager.notify() delivers in load order and skips extensions without the hook", async () => {
  const order: string[] = [];
  const manager = manage([
    ext("a", { onNodeDelete: () => void order.push("a") }),
    ext("b"),
    ext("c", { onNodeDelete: async () => void order.push("c") }),
    ext("d", { onNodeDelete: () => void order.push("d") }),
  ]);
  const result = await manager.notify("onNodeDelete", makeNode(1));
  assert.deepEqual(order, ["a", "c", "d"]);
  assert.equal(result.handled, 3);
});

Deno.test("ExtensionManager.dispatch() answers synchronously when every handler is sync", () => {
  let calls = 0;
  const manager = manage([ext("a", { onNodeUpdate: () => void calls++ })]);
  const result = manager.dispatch("onNodeUpdate", makeNode(1));
  assert.ok(!(result instanceof Promise));
  assert.equal(result.handled, 1);
  assert.equal(calls, 1);
});

Deno.test("ExtensionManager.notify() freezes payloads: a handler cannot change what the next one sees", async () => {
  const seen: unknown[] = [];
  const manager = manage([
    ext("vandal", {
      onNodeUpdate(n: Node) {
        (n as { name: string }).name = "hacked";
      },
    }),
    ext("reader", { onNodeUpdate: (n: Node) => void seen.push(n.name, n.roles.length) }),
  ]);
  const payload = makeNode(3, { roles: ["compute"] });
  const result = await manager.notify("onNodeUpdate", payload);
  assert.deepEqual(seen, ["node-3", 1]);
  assert.equal(result.failures[0]?.extension, "vandal");
  assert.match(result.failures[0]!.message, /read[- ]only|not extensible|Cannot assign/);
});

Deno.test("ExtensionManager.check() stops at the first veto and names the extension", async () => {
  const calls: string[] = [];
  const manager = manage([
    ext("a", { onBeforeDeploymentCheck: () => void calls.push("a") }),
    ext("b", {
      onBeforeDeploymentCheck() {
        calls.push("b");
        throw new Error("controller disk is 20 GB, 50 GB needed");
      },
    }),
    ext("c", { onBeforeDeploymentCheck: () => void calls.push("c") }),
  ]);
  await assert.rejects(
    () => manager.check("onBeforeDeploymentCheck", makeCluster(["c", "b", "a"]), []),
    (error: unknown) => {
      assert.ok(error instanceof ExtensionVetoError);
      assert.equal(error.extension, "b");
      assert.equal(error.hook, "onBeforeDeploymentCheck");
      assert.equal(
        error.message,
        'Extension "b" vetoed onBeforeDeploymentCheck: controller disk is 20 GB, 50 GB needed',
      );
      return true;
    },
  );
  assert.deepEqual(calls, ["c", "b"], "cluster order, and nothing after the veto");
});

Deno.test("ExtensionManager.check() only asks the extensions enabled on the cluster", async () => {
  const calls: string[] = [];
  const manager = manage([
    ext("on", { onBeforeProvisioningSerialization: () => void calls.push("on") }),
    ext("off", {
      onBeforeProvisioningSerialization() {
        throw new Error("must not run");
      },
    }),
  ]);
  await manager.check("onBeforeProvisioningSerialization", makeCluster(["on"]), [], false);
  assert.deepEqual(calls, ["on"]);
});

Deno.test("ExtensionManager.runPipelines() applies pipelines in the cluster's order on a copy", async () => {
  const manager = manage([
    ext("first", {
      pipelines: [{
        processDeploymentForCluster: (_c: Cluster, data: Record<string, unknown>) => ({
          ...data,
          trail: [...(data.trail as string[]), "first"],
        }),
        processDeploymentForNode(n: Node, data: Record<string, unknown>) {
          data.owner = `first-${n.id}`;
        },
      }],
    }),
    ext("second", {
      pipelines: [{
        processDeploymentForCluster: (_c: Cluster, data: Record<string, unknown>) => ({
          ...data,
          trail: [...(data.trail as string[]), "second"],
        }),
        processProvisioningForNode: () => ({ provisioning: true }),
      }],
    }),
  ]);
  const input = { cluster: { trail: [] as string[] }, nodes: [{ uid: "1" }, { uid: "2" }] };
  const output = await manager.runPipelines(
    "deployment",
    makeCluster(["second", "first"]),
    [makeNode(1), makeNode(2)],
    input,
  );
  assert.deepEqual(output.cluster.trail, ["second", "first"]);
  assert.deepEqual(output.nodes, [{ uid: "1", owner: "first-1" }, { uid: "2", owner: "first-2" }]);
  assert.deepEqual(input, { cluster: { trail: [] }, nodes: [{ uid: "1" }, { uid: "2" }] });
});

Deno.test("ExtensionManager.runPipelines() names the extension and step that failed", async () => {
  const manager = manage([ext("broken", {
    pipelines: [{
      processProvisioningForCluster() {
        throw new Error("no disks");
      },
    }],
  })]);
  await assert.rejects(
    () =>
      manager.runPipelines("provisioning", makeCluster(["broken"]), [], { cluster: {}, nodes: [] }),
    (error: unknown) =>
      error instanceof ExtensionError && error.extension === "broken" &&
      error.message === 'Extension "broken" failed in processProvisioningForCluster: no disks',
  );
});

Deno.test("ExtensionManager.call() finds the one provider of a call", async () => {
  const manager = manage([
    ext("volumes", { provides: ["getNodeVolumes"], getNodeVolumes: (id: number) => [`vda-${id}`] }),
    ext("other"),
  ]);
  assert.deepEqual(await manager.call("getNodeVolumes", 4), ["vda-4"]);
  assert.equal(manager.providerOf("getNodeVolumes"), "volumes");
  await assert.rejects(
    () => manager.call("getNetworks"),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        'Cannot call "getNetworks": no loaded extension provides it: provided calls are "getNodeVolumes"',
  );
});

Deno.test("ExtensionManager.get() finds by name and says which names exist", () => {
  const manager = manage([ext("alpha"), ext("beta")]);
  assert.equal(manager.get("beta").name, "beta");
  assert.deepEqual([...manager].map((e) => e.name), ["alpha", "beta"]);
  assert.equal(manager.size, 2);
  assert.throws(
    () => manager.get("gamma"),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        'Cannot find extension "gamma": it is not loaded: loaded extensions are "alpha", "beta"',
  );
});

Deno.test("ExtensionManager.map() isolates each extension's failure", async () => {
  const manager = manage([ext("alpha"), ext("beta"), ext("gamma")]);
  const outcomes = await manager.map((extension) => {
    if (extension.name === "beta") throw new Error("nope");
    return extension.name.length;
  });
  assert.deepEqual(outcomes.map((o) => o.ok ? o.value : o.message), [5, "nope", 5]);
});

Deno.test("ExtensionManager.teardown() runs in reverse order and survives a failure", async () => {
  const order: string[] = [];
  const manager = manage([
    ext("a", { teardown: () => void order.push("a") }),
    ext("b", {
      teardown() {
        order.push("b");
        throw new Error("stuck");
      },
    }),
    ext("c", { teardown: async () => void order.push("c") }),
  ]);
  const failures = await manager.teardown();
  assert.deepEqual(order, ["c", "b", "a"]);
  assert.deepEqual(failures.map((f) => [f.name, f.message]), [["b", "stuck"]]);
});

Deno.test("ExtensionManager() refuses two extensions of one name", () => {
  assert.throws(
    () => manage([ext("same"), ext("same")]),
    (error: unknown) =>
      error instanceof RangeError && /"same" is already taken/.test(error.message),
  );
});
