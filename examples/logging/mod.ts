/**
 * `@nailgun/logging`: a Nailgun extension that logs one line for every event
 * it receives, all fourteen of them. It is the example that the original
 * request for installable extensions asked for: install it with
 * `deno add jsr:@nailgun/logging`, restart Nailgun, and every node, node
 * group and cluster change shows up in the log, e.g.
 * `[logging] node 3 created (mac 52:54:00:00:00:03, cluster none)`.
 *
 * The module exports the extension class as its default export, which is
 * what Nailgun loads from the package's `./nailgun.extensions` subpath.
 *
 * @example Log a new node
 * ```ts
 * import { Logging } from "./mod.ts";
 * import { BoundContext, ExtensionManager } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const print = (line: string) => lines.push(line);
 * const context = new BoundContext("jsr:@nailgun/logging", {
 *   logger: { debug: print, info: print, warn: print, error: print },
 * });
 * const logging = new Logging(context);
 * context.bind(logging.name);
 * const manager = new ExtensionManager([{ extension: logging, source: "jsr:@nailgun/logging" }]);
 * await manager.notify("onNodeCreate", {
 *   id: 3, uuid: "u3", mac: "52:54:00:00:00:03", name: "node-3", hostname: "node-3",
 *   status: "discover", cluster_id: null, group_id: null, roles: [], pending_roles: [],
 *   pending_addition: false, pending_deletion: false, online: true, meta: {},
 * });
 * assert.deepEqual(lines, ["[logging] node 3 created (mac 52:54:00:00:00:03, cluster none)"]);
 * ```
 *
 * @module
 */
import {
  BaseExtension,
  type Cluster,
  type ClusterCreationData,
  type Node,
  type NodeGroup,
} from "@nailgun/extensions";

/**
 * Logs one line for every event, through the host's logger (which prefixes
 * it with `[logging]`). It implements all fourteen hooks; the three veto
 * hooks only log, they never refuse an operation.
 */
export class Logging extends BaseExtension {
  /** The extension's name: the log prefix. */
  readonly name: string = "logging";
  /** The extension's version. */
  readonly version: string = "1.0.0";
  /** What the extension does. */
  readonly description: string = "Logs one line for every node, node group and cluster event.";
  /** The range of `@nailgun/extensions` this extension was written for. */
  override readonly hostVersion: string = "^0.1.0";

  /**
   * Logs a node that was created.
   *
   * @param node The new node.
   */
  override onNodeCreate(node: Node): void {
    this.#log(`node ${node.id} created (mac ${node.mac}, cluster ${clusterOf(node)})`);
  }

  /**
   * Logs a node that was updated.
   *
   * @param node The node as it is now.
   */
  override onNodeUpdate(node: Node): void {
    this.#log(
      `node ${node.id} updated (status ${node.status}, cluster ${clusterOf(node)}, roles ${
        list(node.roles)
      })`,
    );
  }

  /**
   * Logs a node that was reset to discovery.
   *
   * @param node The node as it is now.
   */
  override onNodeReset(node: Node): void {
    this.#log(`node ${node.id} reset (mac ${node.mac}, status ${node.status})`);
  }

  /**
   * Logs a node that was deleted.
   *
   * @param node The node as it was.
   */
  override onNodeDelete(node: Node): void {
    this.#log(`node ${node.id} deleted (mac ${node.mac}, cluster ${clusterOf(node)})`);
  }

  /**
   * Logs a node that left its cluster.
   *
   * @param node The node.
   */
  override onRemoveNodeFromCluster(node: Node): void {
    this.#log(`node ${node.id} removed from its cluster (cluster ${clusterOf(node)})`);
  }

  /**
   * Logs nodes deleted at once.
   *
   * @param nodeIds The ids of the deleted nodes.
   */
  override onNodeCollectionDelete(nodeIds: number[]): void {
    this.#log(`${nodeIds.length} node(s) deleted (ids ${list(nodeIds)})`);
  }

  /**
   * Logs a node group that was created.
   *
   * @param group The new node group.
   */
  override onNodegroupCreate(group: NodeGroup): void {
    this.#log(`node group ${group.id} "${group.name}" created (cluster ${group.cluster_id})`);
  }

  /**
   * Logs a node group that was deleted.
   *
   * @param group The node group as it was.
   */
  override onNodegroupDelete(group: NodeGroup): void {
    this.#log(`node group ${group.id} "${group.name}" deleted (cluster ${group.cluster_id})`);
  }

  /**
   * Logs a cluster that was created.
   *
   * @param cluster The new cluster.
   * @param data What it was created from.
   */
  override onClusterCreate(cluster: Cluster, data: ClusterCreationData): void {
    this.#log(
      `cluster ${cluster.id} "${cluster.name}" created (release ${cluster.release}, mode ${cluster.mode}, extensions ${
        list(cluster.extensions)
      }, from fields ${list(Object.keys(data))})`,
    );
  }

  /**
   * Logs a change of a cluster's attributes.
   *
   * @param cluster The cluster.
   * @param attributes The public attributes that were patched.
   */
  override onClusterPatchAttributes(cluster: Cluster, attributes: Record<string, unknown>): void {
    this.#log(
      `cluster ${cluster.id} "${cluster.name}" attributes patched (keys ${
        list(Object.keys(attributes))
      })`,
    );
  }

  /**
   * Logs a cluster that was deleted.
   *
   * @param cluster The cluster as it was.
   */
  override onClusterDelete(cluster: Cluster): void {
    this.#log(`cluster ${cluster.id} "${cluster.name}" deleted`);
  }

  /**
   * Logs the check before a deployment; never vetoes it.
   *
   * @param cluster The cluster to deploy.
   * @param nodes Its nodes.
   */
  override onBeforeDeploymentCheck(cluster: Cluster, nodes: Node[]): void {
    this.#log(
      `cluster ${cluster.id} "${cluster.name}" deployment check (nodes ${list(idsOf(nodes))})`,
    );
  }

  /**
   * Logs the serialization of deployment data; never vetoes it.
   *
   * @param cluster The cluster.
   * @param nodes The nodes serialized.
   * @param ignoreCustomized Whether customized data is ignored.
   */
  override onBeforeDeploymentSerialization(
    cluster: Cluster,
    nodes: Node[],
    ignoreCustomized: boolean,
  ): void {
    this.#log(
      `cluster ${cluster.id} "${cluster.name}" deployment serialization (nodes ${
        list(idsOf(nodes))
      }, ignore customized ${ignoreCustomized})`,
    );
  }

  /**
   * Logs the serialization of provisioning data; never vetoes it.
   *
   * @param cluster The cluster.
   * @param nodes The nodes serialized.
   * @param ignoreCustomized Whether customized data is ignored.
   */
  override onBeforeProvisioningSerialization(
    cluster: Cluster,
    nodes: Node[],
    ignoreCustomized: boolean,
  ): void {
    this.#log(
      `cluster ${cluster.id} "${cluster.name}" provisioning serialization (nodes ${
        list(idsOf(nodes))
      }, ignore customized ${ignoreCustomized})`,
    );
  }

  #log(line: string): void {
    this.context.logger.info(line);
  }
}

function clusterOf(node: Node): string {
  return node.cluster_id === null ? "none" : String(node.cluster_id);
}

function idsOf(nodes: readonly Node[]): number[] {
  return nodes.map((node) => node.id);
}

function list(items: readonly unknown[]): string {
  return items.length === 0 ? "none" : items.join(",");
}

export default Logging;
