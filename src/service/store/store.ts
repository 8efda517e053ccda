/**
 * The storage interface of the reference Nailgun: clusters, nodes, node
 * groups, the core schema and each extension's own migrated tables. One
 * implementation over Kysely (`sql_store.ts`) serves SQLite and PostgreSQL.
 *
 * Plain reads (`listClusters`, `getNode`, …) run outside any transaction.
 * Every read-modify-write goes through {@linkcode Store.write}: the reads
 * and the writes of the callback run in one transaction that serializes with
 * every other writer (SQLite `BEGIN IMMEDIATE`, PostgreSQL `SELECT … FOR
 * UPDATE` on the rows read), so no acknowledged change is lost and a rule
 * checked on what was read still holds when the change is committed.
 *
 * @module
 */
import type { CompiledQuery } from "kysely";
import type { HookArguments, NotificationHook } from "@nailgun/extensions";
import type { Outbox } from "../delivery/outbox.ts";
import type {
  Cluster,
  Extension,
  ExtensionDatabase,
  Node,
  NodeGroup,
  SqlDialect,
} from "@nailgun/extensions";

/** The fields a new cluster is stored with. */
export interface NewCluster {
  name: string;
  mode: string;
  release: string;
  extensions: string[];
  attributes: Record<string, unknown>;
}

/** The fields of a cluster that can change. */
export type ClusterPatch = Partial<
  Pick<Cluster, "name" | "mode" | "status" | "release" | "extensions" | "attributes">
>;

/** The fields a new node is stored with; the store assigns `id` and `uuid`. */
export interface NewNode {
  mac: string;
  name?: string;
  hostname?: string;
  cluster_id?: number | null;
  group_id?: number | null;
  roles?: string[];
  pending_roles?: string[];
  meta?: Record<string, unknown>;
  online?: boolean;
}

/** The fields of a node that can change. */
export type NodePatch = Partial<Omit<Node, "id" | "uuid">>;

/** The fields a new node group is stored with. */
export interface NewNodeGroup {
  name: string;
  cluster_id: number;
}

/** An applied migration step, as recorded in a version table. */
export interface AppliedMigration {
  /** The step's name. */
  name: string;
  /** When it was applied, ISO 8601. */
  applied_at: string;
}

/**
 * The reads and writes of one {@linkcode Store.write} transaction. Its reads
 * lock what they return until the transaction ends, so that what the
 * callback decides on what it read is still true when it commits.
 */
export interface StoreWriter {
  getCluster(id: number): Promise<Cluster | undefined>;
  getNode(id: number): Promise<Node | undefined>;
  getNodeGroup(id: number): Promise<NodeGroup | undefined>;
  listNodes(filter?: { cluster_id?: number }): Promise<Node[]>;
  listNodeGroups(filter?: { cluster_id?: number }): Promise<NodeGroup[]>;

  /** Rejects with `StoreConflictError` when the name is taken. */
  createCluster(data: NewCluster): Promise<Cluster>;
  /** Answers `undefined` for an unknown id. */
  updateCluster(id: number, patch: ClusterPatch): Promise<Cluster | undefined>;
  /**
   * Deletes the cluster and its node groups; its nodes go back to the pool
   * (`cluster_id` and `group_id` null, `status` discover, no roles).
   * Answers the deleted cluster, or `undefined` for an unknown id.
   */
  deleteCluster(id: number): Promise<Cluster | undefined>;

  /** Rejects with `StoreConflictError` when the MAC is taken. */
  createNode(data: NewNode): Promise<Node>;
  /** Answers `undefined` for an unknown id. */
  updateNode(id: number, patch: NodePatch): Promise<Node | undefined>;
  deleteNode(id: number): Promise<Node | undefined>;
  /** Deletes the nodes that exist among `ids`; answers them, in the order given. */
  deleteNodes(ids: readonly number[]): Promise<Node[]>;

  /** Rejects with `StoreConflictError` when its cluster has a group of that name. */
  createNodeGroup(data: NewNodeGroup): Promise<NodeGroup>;
  /** Deletes a node group (its nodes keep their cluster, without a group). */
  deleteNodeGroup(id: number): Promise<NodeGroup | undefined>;

