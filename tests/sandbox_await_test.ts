// Inline delivery to sandboxed extensions keeps the contract of SPEC §2.1:
// manager.notify() awaits their handlers, their failures and time-outs are
// in the DispatchResult and in health, and the breaker suspends them; one
// event still reaches every sandboxed extension at once, and each sees its
// own events in order. Fixtures are in tests/_sandbox/.
//
// Run: deno test -A --unstable-worker-options tests/sandbox_await_test.ts
import { makeNode } from "./_payloads.ts";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type ExtensionManager,
  type LoadEntry,
  loadExtensions,
  type LoadResult,
  type Logger,
} from "../mod.ts";
import { createSandboxLauncher } from "../src/sandbox/launcher.ts";
import { recorder } from "./_sandbox/recorder.ts";

const CONFIG_FILE = fileURLToPath(new URL("./_sandbox/extensions.json", import.meta.url));
const LIMIT_MS = 300;

interface Loaded extends LoadResult {
  lines: string[];
}

/**
 * Loads `load` (paths relative to tests/_sandbox/) with a sandbox launcher
 * whose `onFault` is wired to `manager.recordFault()`, as a host wires it.
 */
async function load(
  load: (string | LoadEntry)[],
  options: { handlerTimeoutMs?: number; breaker?: { failures?: number; cooldownMs?: number } } = {},
): Promise<Loaded> {
  const lines: string[] = [];
  const logger: Logger = {
    debug: (message) => lines.push(`debug: ${message}`),
    info: (message) => lines.push(`info: ${message}`),
    warn: (message) => lines.push(`warn: ${message}`),
    error: (message) => lines.push(`error: ${message}`),
  };
  const handlerTimeoutMs = options.handlerTimeoutMs ?? LIMIT_MS;
  // The launcher is made before the manager: its onFault finds the manager here.
  const host: { manager?: ExtensionManager } = {};
  const result = await loadExtensions({
    configFile: CONFIG_FILE,
    importMap: { file: "<none>", imports: {} },
    config: { load, discover: false, handlerTimeoutMs, breaker: options.breaker },
    sandbox: createSandboxLauncher({
      logger,
      handlerTimeoutMs,
      onFault: (name, error, report) => host.manager?.recordFault(name, error, report),
    }),
    services: { logger },
  });
  host.manager = result.manager;
  assert.deepEqual(result.report.failed, []);
  return { ...result, lines };
}

const sandboxed = (specifier: string): LoadEntry => ({ specifier, sandbox: {} });

