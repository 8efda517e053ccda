// Payloads and waits shared by the tests: a node and a cluster as the
// service would hand them to extensions, and a bounded wait.
import type { Cluster, Node } from "../mod.ts";

/** A node in the pool, with `overrides` applied. */
export function makeNode(id: number, overrides: Partial<Node> = {}): Node {
  return {
    id,
    uuid: `uuid-${id}`,
    mac: `52:54:00:00:00:${String(id).padStart(2, "0")}`,
    name: `node-${id}`,
    hostname: `node-${id}`,
    status: "discover",
    cluster_id: null,
    group_id: null,
    roles: [],
    pending_roles: [],
    pending_addition: false,
    pending_deletion: false,
    online: true,
    meta: {},
    ...overrides,
  };
}

/** A new cluster with these extensions enabled, in this order. */
export function makeCluster(extensions: string[], overrides: Partial<Cluster> = {}): Cluster {
  return {
    id: 1,
    name: "prod",
    mode: "ha_compact",
    status: "new",
    release: "2026.11",
    extensions,
    attributes: { debug: false },
    ...overrides,
  };
}

/** Waits until `condition()` holds, polling; rejects naming `what` after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
