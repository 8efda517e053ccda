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
 * @module
 */
import Emittery from "npm:emittery@2.2.0";
import { createHooks } from "npm:hookable@6.1.2";
import mittImport from "npm:mitt@3.0.1";
import { AsyncSeriesHook } from "npm:tapable@2.3.4";
import { DEFAULT_HANDLER_TIMEOUT_MS, ExtensionManager, type Node } from "../mod.ts";
import {
  type CallCounter,
  makeExtensions,
  makeHandlers,
  makeNode,
  type NodeHandler,
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