/** `promise`, or a rejection naming `what` after `ms`: a broken time limit fails, not hangs. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("ExtensionManager.notify() awaits a sandboxed handler: once it returns, the extension has handled the event", async () => {
  const { manager } = await load([sandboxed("./faulty.ts")]);
  try {
    const result = await manager.notify(
      "onNodeCreate",
      makeNode(7, { name: "sleep", meta: { sleepMs: 100 } }),
    );
    assert.deepEqual(result, { hook: "onNodeCreate", handled: 1, failures: [], skipped: 0 });
    assert.deepEqual(await manager.call("handled"), [7]);
  } finally {
    await manager.teardown();
  }
});

Deno.test("ExtensionManager.notify() returns a sandboxed handler's throw, rejection and time-out in the DispatchResult and counts them in health", async () => {
  const { manager, lines } = await load([sandboxed("./faulty.ts"), "./recorder.ts"], {
    breaker: { failures: 10 },
  });
  recorder.received.length = 0;
  try {
    const outcomes = [];
    for (
      const node of [
        makeNode(1, { name: "throw" }),
        makeNode(2, { name: "reject" }),
        makeNode(3, { name: "sleep", meta: { sleepMs: 4 * LIMIT_MS } }),
        makeNode(4),
      ]
    ) {
      const started = performance.now();
      const result = await within(manager.notify("onNodeCreate", node), 3 * LIMIT_MS, node.name);
      outcomes.push({
        handled: result.handled,
        failures: result.failures.map(({ extension, hook, kind, message }) => ({
          extension,
          hook,
          kind,
          message,
        })),
      });
      assert.ok(performance.now() - started < 2 * LIMIT_MS, `${node.name} held the dispatch`);
    }
    assert.deepEqual(outcomes, [
      {
        handled: 1,
        failures: [{
          extension: "faulty",
          hook: "onNodeCreate",
          kind: "rejected",
          message: "TypeError: thrown in the sandbox",
        }],
      },
      {
        handled: 1,
        failures: [{
          extension: "faulty",
          hook: "onNodeCreate",
          kind: "rejected",
          message: "RangeError: rejected in the sandbox",
        }],
      },
      {
        handled: 1,
        failures: [{
          extension: "faulty",
          hook: "onNodeCreate",
          kind: "timeout",
          message: `did not settle within ${LIMIT_MS} ms`,
        }],
      },
      { handled: 2, failures: [] },
    ]);
    assert.equal(recorder.received.length, 4, "the extension in process got every event");
    const health = manager.health("faulty");
    assert.deepEqual(
      { calls: health.calls, failures: health.failures, timeouts: health.timeouts },
      { calls: 4, failures: 2, timeouts: 1 },
    );
    assert.equal(health.state, "degraded");
    // Each failure is logged once, by the manager.
    assert.deepEqual(
      lines.filter((line) => line.startsWith('error: extension "faulty"')),
      [
        'error: extension "faulty" failed in onNodeCreate (rejected): TypeError: thrown in the sandbox',
        'error: extension "faulty" failed in onNodeCreate (rejected): RangeError: rejected in the sandbox',
        `error: extension "faulty" failed in onNodeCreate (timeout): did not settle within ${LIMIT_MS} ms`,
      ],
    );
  } finally {
    await manager.teardown();
  }
});

Deno.test("ExtensionManager.notify() starts one event in every sandboxed extension at once: 5 handlers of 200 ms take about 200 ms, not 1 s", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_concurrent_" });
  const files: string[] = [];
  for (let index = 0; index < 5; index++) {
    const file = `${dir}/slow_${index}.js`;
    await Deno.writeTextFile(
      file,
      `let started;
export default {
  name: "slow_${index}", version: "1.0.0", description: "Takes 200 ms.",
  provides: ["slow_${index}_started"],
  async onNodeCreate() { started = Date.now(); await new Promise((resolve) => setTimeout(resolve, 200)); },
  slow_${index}_started() { return started; },
};
`,
    );
    files.push(file);
  }
  const { manager } = await load([...files.map(sandboxed), "./recorder.ts"], {
    handlerTimeoutMs: 2_000,
  });
  recorder.received.length = 0;
  try {
    const sent = Date.now();
    const result = await within(manager.notify("onNodeCreate", makeNode(1)), 2_000, "notify()");
    const took = Date.now() - sent;
    assert.deepEqual(result, { hook: "onNodeCreate", handled: 6, failures: [], skipped: 0 });
    assert.ok(took >= 200 && took < 700, `the dispatch took ${took} ms`);
    const started = await Promise.all(
      files.map((_, index) => manager.call(`slow_${index}_started`)),
    ) as number[];
    assert.ok(started.every((at) => at >= sent), "each handler ran during the dispatch");
    assert.ok(
      Math.max(...started) - Math.min(...started) < 150,
      `they started within ${Math.max(...started) - Math.min(...started)} ms of each other`,
    );
    assert.equal(recorder.received.length, 1);
  } finally {
    await manager.teardown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ExtensionManager.notify() keeps each sandboxed extension's events in order over many concurrent dispatches", async () => {
  // Each Worker runs the 200 events one after another: all within the time
  // limit, which runs from when manager.notify() posts an event.
  const { manager } = await load([sandboxed("./orderly.ts"), sandboxed("./faulty.ts")], {
    handlerTimeoutMs: 5_000,
  });
  try {
    const count = 200;
    const results = await within(
      Promise.all(
        Array.from(
          { length: count },
          (_, index) =>
            manager.notify("onNodeCreate", makeNode(index + 1, { meta: { waitMs: 0 } })),
        ),
      ),
      10_000,
      `${count} dispatches`,
    );
    assert.ok(results.every((result) => result.handled === 2 && result.failures.length === 0));
    const { seen, most } = await manager.call("order") as { seen: number[]; most: number };
    const ids = Array.from({ length: count }, (_, index) => index + 1);
    assert.deepEqual(seen, ids);
    assert.equal(most, 1, "one handler at a time");
    assert.deepEqual(await manager.call("handled"), ids);
  } finally {
    await manager.teardown();
  }
});

Deno.test("ExtensionManager.notify() suspends a sandboxed extension that keeps timing out, then skips it at once", async () => {
  const { manager, lines } = await load([sandboxed("./faulty.ts"), "./recorder.ts"], {
    breaker: { failures: 3, cooldownMs: 60_000 },
  });
  recorder.received.length = 0;
  try {
    const slow = (id: number) => makeNode(id, { name: "sleep", meta: { sleepMs: 3 * LIMIT_MS } });
    for (let id = 1; id <= 3; id++) {
      const result = await within(manager.notify("onNodeCreate", slow(id)), 3 * LIMIT_MS, `#${id}`);
      assert.deepEqual(result.failures.map((failure) => failure.kind), ["timeout"]);
    }
    assert.equal(manager.health("faulty").state, "suspended");
    assert.equal(manager.health("faulty").timeouts, 3);
    const started = performance.now();
    const result = await manager.notify("onNodeCreate", slow(4));
    assert.ok(performance.now() - started < LIMIT_MS / 2, "a suspended extension costs nothing");
    assert.deepEqual(result, { hook: "onNodeCreate", handled: 1, failures: [], skipped: 1 });
    assert.equal(manager.health("faulty").skipped, 1);
    assert.equal(recorder.received.length, 4);
    assert.ok(
      lines.some((line) => line.startsWith('warn: extension "faulty" is suspended')),
      lines.join("\n"),
    );
  } finally {
    await manager.teardown();
  }
});

Deno.test("ExtensionManager.notify() times a sandboxed handler from when the event is dispatched: an event queued in its Worker past the time limit times out, and no dispatch waits longer", async () => {
  const { manager } = await load([sandboxed("./faulty.ts")], { breaker: { failures: 10 } });
  try {
    const started = performance.now();
    const sleep = (id: number) => makeNode(id, { name: "sleep", meta: { sleepMs: 200 } });
    // The Worker runs them one after another: the second ends 400 ms after it was sent.
    const [first, second] = await within(
      Promise.all([
        manager.notify("onNodeCreate", sleep(1)),
        manager.notify("onNodeCreate", sleep(2)),
      ]),
      3 * LIMIT_MS,
      "two dispatches",
    );
    const took = performance.now() - started;
    assert.deepEqual(first.failures, []);
    assert.deepEqual(second.failures.map((failure) => failure.kind), ["timeout"]);
    assert.ok(took < 2 * LIMIT_MS, `the dispatches took ${took} ms`);
    // The Worker still ran it, late, in order.
    const deadline = Date.now() + 2_000;
    while ((await manager.call("handled") as number[]).length < 2) {
      assert.ok(Date.now() < deadline, "the second event is handled late");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(await manager.call("handled"), [1, 2]);
  } finally {
    await manager.teardown();
  }
});
