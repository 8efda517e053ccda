/**
 * The data that Nailgun hands to extensions: nodes, clusters, node groups and
 * serialized deployment data. Each zod schema is the single source of the
 * TypeScript type of the same name and of the runtime check.
 *
 * @module
 */
import { z } from "zod";

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

const id = z.number().int().positive();
const jsonRecord = z.record(z.string(), z.unknown());

/** Schema of a node: a machine that Nailgun discovered and may deploy. */
export const NodeSchema: z.ZodObject<{
  id: z.ZodNumber;
  uuid: z.ZodString;
  mac: z.ZodString;
  name: z.ZodString;
  hostname: z.ZodString;
  status: z.ZodEnum<{ [K in typeof NODE_STATUSES[number]]: K }>;
  cluster_id: z.ZodNullable<z.ZodNumber>;
  group_id: z.ZodNullable<z.ZodNumber>;
  roles: z.ZodArray<z.ZodString>;
  pending_roles: z.ZodArray<z.ZodString>;
  pending_addition: z.ZodBoolean;
  pending_deletion: z.ZodBoolean;
  online: z.ZodBoolean;
  meta: z.ZodRecord<z.ZodString, z.ZodUnknown>;
}> = z.object({
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
/** A node: a machine that Nailgun discovered and may deploy. */
export type Node = z.infer<typeof NodeSchema>;

/** Schema of a cluster (an environment in Fuel's words). */
export const ClusterSchema: z.ZodObject<{
  id: z.ZodNumber;
  name: z.ZodString;
  mode: z.ZodString;
  status: z.ZodEnum<{ [K in typeof CLUSTER_STATUSES[number]]: K }>;
  release: z.ZodString;
  extensions: z.ZodArray<z.ZodString>;
  attributes: z.ZodRecord<z.ZodString, z.ZodUnknown>;
}> = z.object({
  id,
  name: z.string(),
  mode: z.string(),
  status: z.enum(CLUSTER_STATUSES),
  release: z.string(),
  /** Names of the extensions enabled on the cluster, in the order they run. */
  extensions: z.array(z.string()),
  /** Public ("editable") attributes of the cluster. */
  attributes: jsonRecord,
});
/** A cluster (an environment in Fuel's words). */
export type Cluster = z.infer<typeof ClusterSchema>;

/** Schema of the data a cluster was created from (the body of `POST /clusters/`). */
export const ClusterCreationDataSchema: z.ZodObject<{
  name: z.ZodString;
  mode: z.ZodOptional<z.ZodString>;
  release: z.ZodOptional<z.ZodString>;
  extensions: z.ZodOptional<z.ZodArray<z.ZodString>>;
  attributes: z.ZodOptional<z.ZodRecord<z.ZodString, z.ZodUnknown>>;
}> = z.object({
  name: z.string().trim().min(1).max(100),
  mode: z.string().min(1).optional(),
  release: z.string().min(1).optional(),
  extensions: z.array(z.string()).optional(),
  attributes: jsonRecord.optional(),
});
/** The data a cluster was created from. */
export type ClusterCreationData = z.infer<typeof ClusterCreationDataSchema>;

/** Schema of a node group: nodes of a cluster that share networks. */
export const NodeGroupSchema: z.ZodObject<{
  id: z.ZodNumber;
  name: z.ZodString;
  cluster_id: z.ZodNumber;
}> = z.object({ id, name: z.string(), cluster_id: id });
/** A node group: nodes of a cluster that share networks. */
export type NodeGroup = z.infer<typeof NodeGroupSchema>;

/** Schema of a list of node ids, the payload of `onNodeCollectionDelete`. */
export const NodeIdsSchema: z.ZodArray<z.ZodNumber> = z.array(id);

/** Schema of the public attributes given to `onClusterPatchAttributes`. */
export const ClusterAttributesSchema: z.ZodRecord<z.ZodString, z.ZodUnknown> = jsonRecord;

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
