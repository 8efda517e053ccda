/**
 * Sandboxed extensions against a raw Worker round trip with the same payload
 * (the baseline of the notification groups) and against the same extensions
 * in process: notification dispatch to 1 and to 10 extensions, 10 sandboxed
 * extensions against 1, and the start-up of one extension (import and
 * verify, then teardown).
 *
 * In process, the manager calls the handler directly. Sandboxed,
 * `manager.notify()` posts a structured-clone message to every sandboxed
 * extension at once and awaits each Worker's answer, so it measures the
 * whole round trip, as the raw baseline does (`postMessage(node)` to plain
 * Workers, each answering with the id). All run as in production: the default handler time limit,
 * failure isolation, a fresh payload per event, frozen before dispatch.
 * Each contender is checked to reach every extension before it is measured.
 *
 * Start-up: in process, the module is imported once and then served from the
 * module cache, so the case measures verification and set-up; sandboxed,
 * every load starts a new Worker, which loads the module graph (from Deno's
 * cache) and verifies the extension in the Worker.
 *
 * Run: deno bench -A --unstable-worker-options benchmarks/sandbox_bench.ts
 *
 * @module
 */
import { DEFAULT_HANDLER_TIMEOUT_MS, type ExtensionManager, loadExtensions } from "../mod.ts";
import { createSandboxLauncher } from "../src/sandbox/launcher.ts";
import { makeNode, SILENT_LOGGER } from "./_fixtures.ts";
import type { Node } from "../mod.ts";

/** Writes `count` no-op extension modules (plain `.js`) that count their events. */
function writeModules(count: number): { dir: string; files: string[] } {
  const dir = Deno.makeTempDirSync({ prefix: "nailgun_sandbox_bench_" });
  const files: string[] = [];
  for (let index = 0; index < count; index++) {
    const name = `box_${index}`;
    const file = `${dir}/${name}.js`;
    Deno.writeTextFileSync(
      file,
      `let events = 0;
export default {
  name: "${name}",
  version: "1.0.0",
  description: "Counts its events.",
  provides: ["${name}_events"],
  async onNodeCreate(node) {
    events++;
    this.last = node.id;
  },
  ${name}_events() {
    return events;
  },
};
`,
    );
    files.push(file);
  }
  return { dir, files };
}

async function load(files: string[], sandboxed: boolean): Promise<ExtensionManager> {
  const { manager, report } = await loadExtensions({
    config: {
      load: files.map((file) => sandboxed ? { specifier: file, sandbox: {} } : file),
      discover: false,
    },
    importMap: { file: "<none>", imports: {} },
    sandbox: createSandboxLauncher({ logger: SILENT_LOGGER }),
    services: { logger: SILENT_LOGGER },
  });
  if (report.failed.length > 0) {
    throw new Error(`Cannot benchmark: ${report.failed.map((f) => f.message).join("; ")}`);
  }
  if (manager.handlerTimeoutMs !== DEFAULT_HANDLER_TIMEOUT_MS) {
    throw new Error("Cannot benchmark: the manager does not run with the production time limit");
  }
  return manager;
}

/** Fails the run unless one event reaches every extension of `manager`. */
async function check(manager: ExtensionManager, label: string): Promise<void> {
  const before = await Promise.all(manager.names.map((name) => manager.call(`${name}_events`)));
  const result = await manager.notify("onNodeCreate", makeNode());
  const after = await Promise.all(manager.names.map((name) => manager.call(`${name}_events`)));
  const reached = after.filter((count, index) => count === (before[index] as number) + 1).length;
  if (result.handled !== manager.size || reached !== manager.size) {
    throw new Error(
      `Cannot benchmark "${label}": the event reached ${reached} of ${manager.size} extensions`,
    );
  }
}

const managers: ExtensionManager[] = [];
const workers: Worker[] = [];

/**
 * `count` plain Workers that answer each message with its id: the raw round
 * trip a sandboxed notification is measured against, with the same payload.
 */
function rawWorkers(count: number): (node: Node) => Promise<void> {
  const code = "self.onmessage = (event) => self.postMessage(event.data.id);";
  const started = Array.from({ length: count }, () => {
    const worker = new Worker(`data:application/javascript,${encodeURIComponent(code)}`, {
      type: "module",
      deno: { permissions: "none" },
    });
    workers.push(worker);
    return worker;
  });
  let waiting = 0;
  let done: () => void = () => {};
  for (const worker of started) {
    worker.onmessage = () => {
      if (--waiting === 0) done();
    };
  }
  return (node) =>
    new Promise<void>((resolve) => {
      waiting = count;
      done = resolve;
      for (const worker of started) worker.postMessage({ id: node.id, node });
    });
}

/** Sends one event to every sandboxed extension: notify() settles once each Worker answered it. */
async function notifySandboxed(manager: ExtensionManager, count: number): Promise<void> {
  const result = await manager.notify("onNodeCreate", makeNode());
  if (result.handled !== count) throw new Error(`handled ${result.handled}`);
}

const sandboxedBy = new Map<number, ExtensionManager>();
for (const count of [1, 10]) {
  const { files } = writeModules(count);
  const group = `sandbox: notification, async handlers, ${count} extension${count > 1 ? "s" : ""}`;
  const inProcess = await load(files, false);
  const sandboxed = await load(files, true);
  await check(inProcess, "in process");
  await check(sandboxed, "sandboxed");
  managers.push(inProcess, sandboxed);
  sandboxedBy.set(count, sandboxed);
  const raw = rawWorkers(count);
  await raw(makeNode());
  Deno.bench({
    name: `raw Worker round trip: postMessage(node) to ${count}, await each answer`,
    group,
    baseline: true,
    async fn() {
      await raw(makeNode());
    },
  });
  Deno.bench({
    name: "nailgun: await manager.notify(), sandboxed (each Worker answered)",
    group,
    // An async function: Deno.bench awaits only those.
    async fn() {
      await notifySandboxed(sandboxed, count);
    },
  });
  Deno.bench({
    name: "in process: await manager.notify()",
    group,
    async fn() {
      const result = await inProcess.notify("onNodeCreate", makeNode());
      if (result.handled !== count) throw new Error(`handled ${result.handled}`);
    },
  });
}

// One event to 10 sandboxed extensions against one event to 1: they get it
// concurrently, so the ratio is what 10 Workers waking at once cost over one.
{
  const group = "sandbox: notification to 10 sandboxed extensions vs 1";
  for (const count of [1, 10]) {
    const sandboxed = sandboxedBy.get(count)!;
    Deno.bench({
      name: `nailgun: ${count} sandboxed extension${
        count > 1 ? "s" : ""
      }, until each Worker answered`,
      group,
      baseline: count === 1,
      // An async function: Deno.bench awaits only those.
      async fn() {
        await notifySandboxed(sandboxed, count);
      },
    });
  }
}

{
  const { files } = writeModules(1);
  const group = "sandbox: start-up and teardown of 1 extension";
  for (const sandboxed of [false, true]) {
    Deno.bench({
      name: sandboxed ? "nailgun: load, sandboxed (a new Worker)" : "in process: load",
      group,
      baseline: !sandboxed,
      n: 20,
      warmup: 2,
      async fn() {
        const manager = await load(files, sandboxed);
        await manager.teardown();
      },
    });
  }
}

// The sandboxed managers hold Workers: end them once every bench has run.
globalThis.addEventListener("unload", () => {
  for (const manager of managers) void manager.teardown();
  for (const worker of workers) worker.terminate();
});
