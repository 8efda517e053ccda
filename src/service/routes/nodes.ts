// Nodes: list, create, read, update, delete, bulk delete, reset
// (onNodeCreate, onNodeUpdate, onRemoveNodeFromCluster, onNodeDelete,
// onNodeCollectionDelete, onNodeReset).
import type { Node } from "@nailgun/extensions";
import { HttpError, json, noContent } from "../http.ts";
import { ClusterFilterQuery, NodeCreateBody, NodeIdsQuery, NodeUpdateBody } from "../schemas.ts";
import type { NodePatch } from "../store/store.ts";
import { parseBody, parseQuery } from "../validation.ts";
import {
  badField,
  bodyOf,
  type CoreCall,
  type CoreRoute,
  nodeOf,
  notFound,
  type Reader,
} from "./_route.ts";

/** Checks that the cluster and the node group a node is put in exist and match. */
async function assertPlacement(
  reader: Reader,
  action: string,
  clusterId: number | null,
  groupId: number | null | undefined,
  clusterGiven: boolean,
): Promise<void> {
  if (clusterGiven && clusterId !== null && !(await reader.getCluster(clusterId))) {
    throw badField(action, "cluster_id", "must be the id of an existing cluster", clusterId);
  }
  if (groupId === null || groupId === undefined) return;
  const group = await reader.getNodeGroup(groupId);
  if (!group) {
    throw badField(action, "group_id", "must be the id of an existing node group", groupId);
  }
  if (group.cluster_id !== clusterId) {
    throw badField(
      action,
      "group_id",
      `must be a node group of the node's cluster (node group ${groupId} belongs to cluster ${group.cluster_id}, the node to ${
        clusterId ?? "none"
      })`,
      groupId,
    );
  }
}

async function listNodes(call: CoreCall): Promise<Response> {
  const query = parseQuery(ClusterFilterQuery, call.url, "list nodes");
  return json(await call.state.store.listNodes({ cluster_id: query.cluster_id }));
}

async function createNode(call: CoreCall): Promise<Response> {
  const action = "create node";
  const data = parseBody(NodeCreateBody, bodyOf(call), action);
  const clusterId = data.cluster_id ?? null;
  const { store, manager } = call.state;
  const node = await store.write(async (tx) => {
    await assertPlacement(tx, action, clusterId, data.group_id, true);
    const node = await tx.createNode(data);
    tx.enqueue("onNodeCreate", node);
    return node;
  });
  await manager.notify("onNodeCreate", node);
  return json(node, 201);
}

async function updateNode(call: CoreCall): Promise<Response> {
  const { id: nodeId } = await nodeOf(call);
  const action = `update node ${nodeId}`;
  const { id, ...body } = parseBody(NodeUpdateBody, bodyOf(call), action);
  if (id !== undefined && id !== nodeId) {
    throw badField(action, "id", `must be the id in the path (${nodeId})`, id);
  }
  const { store, manager } = call.state;
  // The placement rules are checked on the node as this transaction locked it.
  const { updated, removed } = await store.write(async (tx) => {
    const node = await nodeOf(call, tx);
    const patch: NodePatch = { ...body };
    let clusterId = node.cluster_id;
    let removed = false;
    if (body.cluster_id !== undefined && body.cluster_id !== node.cluster_id) {
      if (body.cluster_id === null) {
        // Nailgun's remove_from_cluster: the node goes back to the pool.
        removed = true;
        Object.assign(patch, {
          group_id: null,
          roles: [],
          pending_roles: [],
          pending_addition: false,
          pending_deletion: false,
        });
      } else if (node.cluster_id !== null) {
        throw badField(
          action,
          "cluster_id",
          `cannot move the node from cluster ${node.cluster_id} to another: set it to null first`,
          body.cluster_id,
        );
      } else {
        patch.pending_addition = body.pending_addition ?? true;
      }
      clusterId = body.cluster_id;
    }
    const groupId = removed ? null : body.group_id;
    await assertPlacement(tx, action, clusterId, groupId, body.cluster_id !== undefined);
    const updated = await tx.updateNode(node.id, patch);
    if (!updated) throw notFound("node", node.id);
    if (removed) tx.enqueue("onRemoveNodeFromCluster", updated);
    tx.enqueue("onNodeUpdate", updated);
    return { updated, removed };
  });
  if (removed) await manager.notify("onRemoveNodeFromCluster", structuredClone(updated));
  await manager.notify("onNodeUpdate", updated);
  return json(updated);
}

async function deleteNode(call: CoreCall): Promise<Response> {
  const { store, manager } = call.state;
  const deleted = await store.write(async (tx) => {
    const node = await nodeOf(call, tx);
    const deleted = await tx.deleteNode(node.id);
    if (!deleted) throw notFound("node", node.id);
    tx.enqueue("onNodeDelete", deleted);
    return deleted;
  });
  await manager.notify("onNodeDelete", deleted);
  return noContent();
}

async function deleteNodes(call: CoreCall): Promise<Response> {
  const { ids } = parseQuery(NodeIdsQuery, call.url, "delete nodes");
  const { store, manager } = call.state;
  const unique = [...new Set(ids)];
  const deleted: Node[] = await store.write(async (tx) => {
    const missing: number[] = [];
    for (const id of unique) if (!(await tx.getNode(id))) missing.push(id);
    if (missing.length > 0) {
      throw new HttpError(
        404,
        `Cannot delete nodes: ${missing.length === 1 ? "node" : "nodes"} ${missing.join(", ")} ${
          missing.length === 1 ? "does" : "do"
        } not exist: nothing was deleted`,
        { field: "ids", missing },
      );
    }
    const deleted = await tx.deleteNodes(unique);
    tx.enqueue("onNodeCollectionDelete", deleted.map((node) => node.id));
    return deleted;
  });
  await manager.notify("onNodeCollectionDelete", deleted.map((node) => node.id));
  return noContent();
}

async function resetNode(call: CoreCall): Promise<Response> {
  const { store, manager } = call.state;
  const updated = await store.write(async (tx) => {
    const node = await nodeOf(call, tx);
    const changed = await tx.updateNode(node.id, {
      status: "discover",
      roles: [],
      pending_roles: [...new Set([...node.pending_roles, ...node.roles])],
      pending_addition: node.cluster_id !== null,
      pending_deletion: false,
    });
    if (!changed) throw notFound("node", node.id);
    tx.enqueue("onNodeReset", changed);
    return changed;
  });
  await manager.notify("onNodeReset", updated);
  return json(updated);
}

/** The node routes. */
export const NODE_ROUTES: readonly CoreRoute[] = [
  { method: "GET", path: "/nodes/", handle: listNodes },
  { method: "POST", path: "/nodes/", handle: createNode },
  { method: "DELETE", path: "/nodes/", handle: deleteNodes },
  { method: "GET", path: "/nodes/:id/", handle: async (call) => json(await nodeOf(call)) },
  { method: "PUT", path: "/nodes/:id/", handle: updateNode },
  { method: "DELETE", path: "/nodes/:id/", handle: deleteNode },
  { method: "POST", path: "/nodes/:id/reset/", handle: resetNode },
];
