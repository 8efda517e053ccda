/**
 * The extension contract as TypeScript types: what an extension is, what it
 * may declare (routes, migrations, pipelines, provided calls) and what the
 * host gives it (the context). The runtime check of the same contract is in
 * `contract.ts`.
 *
 * @module
 */
import type { DeliveryMode, ExtensionHooks, HandlerResult } from "./hooks.ts";
import type { Cluster, ClusterData, Node, NodeData } from "./payloads.ts";

/** Where a message goes: the host's log, prefixed with the extension name. */
export interface Logger {
  /** Logs detail that is only useful when looking into a problem. */
  debug(message: string): void;
  /** Logs a normal event. */
  info(message: string): void;
  /** Logs something unexpected that the service survived. */
  warn(message: string): void;
  /** Logs a failure. */
  error(message: string): void;
}

/** Which SQL dialect the database speaks. */
export type SqlDialect = "sqlite" | "postgres";

/**
 * The database as an extension sees it: its routes and migrations use it for
 * the extension's own tables, whose names start with `<name>_`. Placeholders
 * are `?` in both dialects.
 *
 * Transactions belong to the host: statements that open, end or split one
 * (`BEGIN`, `COMMIT`, `END`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`, …) or that
 * change the shared connection (`PRAGMA journal_mode = …`, `PRAGMA
 * foreign_keys = …`, `ATTACH`, a session `SET`, …) are refused with an
 * error; use {@linkcode ExtensionDatabase.transaction} instead. A NUL
 * character (`\u0000`) in the SQL text or in a parameter is refused too,
 * on both dialects, since PostgreSQL cannot store it in text or JSON.
 */
