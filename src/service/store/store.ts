/**
 * The storage interface of the reference Nailgun: clusters, nodes, node
 * groups, the core schema and each extension's own migrated tables. SQLite
 * (`sqlite.ts`) and PostgreSQL (`postgres.ts`) implement it.
 *
 * Every method is atomic on its own: it runs in one transaction, so that a
 * request never leaves half a change behind.
 *
 * @module
 */
import type { Extension, ExtensionDatabase, SqlDialect } from "../../extension.ts";
import type { Cluster, Node, NodeGroup } from "../../payloads.ts";

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
   * in a transaction, recorded in `<name>_schema_migrations`. A step that
   * fails, or that creates a table without the `<name>_` prefix, is rolled
   * back and the error thrown (an `ExtensionLoadError` in phase `migrate`).
   */
  migrateExtension(extension: Extension, source: string): Promise<void>;
  /** The steps applied for an extension (or for the core with `"core"`), in order. */
  appliedMigrations(extensionName: string | "core"): Promise<AppliedMigration[]>;

  listClusters(): Promise<Cluster[]>;
  getCluster(id: number): Promise<Cluster | undefined>;
  createCluster(data: NewCluster): Promise<Cluster>;
  /** Answers `undefined` for an unknown id. */
  updateCluster(id: number, patch: ClusterPatch): Promise<Cluster | undefined>;
  /**
   * Deletes the cluster and its node groups; its nodes go back to the pool
   * (`cluster_id` and `group_id` null, `status` discover, no roles).
   * Answers the deleted cluster, or `undefined` for an unknown id.
   */
  deleteCluster(id: number): Promise<Cluster | undefined>;

  /** Nodes, optionally of one cluster, by id. */
  listNodes(filter?: { cluster_id?: number }): Promise<Node[]>;
  getNode(id: number): Promise<Node | undefined>;
  /** Rejects with `StoreConflictError` when the MAC is taken. */
  createNode(data: NewNode): Promise<Node>;
  updateNode(id: number, patch: NodePatch): Promise<Node | undefined>;
  deleteNode(id: number): Promise<Node | undefined>;
  /** Deletes the nodes that exist among `ids`, all or none; answers them. */
  deleteNodes(ids: readonly number[]): Promise<Node[]>;

  listNodeGroups(filter?: { cluster_id?: number }): Promise<NodeGroup[]>;
  getNodeGroup(id: number): Promise<NodeGroup | undefined>;
  createNodeGroup(data: NewNodeGroup): Promise<NodeGroup>;
  deleteNodeGroup(id: number): Promise<NodeGroup | undefined>;

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
