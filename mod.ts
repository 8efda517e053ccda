/**
 * `@nailgun/extensions`: the extension system of Nailgun, the REST service of
 * the Fuel deployment system, for Deno and TypeScript.
 *
 * An extension is a class that extends {@linkcode BaseExtension} (or any
 * object of the same shape) with a `name`, a `version` and a `description`,
 * and handlers for the events it cares about. Packages that export
 * `./nailgun.extensions` are found in the import map after `deno add` and a
 * restart; `extensions.json` lists more. {@linkcode loadExtensions} imports
 * and verifies each one; the {@linkcode ExtensionManager} it returns delivers
 * typed events, runs veto hooks and pipelines, and isolates every failure.
 *
 * @example Write an extension and deliver it an event
 * ```ts
 * import { BaseExtension, ExtensionManager, type Node } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 *
 * class Logging extends BaseExtension {
 *   readonly name = "logging";
 *   readonly version = "1.0.0";
 *   readonly description = "Logs every node that is created.";
 *   lines: string[] = [];
 *   override onNodeCreate(node: Node): void {
 *     this.lines.push(`node ${node.id} created`);
 *   }
 * }
 *
 * const logging = new Logging();
 * const manager = new ExtensionManager([{ extension: logging, source: "./logging.ts" }]);
 * await manager.notify("onNodeCreate", {
 *   id: 7, uuid: "u7", mac: "52:54:00:00:00:07", name: "node-7", hostname: "node-7",
 *   status: "discover", cluster_id: null, group_id: null, roles: [], pending_roles: [],
 *   pending_addition: false, pending_deletion: false, online: true, meta: {},
 * });
 * assert.deepEqual(logging.lines, ["node 7 created"]);
 * ```
 *
 * @module
 */
export { BaseExtension } from "./src/base_extension.ts";
export type {
  DataPipeline,
  Extension,
  ExtensionContext,
  ExtensionDatabase,
  ExtensionFeatures,
  ExtensionMigration,
  ExtensionPermissions,
  ExtensionRoute,
  Logger,
  PipelineResult,
  PipelineStep,
  RouteContext,
  RouteMethod,
  SqlDialect,
} from "./src/extension.ts";
export {
  type DeliveryMode,
  type EventMeta,
  EventMetaSchema,
  type ExtensionHooks,
  HANDLER_ARGUMENTS,
  type HandlerArguments,
  type HandlerResult,
  HOOK_ARGUMENTS,
  HOOK_NAMES,
  type HookArgumentMap,
  type HookArguments,
  type HookName,
  NOTIFICATION_HOOKS,
  type NotificationHook,
  VETO_HOOKS,
  type VetoHook,
} from "./src/hooks.ts";
export {
  type Cluster,
  CLUSTER_STATUSES,
  ClusterAttributesSchema,
  type ClusterCreationData,
  ClusterCreationDataSchema,
  type ClusterData,
  ClusterSchema,
  type ClusterStatus,
  type Node,
  NODE_STATUSES,
  type NodeData,
  type NodeGroup,
  NodeGroupSchema,
  NodeIdsSchema,
  NodeSchema,
  type NodeStatus,
  type SerializedData,
} from "./src/payloads.ts";
export {
  EXTENSION_NAME_PATTERN,
  formatValue,
  instantiateExtension,
  verifyExtension,
} from "./src/contract.ts";
export {
  CONFIG_SECTION,
  DEFAULT_HANDLER_TIMEOUT_MS,
  type ExtensionsConfig,
  ExtensionsFileSchema,
  type LoadEntry,
  parseExtensionsConfig,
  parseJson,
  type ReadConfigOptions,
  readExtensionsConfig,
} from "./src/config.ts";
export {
  type CandidatePackage,
  findCandidatePackages,
  type ImportMap,
  readImportMap,
  toFileUrl,
} from "./src/discovery.ts";
export {
  extensionModuleOf,
  EXTENSIONS_SUBPATH,
  isMissingExportError,
  isModuleNotFoundError,
  isPathSpecifier,
  type PackageReference,
  parsePackageReference,
} from "./src/specifier.ts";
export {
  describeLoaded,
  type LoadedExtensionInfo,
  loadExtensions,
  type LoadFailure,
  type LoadOptions,
  type LoadReport,
  type LoadResult,
  type LoadWarning,
  type ModuleNamespace,
  type SandboxLauncher,
  type SkippedSource,
} from "./src/loader.ts";
export {
  ExtensionManager,
  type FaultReport,
  type LifecycleFailure,
  type ManagedExtension,
  type ManagerOptions,
  type MapOutcome,
  type PipelineKind,
} from "./src/manager.ts";
export {
  CONCURRENT_NOTIFICATIONS,
  dispatchNotification,
  type DispatchResult,
  dispatchVeto,
  type FailureKind,
  type FailureListener,
  type Handler,
  type HandlerFailure,
  withTimeLimit,
} from "./src/dispatcher.ts";
export { Watchdog, type Watched } from "./src/watchdog.ts";
export type { ExtensionHealth, HealthState } from "./src/health.ts";
export { BoundContext, type HostServices } from "./src/host_context.ts";
export { formatRoute, type RouteSignature, routesOverlap } from "./src/routes.ts";
export {
  describeError,
  ExtensionConfigError,
  type ExtensionConfigErrorOptions,
  ExtensionError,
  type ExtensionErrorOptions,
  ExtensionLoadError,
  type ExtensionLoadErrorOptions,
  ExtensionVetoError,
  type ExtensionVetoErrorOptions,
  type LoadPhase,
} from "./src/errors.ts";
export { VERSION } from "./src/version.ts";
export type { SameShape, Schema, SchemaCheck, SchemaIssue } from "./src/schema.ts";
export {
  createSandboxLauncher,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_START_TIMEOUT_MS,
  type SandboxFaultReport,
  type SandboxLauncherOptions,
  type SandboxRequest,
  type SandboxState,
  type SandboxStatus,
  sandboxStatus,
} from "./src/sandbox/launcher.ts";
export {
  formatPermissions,
  isEmptyPermissions,
  missingPermissions,
  PERMISSION_KINDS,
  type PermissionKind,
  type PermissionPathOptions,
  toWorkerPermissions,
  widenGrant,
} from "./src/sandbox/permissions.ts";
