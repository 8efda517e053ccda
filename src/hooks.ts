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
import type { SameShape, Schema } from "./schema.ts";

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
 * How a notification reaches an extension (SPEC §3.1): `"inline"` (the
 * default) calls its handlers right after the change is committed, before the
 * response; `"durable"` writes each notification to an outbox in the change's
 * own transaction and delivers it after the response, in commit order, at
 * least once, retrying with backoff.
 */
export type DeliveryMode = "inline" | "durable";

/**
 * The last argument of every notification handler: which event this is and
 * which attempt at delivering it.
 *
 * @example Deduplicate by id
 * ```ts
 * import type { EventMeta, Node } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const seen = new Set<string>();
 * function onNodeCreate(_node: Node, meta: EventMeta): boolean {
 *   if (seen.has(meta.id)) return false; // a redelivery: already handled
 *   seen.add(meta.id);
 *   return true;
 * }
 * const meta: EventMeta = {
 *   id: "e1", hook: "onNodeCreate", occurredAt: "2026-01-01T00:00:00.000Z", attempt: 1,
 * };
 * const node = {} as Node;
 * assert.equal(onNodeCreate(node, meta), true);
 * assert.equal(onNodeCreate(node, { ...meta, attempt: 2 }), false);
 * ```
 */
export interface EventMeta {
  /**
   * Identifies the event. For a durable extension it is the same on every
   * redelivery of the event, so a handler can deduplicate by it.
   */
  readonly id: string;
  /** The hook, the same as the handler's name. */
  readonly hook: NotificationHook;
  /** When the change was made, ISO 8601 in UTC. */
  readonly occurredAt: string;
  /** 1 on the first attempt; 2, 3, … on the retries of a durable delivery. */
  readonly attempt: number;
}

const eventMetaSchema = z.object({
  id: z.string().min(1),
  hook: z.enum(NOTIFICATION_HOOKS),
  occurredAt: z.iso.datetime(),
  attempt: z.number().int().positive(),
});

/**
 * Runtime check of {@linkcode EventMeta}.
 *
 * @example
 * ```ts
 * import { EventMetaSchema } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const meta = { id: "e1", hook: "onNodeCreate", occurredAt: "2026-01-01T00:00:00.000Z", attempt: 1 };
 * assert.equal(EventMetaSchema.safeParse(meta).success, true);
 * assert.equal(EventMetaSchema.safeParse({ ...meta, attempt: 0 }).success, false);
 * ```
 */
export const EventMetaSchema: Schema<EventMeta> = eventMetaSchema;

/**
 * What a handler of hook `H` receives: the hook's arguments, then, for a
 * notification, its {@linkcode EventMeta}.
 */
export type HandlerArguments<H extends HookName> = H extends NotificationHook
  ? [...HookArguments<H>, meta: EventMeta]
  : HookArguments<H>;

/**
 * Runtime checks of what every handler receives: {@linkcode HOOK_ARGUMENTS}
 * with the {@linkcode EventMeta} last for notifications.
 *
 * @example
 * ```ts
 * import { HANDLER_ARGUMENTS } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const meta = { id: "e1", hook: "onNodeCollectionDelete", occurredAt: "2026-01-01T00:00:00.000Z", attempt: 1 };
 * assert.equal(HANDLER_ARGUMENTS.onNodeCollectionDelete.safeParse([[1, 2], meta]).success, true);
 * assert.equal(HANDLER_ARGUMENTS.onNodeCollectionDelete.safeParse([[1, 2]]).success, false);
 * ```
 */
export const HANDLER_ARGUMENTS: { readonly [H in HookName]: Schema<HandlerArguments<H>> } = {
  onNodeCreate: z.tuple([_zod.node, eventMetaSchema]),
  onNodeUpdate: z.tuple([_zod.node, eventMetaSchema]),
  onNodeReset: z.tuple([_zod.node, eventMetaSchema]),
  onNodeDelete: z.tuple([_zod.node, eventMetaSchema]),
  onRemoveNodeFromCluster: z.tuple([_zod.node, eventMetaSchema]),
  onNodeCollectionDelete: z.tuple([_zod.nodeIds, eventMetaSchema]),
  onNodegroupCreate: z.tuple([_zod.nodeGroup, eventMetaSchema]),
  onNodegroupDelete: z.tuple([_zod.nodeGroup, eventMetaSchema]),
  onClusterCreate: z.tuple([_zod.cluster, _zod.clusterCreationData, eventMetaSchema]),
  onClusterPatchAttributes: z.tuple([_zod.cluster, _zod.attributes, eventMetaSchema]),
  onClusterDelete: z.tuple([_zod.cluster, eventMetaSchema]),
  onBeforeDeploymentCheck: HOOK_ARGUMENTS.onBeforeDeploymentCheck,
  onBeforeDeploymentSerialization: HOOK_ARGUMENTS.onBeforeDeploymentSerialization,
  onBeforeProvisioningSerialization: HOOK_ARGUMENTS.onBeforeProvisioningSerialization,
};

const _metaShape: SameShape<EventMeta, z.infer<typeof eventMetaSchema>> = true;
void _metaShape;

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
 * be sync or async; it receives frozen payloads, and a notification handler
 * receives an {@linkcode EventMeta} last. Declared as methods so that a
 * `BaseExtension` subclass implements them as methods.
 */
export interface ExtensionHooks {
  /** A node was discovered and stored. */
  onNodeCreate?(...args: HandlerArguments<"onNodeCreate">): HandlerResult;
  /** A node was changed. */
  onNodeUpdate?(...args: HandlerArguments<"onNodeUpdate">): HandlerResult;
  /** A node was reset to discover. */
  onNodeReset?(...args: HandlerArguments<"onNodeReset">): HandlerResult;
  /** A node was deleted. */
  onNodeDelete?(...args: HandlerArguments<"onNodeDelete">): HandlerResult;
  /** A node left its cluster. */
  onRemoveNodeFromCluster?(...args: HandlerArguments<"onRemoveNodeFromCluster">): HandlerResult;
  /** Several nodes were deleted at once; receives their ids. */
  onNodeCollectionDelete?(...args: HandlerArguments<"onNodeCollectionDelete">): HandlerResult;
  /** A node group was created. */
  onNodegroupCreate?(...args: HandlerArguments<"onNodegroupCreate">): HandlerResult;
  /** A node group was deleted. */
  onNodegroupDelete?(...args: HandlerArguments<"onNodegroupDelete">): HandlerResult;
  /** A cluster was created; receives it and the data it was created from. */
  onClusterCreate?(...args: HandlerArguments<"onClusterCreate">): HandlerResult;
  /** A cluster's public attributes were changed; receives the new attributes. */
  onClusterPatchAttributes?(...args: HandlerArguments<"onClusterPatchAttributes">): HandlerResult;
  /** A cluster was deleted. */
  onClusterDelete?(...args: HandlerArguments<"onClusterDelete">): HandlerResult;
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
