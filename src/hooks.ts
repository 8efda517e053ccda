/**
 * The events Nailgun fires at extensions (SPEC §2.1): their names, their
 * arguments and who receives them.
 *
 * @module
 */
import { z } from "zod";
import {
  _zod,
  type Cluster,
  type ClusterCreationData,
  type Node,
  type NodeGroup,
} from "./payloads.ts";
import type { Schema } from "./schema.ts";

/** The arguments of every hook, by hook name. */
export interface HookArgumentMap {
  /** A node was discovered and stored. */
  onNodeCreate: [node: Node];
  /** A node was changed. */
  onNodeUpdate: [node: Node];
  /** A node was reset to discover. */
  onNodeReset: [node: Node];
  /** A node was deleted. */
  onNodeDelete: [node: Node];
  /** A node left its cluster. */
  onRemoveNodeFromCluster: [node: Node];
  /** Several nodes were deleted at once. */
  onNodeCollectionDelete: [nodeIds: number[]];
  /** A node group was created. */
  onNodegroupCreate: [group: NodeGroup];
  /** A node group was deleted. */
  onNodegroupDelete: [group: NodeGroup];
  /** A cluster was created. */
  onClusterCreate: [cluster: Cluster, data: ClusterCreationData];
  /** A cluster's public attributes were changed. */
  onClusterPatchAttributes: [cluster: Cluster, attributes: Record<string, unknown>];
  /** A cluster was deleted. */
  onClusterDelete: [cluster: Cluster];
  /** Before a deployment. */
  onBeforeDeploymentCheck: [cluster: Cluster, nodes: Node[]];
  /** Before deployment data is serialized. */
  onBeforeDeploymentSerialization: [cluster: Cluster, nodes: Node[], ignoreCustomized: boolean];
  /** Before provisioning data is serialized. */
  onBeforeProvisioningSerialization: [
    cluster: Cluster,
    nodes: Node[],
    ignoreCustomized: boolean,
  ];
}

/** Name of any hook an extension may implement. */
export type HookName = keyof HookArgumentMap;

/** Arguments of the hook `H`, e.g. `[node: Node]` for `onNodeCreate`. */
export type HookArguments<H extends HookName> = HookArgumentMap[H];

const nodes = z.array(_zod.node);

/**
 * Runtime checks of the arguments of every hook, for a host that wants to
 * verify what it dispatches.
 *
 * @example
 * ```ts
 * import { HOOK_ARGUMENTS } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * assert.equal(HOOK_ARGUMENTS.onNodeCollectionDelete.safeParse([[1, 2]]).success, true);
 * assert.equal(HOOK_ARGUMENTS.onNodeCollectionDelete.safeParse([["x"]]).success, false);
 * ```
 */
export const HOOK_ARGUMENTS: { readonly [H in HookName]: Schema<HookArguments<H>> } = {
  onNodeCreate: z.tuple([_zod.node]),
  onNodeUpdate: z.tuple([_zod.node]),
  onNodeReset: z.tuple([_zod.node]),
  onNodeDelete: z.tuple([_zod.node]),
  onRemoveNodeFromCluster: z.tuple([_zod.node]),
  onNodeCollectionDelete: z.tuple([_zod.nodeIds]),
  onNodegroupCreate: z.tuple([_zod.nodeGroup]),
  onNodegroupDelete: z.tuple([_zod.nodeGroup]),
  onClusterCreate: z.tuple([_zod.cluster, _zod.clusterCreationData]),
  onClusterPatchAttributes: z.tuple([_zod.cluster, _zod.attributes]),
  onClusterDelete: z.tuple([_zod.cluster]),
  onBeforeDeploymentCheck: z.tuple([_zod.cluster, nodes]),
  onBeforeDeploymentSerialization: z.tuple([_zod.cluster, nodes, z.boolean()]),
  onBeforeProvisioningSerialization: z.tuple([_zod.cluster, nodes, z.boolean()]),
};

/** Hooks that every loaded extension receives; an error never stops the operation. */
export const NOTIFICATION_HOOKS = [
  "onNodeCreate",
  "onNodeUpdate",
  "onNodeReset",
  "onNodeDelete",
  "onRemoveNodeFromCluster",
  "onNodeCollectionDelete",
  "onNodegroupCreate",
  "onNodegroupDelete",
  "onClusterCreate",
  "onClusterPatchAttributes",
  "onClusterDelete",
] as const;

/** Name of a hook that every loaded extension receives. */
export type NotificationHook = typeof NOTIFICATION_HOOKS[number];

/**
 * Hooks that only the extensions enabled on the cluster receive, in the
 * cluster's order; the first one that throws vetoes the operation.
 */
export const VETO_HOOKS = [
  "onBeforeDeploymentCheck",
  "onBeforeDeploymentSerialization",
  "onBeforeProvisioningSerialization",
] as const;

/** Name of a hook that may veto the operation. */
export type VetoHook = typeof VETO_HOOKS[number];

/** Every hook name, notifications first. */
export const HOOK_NAMES: readonly HookName[] = [...NOTIFICATION_HOOKS, ...VETO_HOOKS];

/** What a handler may return: nothing, now or later. */
export type HandlerResult = void | Promise<void>;

/**
 * The event handlers an extension may implement, all optional. A handler may
 * be sync or async; it receives frozen payloads. Declared as methods so that
 * a `BaseExtension` subclass implements them as methods.
 */
export interface ExtensionHooks {
  /** A node was discovered and stored. */
  onNodeCreate?(...args: HookArguments<"onNodeCreate">): HandlerResult;
  /** A node was changed. */
  onNodeUpdate?(...args: HookArguments<"onNodeUpdate">): HandlerResult;
  /** A node was reset to discover. */
  onNodeReset?(...args: HookArguments<"onNodeReset">): HandlerResult;
  /** A node was deleted. */
  onNodeDelete?(...args: HookArguments<"onNodeDelete">): HandlerResult;
  /** A node left its cluster. */
  onRemoveNodeFromCluster?(...args: HookArguments<"onRemoveNodeFromCluster">): HandlerResult;
  /** Several nodes were deleted at once; receives their ids. */
  onNodeCollectionDelete?(...args: HookArguments<"onNodeCollectionDelete">): HandlerResult;
  /** A node group was created. */
  onNodegroupCreate?(...args: HookArguments<"onNodegroupCreate">): HandlerResult;
  /** A node group was deleted. */
  onNodegroupDelete?(...args: HookArguments<"onNodegroupDelete">): HandlerResult;
  /** A cluster was created; receives it and the data it was created from. */
  onClusterCreate?(...args: HookArguments<"onClusterCreate">): HandlerResult;
  /** A cluster's public attributes were changed; receives the new attributes. */
  onClusterPatchAttributes?(...args: HookArguments<"onClusterPatchAttributes">): HandlerResult;
  /** A cluster was deleted. */
  onClusterDelete?(...args: HookArguments<"onClusterDelete">): HandlerResult;
  /** Before a deployment: throw to veto it. */
  onBeforeDeploymentCheck?(...args: HookArguments<"onBeforeDeploymentCheck">): HandlerResult;
  /** Before deployment data is serialized: throw to veto it. */
  onBeforeDeploymentSerialization?(
    ...args: HookArguments<"onBeforeDeploymentSerialization">
  ): HandlerResult;
  /** Before provisioning data is serialized: throw to veto it. */
  onBeforeProvisioningSerialization?(
    ...args: HookArguments<"onBeforeProvisioningSerialization">
  ): HandlerResult;
}
