// A fixture factory: an extension that refuses to deploy a node with the role "forbidden".
import type { Cluster, Extension, Node } from "../../mod.ts";

/** An extension named `name` with the veto. */
export function vetoExtension(name: string): Extension {
  return {
    name,
    version: "1.0.0",
    description: "Refuses deployments of nodes with the role forbidden.",
    onBeforeDeploymentCheck(cluster: Cluster, nodes: Node[]): void {
      const bad = nodes.find((node) => node.roles.includes("forbidden"));
      if (bad) throw new Error(`node "${bad.name}" of "${cluster.name}" has a forbidden role`);
    },
  };
}
