/**
 * Event dispatch: `ExtensionManager` against a plain loop over the same
 * handlers (the baseline of every group) and against the peers, for 10 and
 * 100 extensions, with async and with sync handlers.
 *
 * The manager runs as in production: the default handler time limit
 * (`DEFAULT_HANDLER_TIMEOUT_MS`, enforced by its watchdog), failure isolation,
 * and the payload deep-frozen before dispatch. Every contender gets a fresh
 * node per event, as a host builds one per event (the manager freezes what
 * it is given, so a payload cannot be reused); every handler counts its calls
 * and keeps its payload, and each contender is checked to call every handler
 * once before it is measured. The cases "payload frozen beforehand" pass one
 * node frozen once, to show the manager's cost apart from freezing.
 *
 * Fault containment has groups of its own, all over one payload frozen once:
 * "fault containment" runs the dispatcher without any monitor (the dispatch
 * as it was before health, breaker and attribution) as the baseline, against
 * the manager with health and breaker, with the fault guard installed (its
 * blocking clock running) and with attribution; "attribution" compares the
 * manager's one cached async context per extension with
 * `AsyncLocalStorage.run()` around each handler and with attribution off.
 * The fault guard, once installed, stays for the rest of the run, as in the
 * service: every group runs with its blocking clock ticking.
 *
 * @module
 */
import Emittery from "npm:emittery@2.2.0";
import { createHooks } from "npm:hookable@6.1.2";
import mittImport from "npm:mitt@3.0.1";
import { AsyncSeriesHook } from "npm:tapable@2.3.4";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  DEFAULT_HANDLER_TIMEOUT_MS,
  dispatchNotification,
  ExtensionManager,
  type Handler,
  type Node,
  Watchdog,
} from "../mod.ts";
import {
  type CallCounter,
  makeExtensions,
  makeHandlers,
  makeNode,
  type NodeHandler,
  SILENT_LOGGER,
} from "./_fixtures.ts";

// mitt's typings are read as CommonJS; at run time the default import is the factory itself.
const mitt = mittImport as unknown as (typeof mittImport)["default"];

type Events = { onNodeCreate: Node };
type NodeHooks = { onNodeCreate: NodeHandler };

/** The contenders of one group, each set up over the same handler functions. */
interface Contenders {
  count: number;
  counter: CallCounter;
  handlers: NodeHandler[];
  manager: ExtensionManager;
  emittery: Emittery<Events>;
  hookable: ReturnType<typeof createHooks<NodeHooks>>;
  tapable: AsyncSeriesHook<[Node]>;
  mitt: ReturnType<typeof mitt<Events>>;
  /** One payload, deep-frozen once: the manager's cost without freezing a new payload. */
  frozen: Node;
}

async function setUp(count: number, kind: "async" | "sync"): Promise<Contenders> {
  const counter: CallCounter = { calls: 0, last: undefined };
  const handlers = makeHandlers(count, kind, counter);
  const manager = new ExtensionManager(makeExtensions(handlers));
  if (manager.handlerTimeoutMs !== DEFAULT_HANDLER_TIMEOUT_MS) {
    throw new Error("Cannot benchmark the manager: it does not run with the production time limit");
  }
  const emittery = new Emittery<Events>();
  const hookable = createHooks<NodeHooks>();
  const tapable = new AsyncSeriesHook<[Node]>(["node"]);
  const emitter = mitt<Events>();
  handlers.forEach((handler, index) => {
    // emittery 2 hands its listeners an event object: {name, data}.
    emittery.on("onNodeCreate", (event) => handler(event.data));
    hookable.hook("onNodeCreate", handler);
    // tapPromise is tapable's form for handlers that return a promise (the async groups
    // only; the sync groups do not measure tapable).
    tapable.tapPromise(`bench_${index}`, handler as (node: Node) => Promise<void>);
    emitter.on("onNodeCreate", handler);
  });
  const frozen = makeNode();
  await manager.notify("onNodeCreate", frozen);
  counter.calls -= count;
  if (!Object.isFrozen(frozen.meta)) {
    throw new Error("Cannot benchmark: the manager did not freeze");
  }
  return { count, counter, handlers, manager, emittery, hookable, tapable, mitt: emitter, frozen };
}

