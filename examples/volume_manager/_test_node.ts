// Test helper (not published): nodes as Nailgun hands them to the extension.
import type { Node } from "@nailgun/extensions";

/** One gibibyte: disk sizes in `meta.disks` are bytes, as Nailgun's agent reports them. */
export const GB = 1024 ** 3;

/** A node of cluster 1 with two disks (100 GB and 20 GB), with `changes` applied. */
export function node(id: number, changes: Partial<Node> = {}): Node {
  return {
    id,
    uuid: `uuid-${id}`,
    mac: `52:54:00:00:00:0${id}`,
    name: `node-${id}`,
    hostname: `node-${id}`,
    status: "discover",
    cluster_id: 1,
    group_id: null,
    roles: [],
    pending_roles: [],
    pending_addition: false,
    pending_deletion: false,
    online: true,
    meta: { disks: [{ name: "sda", size: 100 * GB }, { name: "sdb", size: 20 * GB }] },
    ...changes,
  };
}
