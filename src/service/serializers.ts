/**
 * Serialization of a cluster and its nodes into the deployment and
 * provisioning data the orchestrator receives, before the extensions'
 * pipelines transform it.
 *
 * @module
 */
import type { Cluster, Node, SerializedData } from "@nailgun/extensions";

function allRoles(node: Node): string[] {
  return [...new Set([...node.roles, ...node.pending_roles])];
}

/**
 * The deployment data of a cluster: the cluster's settings and one entry
 * per node with its roles.
 *
 * @param cluster The cluster.
 * @param nodes Its nodes, in the order of the data.
 * @returns Fresh data that shares nothing with the arguments.
 *
 * @example
 * ```ts
 * import { serializeDeployment } from "./serializers.ts";
 * import assert from "node:assert/strict";
 * const data = serializeDeployment(
 *   { id: 1, name: "env", mode: "ha_compact", status: "new", release: "mitaka-9.0", extensions: [], attributes: {} },
 *   [],
 * );
 * assert.equal(data.cluster.cluster_id, 1);
 * assert.deepEqual(data.nodes, []);
 * ```
 */
export function serializeDeployment(cluster: Cluster, nodes: readonly Node[]): SerializedData {
  return structuredClone({
    cluster: {
      cluster_id: cluster.id,
      name: cluster.name,
      mode: cluster.mode,
      release: cluster.release,
      status: cluster.status,
      extensions: cluster.extensions,
      editable: cluster.attributes,
    },
    nodes: nodes.map((node) => ({
      uid: String(node.id),
      name: node.name,
      hostname: node.hostname,
      fqdn: `${node.hostname}.domain.tld`,
      mac: node.mac,
      roles: allRoles(node),
      status: node.status,
      online: node.online,
      cluster_id: node.cluster_id,
      group_id: node.group_id,
    })),
  });
}

/**
 * The provisioning data of a cluster: how each node gets its operating system.
 *
 * @param cluster The cluster.
 * @param nodes Its nodes, in the order of the data.
 * @returns Fresh data that shares nothing with the arguments.
 *
 * @example
 * ```ts
 * import { serializeProvisioning } from "./serializers.ts";
 * import assert from "node:assert/strict";
 * const data = serializeProvisioning(
 *   { id: 1, name: "env", mode: "ha_compact", status: "new", release: "mitaka-9.0", extensions: [], attributes: {} },
 *   [],
 * );
 * assert.equal(data.cluster.release, "mitaka-9.0");
 * ```
 */
export function serializeProvisioning(cluster: Cluster, nodes: readonly Node[]): SerializedData {
  return structuredClone({
    cluster: {
      cluster_id: cluster.id,
      name: cluster.name,
      release: cluster.release,
      engine: { provision_method: "image" },
    },
    nodes: nodes.map((node) => ({
      uid: String(node.id),
      name: node.name,
      hostname: node.hostname,
      mac: node.mac,
      profile: cluster.release,
      power_type: "ssh",
      ks_meta: { pm_data: { roles: allRoles(node) } },
      meta: node.meta,
    })),
  });
}