/** Runs a contender once and fails the run unless it called every handler exactly once. */
async function check(group: Contenders, label: string, run: () => unknown): Promise<void> {
  const before = group.counter.calls;
  await run();
  const calls = group.counter.calls - before;
  if (calls !== group.count) {
    throw new Error(
      `Cannot benchmark "${label}": it called ${calls} handlers: expected ${group.count}`,
    );
  }
}

/** A bench case: its name, and what one event costs. */
type Case = [name: string, run: () => unknown];

async function defineGroup(name: string, group: Contenders, cases: Case[]): Promise<void> {
  for (const [label, run] of cases) await check(group, label, run);
  cases.forEach(([label, run], index) => {
    Deno.bench({ name: label, group: name, baseline: index === 0, fn: run as () => void });
  });
}

function asyncCases(group: Contenders): Case[] {
  const { handlers, manager, emittery, hookable, tapable } = group;
  return [
    ["plain for…await loop", async () => {
      const node = makeNode();
      for (const handler of handlers) await handler(node);
    }],
    ["nailgun: await manager.notify()", async () => {
      const result = await manager.notify("onNodeCreate", makeNode());
      if (result.handled !== group.count) throw new Error(`handled ${result.handled}`);
    }],
    ["nailgun: await manager.notify(), payload frozen beforehand", async () => {
      const result = await manager.notify("onNodeCreate", group.frozen);
      if (result.handled !== group.count) throw new Error(`handled ${result.handled}`);
    }],
    ["tapable AsyncSeriesHook.promise()", async () => {
      await tapable.promise(makeNode());
    }],
    ["emittery emitSerial()", async () => {
      await emittery.emitSerial("onNodeCreate", makeNode());
    }],
    ["hookable callHook()", async () => {
      await hookable.callHook("onNodeCreate", makeNode());
    }],
  ];
}

function syncCases(group: Contenders): Case[] {
  const { handlers, manager, mitt } = group;
  return [
    ["plain for loop", () => {
      const node = makeNode();
      for (const handler of handlers) handler(node);
    }],
    ["nailgun: manager.dispatch()", () => {
      const result = manager.dispatch("onNodeCreate", makeNode());
      if (result instanceof Promise || result.handled !== group.count) {
        throw new Error("dispatch() did not complete synchronously");
      }
    }],
    ["nailgun: manager.dispatch(), payload frozen beforehand", () => {
      const result = manager.dispatch("onNodeCreate", group.frozen);
      if (result instanceof Promise || result.handled !== group.count) {
        throw new Error("dispatch() did not complete synchronously");
      }
    }],
    ["nailgun: await manager.notify()", async () => {
      const result = await manager.notify("onNodeCreate", makeNode());
      if (result.handled !== group.count) throw new Error(`handled ${result.handled}`);
    }],
    ["mitt emit()", () => {
      mitt.emit("onNodeCreate", makeNode());
    }],
  ];
}

for (const count of [10, 100]) {
  const asyncGroup = await setUp(count, "async");
  await defineGroup(
    `dispatch, async handlers, ${count} extensions`,
    asyncGroup,
    asyncCases(asyncGroup),
  );
  const syncGroup = await setUp(count, "sync");
  await defineGroup(
    `dispatch, sync handlers, ${count} extensions`,
    syncGroup,
    syncCases(syncGroup),
  );
}