export interface ExtensionDatabase {
  /** Which SQL dialect the database speaks. */
  readonly dialect: SqlDialect;
  /** Runs a query and returns its rows. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a statement and returns how many rows it changed. */
  execute(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
  /**
   * Runs `fn` in a transaction: what `tx` runs commits together when `fn`
   * resolves, and is rolled back when it throws (the error is rethrown).
   * It never interferes with the host's own writes: on PostgreSQL it has a
   * connection of its own; on SQLite, whose one connection is shared, the
   * host's writes wait for it (keep it short, and never wait on a client
   * inside it; the reference service rolls back one that runs longer than
   * 30 s). Inside a transaction or a migration step, `transaction()` nests
   * as a savepoint. Use only `tx` inside `fn`.
   *
   * @param fn The work, given the database of the transaction.
   * @returns What `fn` answers, once committed.
   *
   * @example Move a disk between two rows, all or nothing
   * ```ts ignore
   * await context.database!.transaction(async (tx) => {
   *   await tx.execute("UPDATE volumes_disks SET node_id = ? WHERE id = ?", [2, 7]);
   *   await tx.execute("UPDATE volumes_nodes SET disks = disks - 1 WHERE id = ?", [1]);
   * });
   * ```
   */
  transaction<T>(fn: (tx: ExtensionDatabase) => Promise<T>): Promise<T>;
}

/** What the host gives an extension: constructor argument and `setup` argument. */
export interface ExtensionContext {
  /** The host's log, prefixed with the extension name. */
  readonly logger: Logger;
  /** The extension's settings from `extensions.json` (`settings.<name>`), or `{}`. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Version of `@nailgun/extensions` that the host runs. */
  readonly hostVersion: string;
  /** The database, when the host has one (the reference service does). */
  readonly database: ExtensionDatabase | undefined;
  /** Calls a function another extension provides (Nailgun's `node_extension_call`). */
  call(name: string, ...args: unknown[]): Promise<unknown>;
}

/** HTTP methods an extension route may serve. */
export type RouteMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** What a route handler receives beside the request. */
export interface RouteContext {
  /** Values of the `:name` parts of the path. */
  params: Record<string, string>;
  /** The parsed request URL. */
  url: URL;
}

/**
 * A REST route an extension adds (Nailgun's `urls`), mounted after the core
 * routes under `/api/v1`. The path is made of plain segments and `:name`
 * parameters, e.g. `/clusters/:cluster_id/volumes/`; a trailing slash is
 * optional when served.
 */
export interface ExtensionRoute {
  /** The HTTP method. */
  method: RouteMethod;
  /** The path below `/api/v1`, starting with `/`. */
  path: string;
  /** Answers the request. */
  handler(request: Request, context: RouteContext): Response | Promise<Response>;
}

/**
 * One named, ordered schema step for the extension's own tables. Each runs
 * once, in a transaction, and is recorded in the extension's version table.
 */
export interface ExtensionMigration {
  /** Unique within the extension, e.g. `0001_create_volumes`. */
  name: string;
  /** Applies the step. Tables it creates must start with `<extension name>_`. */
  up(database: ExtensionDatabase): HandlerResult;
}

/** What a pipeline step returns: new data, or nothing to keep the (mutated) input. */
export type PipelineResult<T> = T | void | Promise<T | void>;

/**
 * A transformer of deployment and provisioning data (Nailgun's
 * `data_pipelines`). It receives a copy that it may change or replace.
 */
export interface DataPipeline {
  /** Transforms the cluster part of the deployment data. */
  processDeploymentForCluster?(cluster: Cluster, data: ClusterData): PipelineResult<ClusterData>;
  /** Transforms the deployment data of one node. */
  processDeploymentForNode?(node: Node, data: NodeData): PipelineResult<NodeData>;
  /** Transforms the cluster part of the provisioning data. */
  processProvisioningForCluster?(cluster: Cluster, data: ClusterData): PipelineResult<ClusterData>;
  /** Transforms the provisioning data of one node. */
  processProvisioningForNode?(node: Node, data: NodeData): PipelineResult<NodeData>;
}

/** Names of the four pipeline steps. */
export type PipelineStep = keyof DataPipeline;

/** What the operator lets a sandboxed extension do; see the README's security section. */
export interface ExtensionPermissions {
  /** Hosts (`host` or `host:port`) it may connect to. */
  net?: string[];
  /** Environment variables it may read. */
  env?: string[];
  /** Paths it may read. */
  read?: string[];
  /** Paths it may write. */
  write?: string[];
}

/** The optional part of the contract: what an extension may declare. */
export interface ExtensionFeatures {
  /** Names of methods of this extension that other code may call through the manager. */
  readonly provides?: readonly string[];
  /** REST routes mounted after the core routes. */
  readonly routes?: readonly ExtensionRoute[];
  /** Schema steps for the extension's own tables, in order. */
  readonly migrations?: readonly ExtensionMigration[];
  /** Transformers of deployment and provisioning data. */
  readonly pipelines?: readonly DataPipeline[];
  /** Semver range of `@nailgun/extensions` the extension was written for, e.g. `^0.1`. */
  readonly hostVersion?: string;
  /** Permissions the extension needs when it runs in the sandbox. */
  readonly permissions?: ExtensionPermissions;
  /**
   * How notifications reach it: `"inline"` (the default) before the response,
   * or `"durable"`, from an outbox written in the change's own transaction,
   * after the response, at least once, in commit order (SPEC §3.1).
   */
  readonly delivery?: DeliveryMode;
  /** Runs after migrations and before the host serves. */
  setup?(context: ExtensionContext): HandlerResult;
  /** Runs at shutdown, in the reverse order of setup. */
  teardown?(): HandlerResult;
}

/**
 * Anything that satisfies the contract is an extension: a `BaseExtension`
 * subclass instance, or a plain object from a package that does not import
 * this library at all.
 */
export interface Extension extends ExtensionFeatures, ExtensionHooks {
  /** Matches `^[a-z][a-z0-9_]{0,63}$`; unique; the prefix of the extension's tables. */
  readonly name: string;
  /** A semantic version, e.g. `1.2.0`. */
  readonly version: string;
  /** A sentence that says what the extension does. */
  readonly description: string;
}
