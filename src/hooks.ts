/**
 * The events Nailgun fires at extensions (SPEC §2.1): their names, their
 * arguments and who receives them.
 *
 * @module
 */
import { z } from "zod";
import {
  ClusterAttributesSchema,
  ClusterCreationDataSchema,
  ClusterSchema,
  NodeGroupSchema,
  NodeIdsSchema,
  NodeSchema,
} from "./payloads.ts";

type NodeArgs = z.ZodTuple<[typeof NodeSchema], null>;
type NodeGroupArgs = z.ZodTuple<[typeof NodeGroupSchema], null>;
type SerializationArgs = z.ZodTuple<
  [typeof ClusterSchema, z.ZodArray<typeof NodeSchema>, z.ZodBoolean],
  null
>;

/**
 * Arguments of every hook, as zod tuples: the single source of the hook
 * signatures below and of the check a host can run on what it dispatches.
 */
export const HOOK_ARGUMENTS: {
  readonly onNodeCreate: NodeArgs;
  readonly onNodeUpdate: NodeArgs;
  readonly onNodeReset: NodeArgs;
  readonly onNodeDelete: NodeArgs;
  readonly onRemoveNodeFromCluster: NodeArgs;
  readonly onNodeCollectionDelete: z.ZodTuple<[typeof NodeIdsSchema], null>;
  readonly onNodegroupCreate: NodeGroupArgs;
  readonly onNodegroupDelete: NodeGroupArgs;
  readonly onClusterCreate: z.ZodTuple<
    [typeof ClusterSchema, typeof ClusterCreationDataSchema],
    null
  >;
  readonly onClusterPatchAttributes: z.ZodTuple<
    [typeof ClusterSchema, typeof ClusterAttributesSchema],
    null
  >;
  readonly onClusterDelete: z.ZodTuple<[typeof ClusterSchema], null>;
  readonly onBeforeDeploymentCheck: z.ZodTuple<
    [typeof ClusterSchema, z.ZodArray<typeof NodeSchema>],
    null
  >;
  readonly onBeforeDeploymentSerialization: SerializationArgs;
  readonly onBeforeProvisioningSerialization: SerializationArgs;
} = {
  onNodeCreate: z.tuple([NodeSchema]),
  onNodeUpdate: z.tuple([NodeSchema]),
  onNodeReset: z.tuple([NodeSchema]),
  onNodeDelete: z.tuple([NodeSchema]),
  onRemoveNodeFromCluster: z.tuple([NodeSchema]),
  onNodeCollectionDelete: z.tuple([NodeIdsSchema]),
  onNodegroupCreate: z.tuple([NodeGroupSchema]),
  onNodegroupDelete: z.tuple([NodeGroupSchema]),
  onClusterCreate: z.tuple([ClusterSchema, ClusterCreationDataSchema]),
  onClusterPatchAttributes: z.tuple([ClusterSchema, ClusterAttributesSchema]),
  onClusterDelete: z.tuple([ClusterSchema]),
  onBeforeDeploymentCheck: z.tuple([ClusterSchema, z.array(NodeSchema)]),
  onBeforeDeploymentSerialization: z.tuple([ClusterSchema, z.array(NodeSchema), z.boolean()]),
  onBeforeProvisioningSerialization: z.tuple([ClusterSchema, z.array(NodeSchema), z.boolean()]),
};

/** Name of any hook an extension may implement. */
export type HookName = keyof typeof HOOK_ARGUMENTS;

/** Arguments of the hook `H`, e.g. `[Node]` for `onNodeCreate`. */
export type HookArguments<H extends HookName> = z.infer<(typeof HOOK_ARGUMENTS)[H]>;

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
