// A cluster's public ("editable") attributes (Nailgun's ClusterAttributesHandler):
// PUT and PATCH merge the patch into them and fire onClusterPatchAttributes.
import { json } from "../http.ts";
import { ClusterAttributesBody } from "../schemas.ts";
import { parseBody } from "../validation.ts";
import { bodyOf, clusterOf, type CoreCall, type CoreRoute, notFound } from "./_route.ts";

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Merges `patch` into `base` (objects recursively; anything else replaced).
 *
 * @param base The current attributes.
 * @param patch The change.
 * @returns A new object; neither argument is changed.
 */
export function mergeAttributes(base: Json, patch: Json): Json {
  const merged: Json = structuredClone(base);
  for (const [key, value] of Object.entries(patch)) {
    const current = merged[key];
    merged[key] = isObject(current) && isObject(value)
      ? mergeAttributes(current, value)
      : structuredClone(value);
  }
  return merged;
}

async function patchAttributes(call: CoreCall): Promise<Response> {
  const { id } = await clusterOf(call, "cluster_id");
  const action = `change the attributes of cluster ${id}`;
  const body = parseBody(ClusterAttributesBody, bodyOf(call), action);
  // Nailgun's clients send {"editable": {...}}; a bare object is the patch itself.
  const keys = Object.keys(body);
  const patch = keys.length === 1 && keys[0] === "editable" && isObject(body.editable)
    ? body.editable
    : body;
  const { store, manager } = call.state;
  const updated = await store.write(async (tx) => {
    const cluster = await clusterOf(call, "cluster_id", tx);
    const changed = await tx.updateCluster(id, {
      attributes: mergeAttributes(cluster.attributes, patch),
    });
    if (!changed) throw notFound("cluster", id);
    tx.enqueue("onClusterPatchAttributes", changed, changed.attributes);
    return changed;
  });
  await manager.notify("onClusterPatchAttributes", updated, structuredClone(updated.attributes));
  return json({ editable: updated.attributes });
}

/** The routes of a cluster's attributes. */
export const CLUSTER_ATTRIBUTE_ROUTES: readonly CoreRoute[] = [
  {
    method: "GET",
    path: "/clusters/:cluster_id/attributes/",
    handle: async (call) => json({ editable: (await clusterOf(call, "cluster_id")).attributes }),
  },
  { method: "PUT", path: "/clusters/:cluster_id/attributes/", handle: patchAttributes },
  { method: "PATCH", path: "/clusters/:cluster_id/attributes/", handle: patchAttributes },
];