  /**
   * Says that this change fires the notification: for each durable
   * extension that handles it, an outbox row is written at the end of this
   * transaction (`delivery/outbox.ts`). Inline extensions are still notified
   * by the caller after the commit.
   */
  enqueue<H extends NotificationHook>(hook: H, ...args: HookArguments<H>): void;
  /** Runs one compiled outbox query in this transaction (`delivery/outbox.ts`). */
  execute<R>(query: CompiledQuery<R>): Promise<R[]>;
}

/** A store of clusters, nodes and node groups; see the module docs. */
export interface Store {
  /** Which SQL dialect the database speaks. */
  readonly dialect: SqlDialect;
  /** The database as extensions see it (their routes and migrations). */
  readonly database: ExtensionDatabase;

  /** Brings the core schema up to date; each step once, recorded in `schema_migrations`. */
  migrateCore(): Promise<void>;
  /**
   * Applies the extension's migration steps not yet applied, in order, each
   * in a transaction, recorded in `<name>_schema_migrations`. A reserved name
   * (one that reaches a core table: `schema`, `nodes`, `node`, …), a step
   * that fails, or one that creates or drops a table without the `<name>_`
   * prefix is an `ExtensionLoadError` in phase `migrate`, and nothing of the
   * step stays.
   */
  migrateExtension(extension: Extension, source: string): Promise<void>;
  /** The steps applied for an extension (or for the core with `"core"`), in order. */
  appliedMigrations(extensionName: string | "core"): Promise<AppliedMigration[]>;

  /** Every cluster, by id; like every plain read, outside any transaction. */
  listClusters(): Promise<Cluster[]>;
  getCluster(id: number): Promise<Cluster | undefined>;
  /** Nodes, optionally of one cluster, by id. */
  listNodes(filter?: { cluster_id?: number }): Promise<Node[]>;
  getNode(id: number): Promise<Node | undefined>;
  /** Node groups, optionally of one cluster, by id. */
  listNodeGroups(filter?: { cluster_id?: number }): Promise<NodeGroup[]>;
  getNodeGroup(id: number): Promise<NodeGroup | undefined>;

  /**
   * Runs `fn` in one transaction that serializes with every other writer:
   * its reads lock what they return, its writes commit together when `fn`
   * resolves and roll back when it throws (the error is rethrown). Read the
   * request body before, notify extensions after: never wait on a client
   * inside `fn`.
   *
   * @param fn The read-check-write.
   * @returns What `fn` answers, once committed.
   * @throws {StoreConflictError} When a write breaks a uniqueness rule.
   * @throws {StoreUnavailableError} When the database cannot be reached.
   */
  write<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T>;

  /** Durable delivery: where `write()` writes what its writer enqueued, right before the commit. */
  useOutbox(outbox: Outbox): void;

  /** Closes the database; pending writes are flushed first. */
  close(): Promise<void>;
}

/** A write would break a uniqueness rule (e.g. a MAC already taken). */
export class StoreConflictError extends Error {
  /** The field whose value is taken. */
  readonly field: string;
  /**
   * @param message What is taken.
   * @param field The field whose value is taken.
   */
  constructor(message: string, field: string) {
    super(message);
    this.name = "StoreConflictError";
    this.field = field;
  }
}

/**
 * The database cannot be reached (PostgreSQL down, restarting, or the
 * connection was cut). Nothing of the call was committed; the store
 * reconnects by itself, so the same call can be tried again later. The
 * HTTP layer answers 503 with `Retry-After`.
 */
export class StoreUnavailableError extends Error {
  /** Seconds after which a retry is sensible. */
  readonly retryAfterSeconds: number;
  /**
   * @param message What could not be done, and why.
   * @param options The driver's error as `cause`; `retryAfterSeconds` (default 1).
   */
  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = "StoreUnavailableError";
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

/**
 * A value the store cannot keep as it is (a NUL character, `\u0000`, in
 * text or JSON, which PostgreSQL cannot store; refused on both dialects
 * alike). The HTTP layer answers 400 naming {@linkcode StoreValueError.field}.
 */
export class StoreValueError extends Error {
  /** The field that holds the value, e.g. `meta.disks[0].label`. */
  readonly field: string;
  /**
   * @param message What cannot be stored, and why.
   * @param field The field that holds the value.
   */
  constructor(message: string, field: string) {
    super(message);
    this.name = "StoreValueError";
    this.field = field;
  }
}