/** Managers and a bare dispatcher over the same handlers, for the fault containment groups. */
async function containment(count: number, kind: "async" | "sync") {
  const counter: CallCounter = { calls: 0, last: undefined };
  const handlers = makeHandlers(count, kind, counter);
  const entries = makeExtensions(handlers);
  const bare: Handler[] = entries.map(({ extension, source }) => ({
    extension: extension.name,
    source,
    target: extension,
    fn: extension.onNodeCreate as Handler["fn"],
  }));
  const watchdog = new Watchdog(DEFAULT_HANDLER_TIMEOUT_MS);
  const off = new ExtensionManager(entries, { logger: SILENT_LOGGER, attribution: false });
  const on = new ExtensionManager(entries, { logger: SILENT_LOGGER });
  const guarded = new ExtensionManager(entries, { logger: SILENT_LOGGER });
  // Installed for the rest of the run: its worker thread does not keep the process alive.
  guarded.guardFaults();
  const node = makeNode();
  await on.notify("onNodeCreate", node); // freezes it once
  counter.calls -= count;
  const storage = new AsyncLocalStorage<string>();
  const names = entries.map(({ extension }) => extension.name);
  return { counter, handlers, bare, watchdog, off, on, guarded, node, storage, names, count };
}

type Containment = Awaited<ReturnType<typeof containment>>;

function expectHandled(result: { handled: number }, count: number): void {
  if (result.handled !== count) throw new Error(`handled ${result.handled}: expected ${count}`);
}

function syncContainmentCases(c: Containment): Case[] {
  const sync = (run: () => unknown) => () => {
    const result = run();
    if (result instanceof Promise) throw new Error("the dispatch did not complete synchronously");
    expectHandled(result as { handled: number }, c.count);
  };
  return [
    [
      "dispatchNotification(), no monitor (no health, breaker, attribution)",
      sync(() => dispatchNotification("onNodeCreate", c.bare, [c.node], c.watchdog)),
    ],
    [
      "manager.dispatch(), health + breaker, attribution off",
      sync(() => c.off.dispatch("onNodeCreate", c.node)),
    ],
    [
      "manager.dispatch(), health + breaker + attribution",
      sync(() => c.on.dispatch("onNodeCreate", c.node)),
    ],
    [
      "manager.dispatch(), health + breaker + attribution + fault guard",
      sync(() => c.guarded.dispatch("onNodeCreate", c.node)),
    ],
  ];
}

function asyncContainmentCases(c: Containment): Case[] {
  return [
    ["dispatchNotification(), no monitor (no health, breaker, attribution)", async () => {
      expectHandled(
        await dispatchNotification("onNodeCreate", c.bare, [c.node], c.watchdog),
        c.count,
      );
    }],
    ["manager.notify(), health + breaker, attribution off", async () => {
      expectHandled(await c.off.notify("onNodeCreate", c.node), c.count);
    }],
    ["manager.notify(), health + breaker + attribution", async () => {
      expectHandled(await c.on.notify("onNodeCreate", c.node), c.count);
    }],
    ["manager.notify(), health + breaker + attribution + fault guard", async () => {
      expectHandled(await c.guarded.notify("onNodeCreate", c.node), c.count);
    }],
  ];
}

function attributionCases(c: Containment): Case[] {
  const { handlers, node, storage, names } = c;
  return [
    ["plain for loop, no context", () => {
      for (const handler of handlers) handler(node);
    }],
    ["plain for loop, AsyncLocalStorage.run() around each handler", () => {
      for (let index = 0; index < handlers.length; index++) {
        storage.run(names[index]!, handlers[index]!, node);
      }
    }],
    ["manager.dispatch(), attribution off (stacks only)", () => {
      expectHandled(c.off.dispatch("onNodeCreate", node) as { handled: number }, c.count);
    }],
    ["manager.dispatch(), attribution on (one cached context per extension)", () => {
      expectHandled(c.on.dispatch("onNodeCreate", node) as { handled: number }, c.count);
    }],
  ];
}

async function defineCounted(name: string, c: Containment, cases: Case[]): Promise<void> {
  await defineGroup(name, { count: c.count, counter: c.counter } as Contenders, cases);
}

for (const count of [10, 100]) {
  const sync = await containment(count, "sync");
  await defineCounted(
    `fault containment, sync handlers, ${count} extensions`,
    sync,
    syncContainmentCases(sync),
  );
  const async = await containment(count, "async");
  await defineCounted(
    `fault containment, async handlers, ${count} extensions`,
    async,
    asyncContainmentCases(async),
  );
}
const attribution = await containment(10, "sync");
await defineCounted(
  "attribution, sync handlers, 10 extensions",
  attribution,
  attributionCases(attribution),
);
