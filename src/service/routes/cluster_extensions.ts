// The extensions enabled on a cluster, as a JSON list of names (Nailgun's
// ClusterExtensionsHandler): PUT adds, DELETE ?extension_names=a,b removes.
import { json, noContent } from "../http.ts";
import { ClusterExtensionsBody, ExtensionNamesQuery } from "../schemas.ts";
import { parseBody, parseQuery } from "../validation.ts";
import { badField, bodyOf, clusterOf, type CoreCall, type CoreRoute, notFound } from "./_route.ts";
import { assertLoadedExtensions } from "./clusters.ts";

async function enable(call: CoreCall): Promise<Response> {
  const { id } = await clusterOf(call, "cluster_id");
  const action = `enable extensions on cluster ${id}`;
  const names = parseBody(ClusterExtensionsBody, bodyOf(call), action);
  assertLoadedExtensions(call, names, action, "", false);
  const updated = await call.state.store.write(async (tx) => {
    const cluster = await clusterOf(call, "cluster_id", tx);
    const extensions = [...cluster.extensions];
    for (const name of names) if (!extensions.includes(name)) extensions.push(name);
    const changed = await tx.updateCluster(id, { extensions });
    if (!changed) throw notFound("cluster", id);
    return changed;
  });
  return json(updated.extensions);
}

async function disable(call: CoreCall): Promise<Response> {
  const { id } = await clusterOf(call, "cluster_id");
  const action = `disable extensions on cluster ${id}`;
  const { extension_names: names } = parseQuery(ExtensionNamesQuery, call.url, action);
  const { manager } = call.state;
  const raw = call.url.searchParams.get("extension_names");
  for (const name of names) {
    if (!manager.has(name)) {
      const loaded = manager.names.join(", ") || "none";
      throw badField(
        action,
        "extension_names",
        `must name loaded extensions (loaded: ${loaded}); "${name}" is not one`,
        raw,
      );
    }
  }
  await call.state.store.write(async (tx) => {
    const cluster = await clusterOf(call, "cluster_id", tx);
    const absent = names.find((name) => !cluster.extensions.includes(name));
    if (absent !== undefined) {
      throw badField(
        action,
        "extension_names",
        `must name extensions enabled on the cluster (enabled: ${
          cluster.extensions.join(", ") || "none"
        }); "${absent}" is not one`,
        raw,
      );
    }
    const extensions = cluster.extensions.filter((name) => !names.includes(name));
    if (!(await tx.updateCluster(id, { extensions }))) throw notFound("cluster", id);
  });
  return noContent();
}

/** The routes of a cluster's enabled extensions. */
export const CLUSTER_EXTENSION_ROUTES: readonly CoreRoute[] = [
  {
    method: "GET",
    path: "/clusters/:cluster_id/extensions/",
    handle: async (call) => json((await clusterOf(call, "cluster_id")).extensions),
  },
  { method: "PUT", path: "/clusters/:cluster_id/extensions/", handle: enable },
  { method: "DELETE", path: "/clusters/:cluster_id/extensions/", handle: disable },
];
