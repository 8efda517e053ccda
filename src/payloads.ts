/**
 * The data that Nailgun hands to extensions: nodes, clusters, node groups and
 * serialized deployment data. Each type is documented field by field; the
 * zod schema of the same name is its runtime check, and the compiler proves
 * that the two agree.
 *
 * @module
 */
import { z } from "zod";
import type { SameShape, Schema } from "./schema.ts";

/** Statuses a node goes through, as Nailgun names them. */
export const NODE_STATUSES = [
  "discover",
  "provisioning",
  "provisioned",
  "deploying",
  "ready",
  "error",
  "removing",
  "stopped",
] as const;

/** Statuses a cluster goes through, as Nailgun names them. */
export const CLUSTER_STATUSES = [
  "new",
  "deployment",
  "stopped",
  "operational",
  "error",
  "remove",
  "partially_deployed",
] as const;

/** A status of a node. */
export type NodeStatus = typeof NODE_STATUSES[number];
/** A status of a cluster. */
export type ClusterStatus = typeof CLUSTER_STATUSES[number];

/** A node: a machine that Nailgun discovered and may deploy. */
export interface Node {
  /** The node's id. */
  id: number;
  /** A unique id that never changes. */
  uuid: string;
  /** The MAC address of its admin interface: unique. */
  mac: string;
  /** Its display name. */
  name: string;
  /** Its host name. */
  hostname: string;
  /** Where it is in its life cycle. */
  status: NodeStatus;
  /** The cluster it belongs to, or `null` while in the pool. */
  cluster_id: number | null;
  /** Its node group, or `null`. */
  group_id: number | null;
  /** The roles it has been deployed with. */
  roles: string[];
  /** The roles it will get at the next deployment. */
  pending_roles: string[];
  /** Whether it joins its cluster at the next deployment. */
  pending_addition: boolean;
  /** Whether it leaves its cluster at the next deployment. */
  pending_deletion: boolean;
  /** Whether its agent answers. */
  online: boolean;
  /** What its agent reported: disks, interfaces, memory, … */
  meta: Record<string, unknown>;
}

/** A cluster (an environment in Fuel's words). */
export interface Cluster {
  /** The cluster's id. */
  id: number;
  /** Its name: unique. */
  name: string;
  /** Its deployment mode, e.g. `ha_compact`. */
  mode: string;
  /** Where it is in its life cycle. */
  status: ClusterStatus;
  /** The release it deploys. */
  release: string;
  /** Names of the extensions enabled on the cluster, in the order they run. */
  extensions: string[];
  /** Its public ("editable") attributes. */
  attributes: Record<string, unknown>;
}

/** The data a cluster was created from (the body of `POST /clusters/`). */
export interface ClusterCreationData {
  /** Its name. */
  name: string;
  /** Its deployment mode. */
  mode?: string;
  /** The release it deploys. */
  release?: string;
  /** The extensions to enable; the configured defaults when absent. */
  extensions?: string[];
  /** Its initial public attributes. */
  attributes?: Record<string, unknown>;
}

/** A node group: nodes of a cluster that share networks. */
export interface NodeGroup {
  /** The group's id. */
  id: number;
  /** Its name: unique within the cluster. */
  name: string;
  /** The cluster it belongs to. */
  cluster_id: number;
}

/** Serialized data of one node, as the orchestrator receives it. */
export type NodeData = Record<string, unknown>;
/** Serialized data common to a cluster, as the orchestrator receives it. */
export type ClusterData = Record<string, unknown>;

/** Deployment or provisioning data: the cluster part and one entry per node. */
export interface SerializedData {
  /** Data common to the whole cluster. */
  cluster: ClusterData;
  /** Data of each node, in the order of the nodes. */
  nodes: NodeData[];
}

const id = z.number().int().positive();
const jsonRecord = z.record(z.string(), z.unknown());

const nodeSchema = z.object({
  id,
  uuid: z.string(),
  mac: z.string(),
  name: z.string(),
  hostname: z.string(),
  status: z.enum(NODE_STATUSES),
  cluster_id: id.nullable(),
  group_id: id.nullable(),
  roles: z.array(z.string()),
  pending_roles: z.array(z.string()),
  pending_addition: z.boolean(),
  pending_deletion: z.boolean(),
  online: z.boolean(),
  meta: jsonRecord,
});

const clusterSchema = z.object({
  id,
  name: z.string(),
  mode: z.string(),
  status: z.enum(CLUSTER_STATUSES),
  release: z.string(),
  extensions: z.array(z.string()),
  attributes: jsonRecord,
});

const clusterCreationDataSchema = z.object({
  name: z.string().trim().min(1).max(100),
  mode: z.string().min(1).optional(),
  release: z.string().min(1).optional(),
  extensions: z.array(z.string()).optional(),
  attributes: jsonRecord.optional(),
});

const nodeGroupSchema = z.object({ id, name: z.string(), cluster_id: id });

// Compile-time proof that each documented interface is what its schema checks.
true satisfies SameShape<Node, z.infer<typeof nodeSchema>>;
true satisfies SameShape<Cluster, z.infer<typeof clusterSchema>>;
true satisfies SameShape<ClusterCreationData, z.infer<typeof clusterCreationDataSchema>>;
true satisfies SameShape<NodeGroup, z.infer<typeof nodeGroupSchema>>;

/** Runtime check of a {@linkcode Node}. */
export const NodeSchema: Schema<Node> = nodeSchema;
/** Runtime check of a {@linkcode Cluster}. */
export const ClusterSchema: Schema<Cluster> = clusterSchema;
/** Runtime check of {@linkcode ClusterCreationData}. */
export const ClusterCreationDataSchema: Schema<ClusterCreationData> = clusterCreationDataSchema;
/** Runtime check of a {@linkcode NodeGroup}. */
export const NodeGroupSchema: Schema<NodeGroup> = nodeGroupSchema;
/** Runtime check of a list of node ids, the payload of `onNodeCollectionDelete`. */
export const NodeIdsSchema: Schema<number[]> = z.array(id);
/** Runtime check of the public attributes given to `onClusterPatchAttributes`. */
export const ClusterAttributesSchema: Schema<Record<string, unknown>> = jsonRecord;

/** The zod schemas themselves, for this library's own composition. */
export const _zod = {
  node: nodeSchema,
  cluster: clusterSchema,
  clusterCreationData: clusterCreationDataSchema,
  nodeGroup: nodeGroupSchema,
  nodeIds: z.array(id),
  attributes: jsonRecord,
};
