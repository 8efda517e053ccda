import { makeCluster, makeNode } from "../tests/_payloads.ts";
import assert from "node:assert/strict";
import { ExtensionError, ExtensionVetoError } from "./errors.ts";
import type { Extension } from "./extension.ts";
import { CONCURRENT_NOTIFICATIONS, withTimeLimit } from "./dispatcher.ts";
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
  const result = await within(manager.notify("onNodeCreate", makeNode(7)), 2_000, "the time limit");
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

/** Settles as `promise` does, or rejects naming `what` after `ms`: a broken limit fails the test. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`deadline of ${ms} ms passed: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function recordingLogger(lines: string[]) {
  const log = (line: string) => void lines.push(line);
  return { debug: log, info: log, warn: log, error: log };
}

Deno.test("ExtensionManager.notify() refuses a change inside an array of the payload: the next handler sees the old value", async () => {
  const seen: number[] = [];
  const manager = manage([
    ext("vandal", {
      onNodeUpdate(n: Node) {
        (n.meta.disks as { size: number }[])[0]!.size = 1;
      },
    }),
    ext("reader", {
      onNodeUpdate: (n: Node) => void seen.push((n.meta.disks as { size: number }[])[0]!.size),
    }),
  ]);
  const payload = makeNode(4, { meta: { disks: [{ name: "vda", size: 500 }] } });
  const result = await manager.notify("onNodeUpdate", payload);
  assert.deepEqual(seen, [500]);
  assert.equal(result.handled, 1);
  assert.equal(result.failures[0]?.extension, "vandal");
  assert.match(result.failures[0]!.message, /read[- ]only|Cannot assign/);
});

Deno.test("ExtensionManager.check() refuses a veto hook that changes the cluster it is given", async () => {
  const cluster = makeCluster(["meddler"], { name: "prod" });
  const manager = manage([ext("meddler", {
    onBeforeDeploymentCheck(c: Cluster) {
      (c as { name: string }).name = "hijacked";
    },
  })]);
  await assert.rejects(
    () => manager.check("onBeforeDeploymentCheck", cluster, []),
    (error: unknown) =>
      error instanceof ExtensionVetoError && error.extension === "meddler" &&
      /read[- ]only|Cannot assign/.test(error.message),
  );
  assert.equal(cluster.name, "prod");
});

Deno.test("ExtensionManager.runPipelines() refuses a step that changes the node it is given", async () => {
  const node = makeNode(5, { name: "node-5" });
  const manager = manage([ext("meddler", {
    pipelines: [{
      processDeploymentForNode(n: Node, data: Record<string, unknown>) {
        (n as { name: string }).name = "renamed";
        return data;
      },
    }],
  })]);
  await assert.rejects(
    () =>
      manager.runPipelines("deployment", makeCluster(["meddler"]), [node], {
        cluster: {},
        nodes: [{}],
      }),
    (error: unknown) =>
      error instanceof ExtensionError && error.extension === "meddler" &&
      error.message.startsWith('Extension "meddler" failed in processDeploymentForNode: '),
  );
  assert.equal(node.name, "node-5");
});

Deno.test("ExtensionManager.call() on a provider that never settles rejects with the time limit's message", async () => {
  const manager = manage([ext("stuck", {
    provides: ["getNothing"],
    getNothing: () => new Promise(() => {}),
  })], 50);
  await within(
    assert.rejects(
      () => manager.call("getNothing"),
      (error: unknown) =>
        error instanceof ExtensionError &&
        error.message ===
          'Extension "stuck" failed in its call "getNothing": did not settle within 50 ms',
    ),
    2_000,
    "the call's time limit ends the wait",
  );
  assert.equal(manager.health("stuck").timeouts, 1);
});

Deno.test("ExtensionManager.dispatch() in which one sync handler throws reports handled as one less than the handlers", () => {
  const manager = manage([
    ext("a", { onNodeReset() {} }),
    ext("b", {
      onNodeReset() {
        throw new Error("no");
      },
    }),
    ext("c", { onNodeReset() {} }),
  ]);
  const result = manager.dispatch("onNodeReset", makeNode(1));
  assert.ok(!(result instanceof Promise));
  assert.equal(result.handled, 2);
  assert.equal(result.failures.length, 1);
});

Deno.test("ExtensionManager.call() hands back a copy: the caller changing it changes nothing in the provider", async () => {
  const volumes = { disks: [{ name: "vda", size: 100 }] };
  const manager = manage([ext("volumes", {
    provides: ["getVolumes"],
    getVolumes: () => volumes,
  })]);
  const result = await manager.call("getVolumes") as typeof volumes;
  result.disks[0]!.size = 1;
  result.disks.push({ name: "vdb", size: 2 });
  assert.deepEqual(volumes, { disks: [{ name: "vda", size: 100 }] });
});

Deno.test("ExtensionManager.runPipelines() output does not alias what a step keeps", async () => {
  let kept: Record<string, unknown> | undefined;
  const manager = manage([ext("keeper", {
    pipelines: [{
      processDeploymentForCluster(_c: Cluster, data: Record<string, unknown>) {
        kept = { ...data, list: [1] };
        return kept;
      },
    }],
  })]);
  const output = await manager.runPipelines("deployment", makeCluster(["keeper"]), [], {
    cluster: {},
    nodes: [],
  });
  (output.cluster.list as number[]).push(2);
  assert.deepEqual(kept!.list, [1]);
  (kept!.list as number[]).push(3);
  assert.deepEqual(output.cluster.list, [1, 2]);
});

Deno.test("ExtensionManager.runPipelines() names the extension and step of output that cannot be serialized", async (t) => {
  for (
    const [label, make] of [
      ["a cycle", () => {
        const data: Record<string, unknown> = {};
        data.self = data;
        return data;
      }],
      ["a BigInt", () => ({ size: 10n })],
    ] as const
  ) {
    await t.step(label, async () => {
      const manager = manage([ext("odd", {
        pipelines: [{ processProvisioningForCluster: make }],
      })]);
      await assert.rejects(
        () =>
          manager.runPipelines("provisioning", makeCluster(["odd"]), [], {
            cluster: {},
            nodes: [],
          }),
        (error: unknown) =>
          error instanceof ExtensionError && error.extension === "odd" &&
          error.message.startsWith(
            'Extension "odd" failed in processProvisioningForCluster: it returned data that cannot be serialized as JSON: ',
          ),
      );
      assert.equal(manager.health("odd").failures, 1);
    });
  }
});

Deno.test("ExtensionManager.notify() suspends a never-settling handler after 3 timeouts, then probes it and it recovers", async () => {
  const lines: string[] = [];
  let stuck = true;
  let calls = 0;
  const received: number[] = [];
  const manager = new ExtensionManager([
    {
      source: "./sleeper.ts",
      extension: ext("sleeper", {
        onNodeCreate() {
          calls++;
          return stuck ? new Promise(() => {}) : undefined;
        },
      }),
    },
    {
      source: "./healthy.ts",
      extension: ext("healthy", { onNodeCreate: (n: Node) => void received.push(n.id) }),
    },
  ], {
    handlerTimeoutMs: 100,
    logger: recordingLogger(lines),
    breaker: { failures: 3, cooldownMs: 400 },
  });
  for (let id = 1; id <= 3; id++) {
    const result = await within(
      manager.notify("onNodeCreate", makeNode(id)),
      2_000,
      `notify ${id}`,
    );
    assert.equal(result.failures[0]?.kind, "timeout");
  }
  assert.equal(manager.health("sleeper").state, "suspended");
  assert.ok(
    lines.some((line) => /"sleeper" is suspended for 400 ms after 3 consecutive/.test(line)),
  );
  for (let id = 4; id <= 6; id++) {
    const started = performance.now();
    const result = await within(
      manager.notify("onNodeCreate", makeNode(id)),
      2_000,
      `notify ${id}`,
    );
    assert.ok(performance.now() - started < 50, "a suspended extension does not hold the dispatch");
    assert.equal(result.skipped, 1);
    assert.equal(result.handled, 1);
  }
  assert.equal(calls, 3);
  assert.equal(manager.health("sleeper").skipped, 3);
  await new Promise((resolve) => setTimeout(resolve, 450));
  stuck = false;
  const probe = await within(manager.notify("onNodeCreate", makeNode(7)), 2_000, "the probe");
  assert.equal(probe.skipped, 0);
  assert.equal(calls, 4);
  assert.notEqual(manager.health("sleeper").state, "suspended");
  assert.ok(
    lines.some((line) => /"sleeper" is probed with onNodeCreate after its cool-down: 3/.test(line)),
  );
  assert.ok(lines.some((line) => /"sleeper" is no longer suspended/.test(line)));
  assert.deepEqual(received, [1, 2, 3, 4, 5, 6, 7], "the healthy extension got every event once");
  const health = manager.health("sleeper");
  assert.deepEqual(
    [health.calls, health.timeouts, health.failures, health.skipped],
    [4, 3, 0, 3],
  );
});

Deno.test("ExtensionManager.notify() suspends again when the probe fails", async () => {
  const lines: string[] = [];
  const manager = new ExtensionManager([{
    source: "./broken.ts",
    extension: ext("broken", {
      onNodeDelete() {
        throw new Error("still down");
      },
    }),
  }], { logger: recordingLogger(lines), breaker: { failures: 2, cooldownMs: 100 } });
  await manager.notify("onNodeDelete", makeNode(1));
  await manager.notify("onNodeDelete", makeNode(1));
  assert.equal(manager.health("broken").state, "suspended");
  await new Promise((resolve) => setTimeout(resolve, 150));
  const probe = await manager.notify("onNodeDelete", makeNode(1));
  assert.equal(probe.failures.length, 1);
  assert.equal(manager.health("broken").state, "suspended");
  assert.match(lines.at(-1)!, /"broken" is suspended again \(its probe failed\) for 100 ms/);
  const skipped = await manager.notify("onNodeDelete", makeNode(1));
  assert.equal(skipped.skipped, 1);
});

Deno.test("ExtensionManager.check() fails closed for a suspended extension, naming it", async () => {
  let vetoCalls = 0;
  const manager = new ExtensionManager([{
    source: "./flaky.ts",
    extension: ext("flaky", {
      onNodeCreate() {
        throw new Error("boom");
      },
      onBeforeDeploymentCheck() {
        vetoCalls++;
      },
    }),
  }], { logger: quiet, breaker: { failures: 1, cooldownMs: 60_000 } });
  await manager.check("onBeforeDeploymentCheck", makeCluster(["flaky"]), []);
  await manager.notify("onNodeCreate", makeNode(1));
  await assert.rejects(
    () => manager.check("onBeforeDeploymentCheck", makeCluster(["flaky"]), []),
    (error: unknown) =>
      error instanceof ExtensionVetoError && error.extension === "flaky" &&
      error.hook === "onBeforeDeploymentCheck" &&
      /^Extension "flaky" vetoed onBeforeDeploymentCheck: it is suspended/.test(error.message),
  );
  assert.equal(vetoCalls, 1);
});

Deno.test("ExtensionManager.check() counts a refusal as an answer, not a fault", async () => {
  const manager = manage([ext("strict", {
    onBeforeDeploymentCheck() {
      throw new Error("not today");
    },
  })]);
  for (let i = 0; i < 5; i++) {
    await assert.rejects(() =>
      manager.check("onBeforeDeploymentCheck", makeCluster(["strict"]), [])
    );
  }
  const health = manager.health("strict");
  assert.deepEqual([health.state, health.calls, health.failures], ["healthy", 5, 0]);
});

Deno.test("ExtensionManager.health() is healthy, then degraded after a failure, and names the last error", async () => {
  let fail = false;
  const manager = manage([ext("moody", {
    onNodeUpdate() {
      if (fail) throw new TypeError("bad mood");
    },
  })]);
  await manager.notify("onNodeUpdate", makeNode(1));
  assert.deepEqual(manager.health("moody"), {
    state: "healthy",
    calls: 1,
    failures: 0,
    timeouts: 0,
    unhandled: 0,
    blocked: 0,
    skipped: 0,
  });
  fail = true;
  await manager.notify("onNodeUpdate", makeNode(1));
  const health = manager.health("moody");
  assert.equal(health.state, "degraded");
  assert.equal(health.failures, 1);
  assert.equal(health.lastError, "TypeError: bad mood");
  assert.throws(() => manager.health("nobody"), RangeError);
});

Deno.test("ExtensionManager.runAs() runs host-invoked code as the extension and counts its failures", async () => {
  const manager = manage([ext("routes")]);
  assert.equal(manager.runAs("routes", () => 42), 42);
  await assert.rejects(
    () => manager.runAs("routes", () => Promise.reject(new Error("route broke"))),
    /route broke/,
  );
  assert.throws(() =>
    manager.runAs("routes", () => {
      throw new Error("sync broke");
    }), /sync broke/);
  const health = manager.health("routes");
  assert.deepEqual([health.calls, health.failures, health.lastError], [3, 2, "sync broke"]);
});

Deno.test("ExtensionManager.recordFault() logs and counts a failure the host saw", () => {
  const lines: string[] = [];
  const manager = new ExtensionManager([{ source: "./w.ts", extension: ext("worker") }], {
    logger: recordingLogger(lines),
  });
  manager.recordFault("worker", new Error("Worker crashed"));
  assert.equal(manager.health("worker").failures, 1);
  assert.equal(manager.health("worker").state, "degraded");
  assert.match(lines[0]!, /^extension "worker" failed \(reported by the host\): Worker crashed/);
});

Deno.test("ExtensionManager.recordFault() counts a timeout the host reports as a timeout, and logs a fault already logged only once", () => {
  const lines: string[] = [];
  const manager = new ExtensionManager([{ source: "./w.ts", extension: ext("worker") }], {
    logger: recordingLogger(lines),
    breaker: { failures: 2 },
  });
  manager.recordFault("worker", new Error("did not answer"), { kind: "timeouts", logged: true });
  assert.deepEqual(lines.filter((line) => line.includes("did not answer")), [], "logged already");
  manager.recordFault("worker", new Error("stuck"), { kind: "timeouts" });
  const health = manager.health("worker");
  assert.deepEqual([health.timeouts, health.failures, health.state], [2, 0, "suspended"]);
  assert.deepEqual(lines.filter((line) => line.includes("reported by the host")), [
    'extension "worker" timed out (reported by the host): stuck',
  ]);
  assert.match(lines.at(-1)!, /"worker" is suspended/);
});

Deno.test("ExtensionManager.dispatch() starts the handlers of extensions that declare CONCURRENT_NOTIFICATIONS at once, runs the others in order, and merges every outcome", async () => {
  const events: string[] = [];
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const concurrent = (name: string, handler: (node: Node) => unknown) =>
    ext(name, { [CONCURRENT_NOTIFICATIONS]: true, onNodeCreate: handler });
  const manager = manage([
    ext("first", {
      async onNodeCreate() {
        events.push("first start");
        await wait(50);
        events.push("first end");
      },
    }),
    concurrent("slow_a", async () => {
      events.push("slow_a start");
      await wait(150);
    }),
    concurrent("thrower", () => {
      throw new TypeError("at once");
    }),
    concurrent("hanger", () => new Promise(() => {})),
    concurrent("slow_b", async () => {
      events.push("slow_b start");
      await wait(150);
      throw new RangeError("late");
    }),
    ext("last", {
      onNodeCreate() {
        events.push("last");
      },
    }),
  ], 300);
  const started = performance.now();
  const dispatched = manager.dispatch("onNodeCreate", makeNode(1));
  assert.ok(dispatched instanceof Promise);
  assert.deepEqual(events, ["slow_a start", "slow_b start", "first start"]);
  const result = await within(dispatched, 1_000, "the dispatch");
  const took = performance.now() - started;
  assert.ok(took >= 300 && took < 600, `the dispatch took ${took} ms (one time limit)`);
  assert.deepEqual(events, ["slow_a start", "slow_b start", "first start", "first end", "last"]);
  assert.equal(result.handled, 3);
  assert.deepEqual(
    result.failures.map(({ extension, kind, message }) => ({ extension, kind, message })),
    [
      { extension: "thrower", kind: "threw", message: "TypeError: at once" },
      { extension: "hanger", kind: "timeout", message: "did not settle within 300 ms" },
      { extension: "slow_b", kind: "rejected", message: "RangeError: late" },
    ],
    "in dispatch order",
  );
  assert.deepEqual(
    ["slow_a", "thrower", "hanger", "slow_b"].map((name) => {
      const { calls, failures, timeouts } = manager.health(name);
      return [calls, failures, timeouts];
    }),
    [[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 0]],
  );
});

Deno.test("ExtensionManager.dispatch() stays synchronous when no extension declares CONCURRENT_NOTIFICATIONS", () => {
  const manager = manage([ext("a", { onNodeCreate() {} }), ext("b", { onNodeUpdate() {} })]);
  const result = manager.dispatch("onNodeCreate", makeNode(1));
  assert.ok(!(result instanceof Promise));
  assert.equal(result.handled, 1);
});

Deno.test("ExtensionManager.guardFaults() of one manager never claims a fault of another manager's extension of the same name and source", async () => {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const make = (careless: boolean) =>
    new ExtensionManager([{
      source: "jsr:@acme/audit@^1",
      extension: {
        name: "audit",
        version: "1.0.0",
        description: "Audits nodes.",
        onNodeCreate() {
          if (careless) void Promise.reject(new Error("nobody listens"));
        },
      },
    }], { logger: quiet });
  const first = make(false);
  const second = make(true);
  using _first = first.guardFaults();
  using _second = second.guardFaults();
  await second.notify("onNodeCreate", makeNode(1));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(first.health("audit").unhandled, 0);
  assert.equal(second.health("audit").unhandled, 1);
});

Deno.test("ExtensionManager.runAs() counts a call that ran out of time as a call and a timeout", async () => {
  const manager = new ExtensionManager([{
    source: "./routes.ts",
    extension: { name: "routes", version: "1.0.0", description: "Serves routes." },
  }], { logger: { debug() {}, info() {}, warn() {}, error() {} } });
  await assert.rejects(
    manager.runAs("routes", () => withTimeLimit(() => new Promise(() => {}), 20)),
    /did not settle within 20 ms/,
  );
  await assert.rejects(manager.runAs("routes", () => Promise.reject(new Error("boom"))), /boom/);
  const health = manager.health("routes");
  assert.deepEqual([health.calls, health.timeouts, health.failures], [2, 1, 1]);
});
