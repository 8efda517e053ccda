// Node groups: list, create, read, delete (onNodegroupCreate, onNodegroupDelete).
import { json, noContent } from "../http.ts";
import { ClusterFilterQuery, NodeGroupCreateBody } from "../schemas.ts";
import { parseBody, parseQuery } from "../validation.ts";
import {
  badField,
  bodyOf,
  type CoreCall,
  type CoreRoute,
  nodeGroupOf,
  notFound,
} from "./_route.ts";

async function listNodeGroups(call: CoreCall): Promise<Response> {
  const query = parseQuery(ClusterFilterQuery, call.url, "list node groups");
  return json(await call.state.store.listNodeGroups({ cluster_id: query.cluster_id }));
}

async function createNodeGroup(call: CoreCall): Promise<Response> {
  const action = "create node group";
  const data = parseBody(NodeGroupCreateBody, bodyOf(call), action);
  const { store, manager } = call.state;
  const group = await store.write(async (tx) => {
    if (!(await tx.getCluster(data.cluster_id))) {
      throw badField(
        action,
        "cluster_id",
        "must be the id of an existing cluster",
        data.cluster_id,
      );
    }
    const group = await tx.createNodeGroup(data);
    tx.enqueue("onNodegroupCreate", group);
    return group;
  });
  await manager.notify("onNodegroupCreate", group);
  return json(group, 201);
}

async function deleteNodeGroup(call: CoreCall): Promise<Response> {
  const { store, manager } = call.state;
  const deleted = await store.write(async (tx) => {
    const group = await nodeGroupOf(call, tx);
    const deleted = await tx.deleteNodeGroup(group.id);
    if (!deleted) throw notFound("node group", group.id);
    tx.enqueue("onNodegroupDelete", deleted);
    return deleted;
  });
  await manager.notify("onNodegroupDelete", deleted);
  return noContent();
}

/** The node group routes. */
export const NODE_GROUP_ROUTES: readonly CoreRoute[] = [
  { method: "GET", path: "/nodegroups/", handle: listNodeGroups },
  { method: "POST", path: "/nodegroups/", handle: createNodeGroup },
  {
    method: "GET",
    path: "/nodegroups/:id/",
    handle: async (call) => json(await nodeGroupOf(call)),
  },
  { method: "DELETE", path: "/nodegroups/:id/", handle: deleteNodeGroup },
];
