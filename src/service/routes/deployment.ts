// Orchestrator data and deployment: the serialization veto hooks and the
// pipelines of the extensions enabled on the cluster, in its order.
import type { Cluster, Node } from "@nailgun/extensions";
import { json } from "../http.ts";
import { serializeDeployment, serializeProvisioning } from "../serializers.ts";
import { clusterOf, type CoreCall, type CoreRoute, notFound } from "./_route.ts";

async function subject(call: CoreCall): Promise<{ cluster: Cluster; nodes: Node[] }> {
  const cluster = await clusterOf(call, "cluster_id");
  const nodes = await call.state.store.listNodes({ cluster_id: cluster.id });
  return { cluster, nodes: nodes.filter((node) => !node.pending_deletion) };
}

async function deploymentDefaults(call: CoreCall): Promise<Response> {
  const { cluster, nodes } = await subject(call);
  const { manager } = call.state;
  await manager.check("onBeforeDeploymentSerialization", cluster, nodes, true);
  const data = serializeDeployment(cluster, nodes);
  return json(await manager.runPipelines("deployment", cluster, nodes, data));
}

async function provisioningDefaults(call: CoreCall): Promise<Response> {
  const { cluster, nodes } = await subject(call);
  const { manager } = call.state;
  await manager.check("onBeforeProvisioningSerialization", cluster, nodes, true);
  const data = serializeProvisioning(cluster, nodes);
  return json(await manager.runPipelines("provisioning", cluster, nodes, data));
}

/**
 * Deploys the cluster's changes: the check and the serialization hooks may
 * veto (409, nothing changed); then the cluster goes to `deployment` and the
 * answer holds the data handed to the orchestrator.
 */
async function deployChanges(call: CoreCall): Promise<Response> {
  const { cluster, nodes } = await subject(call);
  const { manager, store } = call.state;
  await manager.check("onBeforeDeploymentCheck", cluster, nodes);
  await manager.check("onBeforeProvisioningSerialization", cluster, nodes, false);
  const provisioning = await manager.runPipelines(
    "provisioning",
    cluster,
    nodes,
    serializeProvisioning(cluster, nodes),
  );
  await manager.check("onBeforeDeploymentSerialization", cluster, nodes, false);
  const deployment = await manager.runPipelines(
    "deployment",
    cluster,
    nodes,
    serializeDeployment(cluster, nodes),
  );
  const updated = await store.write(async (tx) => {
    const changed = await tx.updateCluster(cluster.id, { status: "deployment" });
    if (!changed) throw notFound("cluster", cluster.id);
    return changed;
  });
  return json({ cluster: updated, provisioning, deployment });
}

/** The orchestrator and deployment routes. */
export const DEPLOYMENT_ROUTES: readonly CoreRoute[] = [
  {
    method: "GET",
    path: "/clusters/:cluster_id/orchestrator/deployment/defaults/",
    handle: deploymentDefaults,
  },
  {
    method: "GET",
    path: "/clusters/:cluster_id/orchestrator/provisioning/defaults/",
    handle: provisioningDefaults,
  },
  { method: "PUT", path: "/clusters/:cluster_id/changes/", handle: deployChanges },
];
