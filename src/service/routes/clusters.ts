// Clusters: list, create, read, update, delete (onClusterCreate, onClusterDelete).
import type { ClusterCreationData, Node } from "@nailgun/extensions";
import { json, noContent } from "../http.ts";
import { ClusterCreateBody, ClusterUpdateBody } from "../schemas.ts";
import { DEFAULT_CLUSTER_MODE, DEFAULT_CLUSTER_RELEASE } from "../store/core_schema.ts";
import { parseBody } from "../validation.ts";
import { badField, bodyOf, clusterOf, type CoreCall, type CoreRoute, notFound } from "./_route.ts";

/**
 * Checks that every name is a loaded extension, once.
 *
 * @param call The request.
 * @param names The names.
 * @param action What the request does.
 * @param field The field that holds the names (`extensions`, or `` for the body itself).
 * @param unique Whether a name may appear only once.
 */
export function assertLoadedExtensions(
  call: CoreCall,
  names: readonly string[],
  action: string,
  field: string,
  unique: boolean,
): void {
  const { manager } = call.state;
  names.forEach((name, index) => {
    const where = `${field}[${index}]`;
    if (!manager.has(name)) {
      const loaded = manager.names.join(", ") || "none";
      throw badField(action, where, `must name a loaded extension (loaded: ${loaded})`, name);
    }
    if (unique && names.indexOf(name) !== index) {
      throw badField(action, where, "must not repeat an extension", name);
    }
  });
}

async function createCluster(call: CoreCall): Promise<Response> {
  const action = "create cluster";
  const data: ClusterCreationData = parseBody(ClusterCreateBody, bodyOf(call), action);
  if (data.extensions) assertLoadedExtensions(call, data.extensions, action, "extensions", true);
  const { store, manager, clusterDefaults } = call.state;
  const cluster = await store.write(async (tx) => {
    const cluster = await tx.createCluster({
      name: data.name,
      mode: data.mode ?? DEFAULT_CLUSTER_MODE,
      release: data.release ?? DEFAULT_CLUSTER_RELEASE,
      extensions: [...(data.extensions ?? clusterDefaults)],
      attributes: structuredClone(data.attributes ?? {}),
    });
    tx.enqueue("onClusterCreate", cluster, data);
    return cluster;
  });
  await manager.notify("onClusterCreate", structuredClone(cluster), data);
  return json(cluster, 201);
}

async function updateCluster(call: CoreCall): Promise<Response> {
  const { id: clusterId } = await clusterOf(call);
  const action = `update cluster ${clusterId}`;
  const { id, ...patch } = parseBody(ClusterUpdateBody, bodyOf(call), action);
  if (id !== undefined && id !== clusterId) {
    throw badField(action, "id", `must be the id in the path (${clusterId})`, id);
  }
  const updated = await call.state.store.write(async (tx) => {
    const changed = await tx.updateCluster(clusterId, patch);
    if (!changed) throw notFound("cluster", clusterId);
    return changed;
  });
  return json(updated);
}

async function deleteCluster(call: CoreCall): Promise<Response> {
  const { store, manager } = call.state;
  const { deleted, removed } = await store.write(async (tx) => {
    const cluster = await clusterOf(call, "id", tx);
    const members = await tx.listNodes({ cluster_id: cluster.id });
    const deleted = await tx.deleteCluster(cluster.id);
    if (!deleted) throw notFound("cluster", cluster.id);
    // Its nodes went back to the pool: each one was removed from the cluster.
    const removed: Node[] = [];
    for (const member of members) {
      const node = await tx.getNode(member.id);
      if (node) removed.push(node);
      if (node) tx.enqueue("onRemoveNodeFromCluster", node);
    }
    tx.enqueue("onClusterDelete", deleted);
    return { deleted, removed };
  });
  for (const node of removed) await manager.notify("onRemoveNodeFromCluster", node);
  await manager.notify("onClusterDelete", deleted);
  return noContent();
}

/** The cluster routes. */
export const CLUSTER_ROUTES: readonly CoreRoute[] = [
  {
    method: "GET",
    path: "/clusters/",
    handle: async (call) => json(await call.state.store.listClusters()),
  },
  { method: "POST", path: "/clusters/", handle: createCluster },
  { method: "GET", path: "/clusters/:id/", handle: async (call) => json(await clusterOf(call)) },
  { method: "PUT", path: "/clusters/:id/", handle: updateCluster },
  { method: "DELETE", path: "/clusters/:id/", handle: deleteCluster },
];
