/**
 * What the benchmarks share: an event payload, no-op extensions and their
 * handlers, a silent logger, and generated extension modules on disk.
 *
 * @module
 */
import type { Extension, Logger, ManagedExtension, Node } from "../mod.ts";

/** A handler of `onNodeCreate` as every contender calls it. */
export type NodeHandler = (node: Node) => void | Promise<void>;

/** A logger that drops everything, so that benchmark output stays readable. */
export const SILENT_LOGGER: Logger = {
  debug(): void {},
  info(): void {},
  warn(): void {},
  error(): void {},
};

let serial = 0;

/**
 * A fresh node payload, as a host builds one per event (the manager freezes
 * what it is given, so a payload is never reused). Every contender pays for it.
 *
 * @returns A new node.
 */
export function makeNode(): Node {
  const id = ++serial;
  return {
    id,
    uuid: `00000000-0000-4000-8000-${String(id).padStart(12, "0")}`,
    mac: "52:54:00:00:00:01",
    name: `node-${id}`,
    hostname: `node-${id}`,
    status: "discover",
    cluster_id: null,
    group_id: null,
    roles: ["compute"],
    pending_roles: [],
    pending_addition: false,
    pending_deletion: false,
    online: true,
    meta: { cpu: { total: 4 } },
  };
}

/** Counts handler calls, so that a benchmark can check that every handler ran. */
export interface CallCounter {
  /** Handler calls so far. */
  calls: number;
  /** The last payload a handler saw: handlers keep it, so that no contender's payload can be optimized away. */
  last: unknown;
}

/**
 * `count` handlers that only count their calls and keep their payload, each a
 * distinct function (as distinct extensions have distinct methods).
 *
 * @param count How many.
 * @param kind Whether they are `async` functions or plain ones.
 * @param counter What they count their calls in.
 * @returns The handlers.
 */
export function makeHandlers(
  count: number,
  kind: "async" | "sync",
  counter: CallCounter,
): NodeHandler[] {
  const handlers: NodeHandler[] = [];
  for (let index = 0; index < count; index++) {
    handlers.push(
      kind === "async"
        ? async function onNodeCreate(node: Node): Promise<void> {
          counter.calls++;
          counter.last = node;
        }
        : function onNodeCreate(node: Node): void {
          counter.calls++;
          counter.last = node;
        },
    );
  }
  return handlers;
}

/**
 * Extensions whose `onNodeCreate` is one of `handlers`, ready for an
 * `ExtensionManager`.
 *
 * @param handlers The handlers, one per extension.
 * @returns The managed extensions, in order.
 */
export function makeExtensions(handlers: readonly NodeHandler[]): ManagedExtension[] {
  return handlers.map((handler, index) => {
    const extension: Extension = {
      name: `bench_${index}`,
      version: "1.0.0",
      description: "Does nothing, fast.",
      onNodeCreate: handler,
    };
    return { extension, source: `bench:${index}` };
  });
}

/** The generated extension modules of a start-up benchmark. */
export interface GeneratedModules {
  /** The directory that holds them, with an empty `extensions.json`. */
  dir: string;
  /** `file:` URLs of the modules, in order. */
  urls: string[];
}

/**
 * Writes `count` extension modules (plain `.js`, so that no TypeScript emit
 * is measured) to a new temporary directory.
 *
 * @param count How many.
 * @returns Their directory and URLs.
 */
export function writeExtensionModules(count: number): GeneratedModules {
  const dir = Deno.makeTempDirSync({ prefix: "nailgun_bench_" });
  const urls: string[] = [];
  for (let index = 0; index < count; index++) {
    const name = `ext_${String(index).padStart(3, "0")}`;
    const path = `${dir}/${name}.js`;
    Deno.writeTextFileSync(
      path,
      `export default {
  name: "${name}",
  version: "1.0.${index}",
  description: "Generated extension ${index} of the start-up benchmark.",
  onNodeCreate(node) {
    this.last = node.id;
  },
  onClusterDelete(cluster) {
    this.last = cluster.id;
  },
};
`,
    );
    urls.push(new URL(`file://${path}`).href);
  }
  Deno.writeTextFileSync(`${dir}/extensions.json`, '{ "nailgun.extensions": [] }\n');
  return { dir, urls };
}
