/**
 * The SQLite store of the reference Nailgun, over `node:sqlite`: WAL
 * journal, foreign keys on, a busy timeout for other processes on the same
 * file. `node:sqlite` is synchronous, so each method does all of its work in
 * one synchronous `BEGIN IMMEDIATE … COMMIT`: requests served concurrently
 * never interleave inside a transaction. Extension migrations, which may be
 * async, hold the store exclusively while they run.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { CompiledQuery } from "kysely";
import { type Outbox, PendingEvents } from "../delivery/outbox.ts";
import { withTimeLimit } from "../../dispatcher.ts";
import { ExtensionLoadError } from "../../errors.ts";
import type { Extension, ExtensionDatabase } from "../../extension.ts";
import type { Cluster, Node, NodeGroup } from "../../payloads.ts";
import {
  CORE_MIGRATIONS,
  CORE_VERSION_TABLE,
  defaultHostname,
  defaultNodeName,
} from "./core_schema.ts";
import {
  migrationFailed,
  prefixViolation,
  unprefixedChanges,
  versionTableOf,
} from "./extension_tables.ts";
import {
  type AppliedMigration,
  type ClusterPatch,
  type NewCluster,
  type NewNode,
  type NewNodeGroup,
  type NodePatch,
  type Store,
  StoreConflictError,
  type StoreWriter,
} from "./store.ts";

/** Options of {@linkcode openSqliteStore}. */
export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock, in milliseconds; default 5 000. */
  busyTimeoutMs?: number;
  /** Time limit of one extension migration step, in milliseconds; default 60 000. */
  migrationTimeoutMs?: number;
}

type Row = Record<string, SQLInputValue>;

const NODE_COLUMNS = [
  "name",
  "hostname",
  "status",
  "cluster_id",
  "group_id",
  "roles",
  "pending_roles",
  "pending_addition",
  "pending_deletion",
  "online",
  "meta",
  "mac",
] as const;

const CLUSTER_COLUMNS = ["name", "mode", "status", "release", "extensions", "attributes"] as const;

/**
 * Opens (and creates, with its directory) an SQLite database as a store.
 * The core schema is not migrated yet: call `migrateCore()`.
 *
 * @param path The database file, or `:memory:`.
 * @param options Busy timeout and migration time limit.
 * @returns The store.
 * @throws {Error} When the file cannot be opened.
 *
 * @example Store a cluster in memory
 * ```ts
 * import { openSqliteStore } from "./sqlite.ts";
 * import assert from "node:assert/strict";
 * const store = await openSqliteStore(":memory:");
 * await store.migrateCore();
 * const cluster = await store.createCluster({
 *   name: "env-1", mode: "ha_compact", release: "mitaka-9.0", extensions: [], attributes: {},
 * });
 * assert.equal((await store.getCluster(cluster.id))?.name, "env-1");
 * await store.close();
 * ```
 */
export async function openSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Promise<SqliteStore> {
  if (path !== ":memory:") {
    const slash = path.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  }
  return new SqliteStore(new DatabaseSync(path), path, options);
}

/** A {@linkcode Store} over one SQLite database file; see the module docs. */
export class SqliteStore implements Store {
  /** Which SQL dialect the database speaks. */
  readonly dialect = "sqlite" as const;
  /** The database as extensions see it. */
  readonly database: ExtensionDatabase;
  /** The database file, or `:memory:`. */
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #migrationTimeoutMs: number;
  #gate: Promise<void> | undefined;
  #closed = false;
  #outbox: Outbox | undefined;

  /**
   * Wraps an open database; {@linkcode openSqliteStore} is the usual way.
   *
   * @param db The open database.
   * @param path Its file, for messages.
   * @param options Busy timeout and migration time limit.
   */
  constructor(db: DatabaseSync, path: string, options: SqliteStoreOptions = {}) {
    this.#db = db;
    this.path = path;
    this.#migrationTimeoutMs = options.migrationTimeoutMs ?? 60_000;
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
    db.exec("PRAGMA foreign_keys = ON");
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    this.database = new SqliteDatabase((work) => this.#use(() => work(this.#db)));
  }

  // --- schema -------------------------------------------------------------

  /** Brings the core schema up to date; each step once, recorded in `schema_migrations`. */
  migrateCore(): Promise<void> {
    return this.#use(() => {
      this.#transaction(() => this.#createVersionTable(CORE_VERSION_TABLE));
      for (const step of CORE_MIGRATIONS) {
        this.#transaction(() => {
          if (this.#isApplied(CORE_VERSION_TABLE, step.name)) return;
          for (const sql of step.statements.sqlite) this.#db.exec(sql);
          this.#record(CORE_VERSION_TABLE, step.name);
        });
      }
    });
  }

  /**
   * Applies the extension's steps not applied yet, in order, each in a
   * transaction recorded in `<name>_schema_migrations`.
   *
   * @param extension The extension.
   * @param source Where it came from, for messages.
   * @throws {ExtensionLoadError} In phase `migrate`, when a step fails or
   * creates a table without the `<name>_` prefix; the step is rolled back.
   */
  async migrateExtension(extension: Extension, source: string): Promise<void> {
    const steps = extension.migrations ?? [];
    if (steps.length === 0) return;
    const table = versionTableOf(extension.name);
    await this.#exclusive(async () => {
      this.#transaction(() => this.#createVersionTable(table));
      for (const step of steps) {
        if (this.#isApplied(table, step.name)) continue;
        await this.#applyStep(extension, source, table, step.name, step.up.bind(step));
      }
    });
  }

  async #applyStep(
    extension: Extension,
    source: string,
    table: string,
    name: string,
    up: (database: ExtensionDatabase) => unknown,
  ): Promise<void> {
    const db = this.#db;
    let live = true;
    const stepDatabase = new SqliteDatabase((work) => {
      if (!live) {
        return Promise.reject(
          new Error(
            `Cannot use the database from migration "${name}" of "${extension.name}": the step is over`,
          ),
        );
      }
      return Promise.resolve(work(db));
    });
    const before = this.#tableNames();
    db.exec("BEGIN IMMEDIATE");
    try {
      await withTimeLimit(() => up(stepDatabase), this.#migrationTimeoutMs);
      live = false;
      if (!db.isTransaction) {
        throw new Error("the step ended the transaction itself: remove its COMMIT or ROLLBACK");
      }
      const offending = unprefixedChanges(extension.name, before, this.#tableNames());
      if (offending.length > 0) throw prefixViolation(extension, source, name, offending);
      this.#record(table, name);
      db.exec("COMMIT");
    } catch (error) {
      live = false;
      if (db.isTransaction) db.exec("ROLLBACK");
      if (error instanceof ExtensionLoadError) throw error;
      throw migrationFailed(extension, source, name, error);
    }
  }

  /**
   * The steps applied for an extension, or for the core with `"core"`.
   *
   * @param extensionName The extension's name, or `"core"`.
   * @returns The steps in the order they were applied; none when the version table does not exist.
   */
  appliedMigrations(extensionName: string | "core"): Promise<AppliedMigration[]> {
    return this.#use(() => {
      const table = extensionName === "core" ? CORE_VERSION_TABLE : versionTableOf(extensionName);
      if (!this.#tableNames().includes(table)) return [];
      return this.#all(`SELECT name, applied_at FROM ${table} ORDER BY rowid`).map((row) => ({
        name: String(row.name),
        applied_at: String(row.applied_at),
      }));
    });
  }

  // --- clusters -----------------------------------------------------------

  /** Every cluster, by id. */
  listClusters(): Promise<Cluster[]> {
    return this.#use(() => {
      return this.#all("SELECT * FROM clusters ORDER BY id").map(toCluster);
    });
  }

  /** One cluster, or `undefined`. */
  getCluster(id: number): Promise<Cluster | undefined> {
    return this.#use(() => {
      return this.#cluster(id);
    });
  }

  /** Stores a new cluster; rejects with `StoreConflictError` when the name is taken. */
  createCluster(data: NewCluster): Promise<Cluster> {
    return this.write((tx) => tx.createCluster(data));
  }

  #createCluster(data: NewCluster): Cluster {
    this.#assertClusterNameFree(data.name);
    const { lastInsertRowid } = this.#run(
      "INSERT INTO clusters (name, mode, status, release, extensions, attributes) VALUES (?, ?, ?, ?, ?, ?)",
      [
        data.name,
        data.mode,
        "new",
        data.release,
        JSON.stringify(data.extensions),
        JSON.stringify(data.attributes),
      ],
    );
    return this.#cluster(Number(lastInsertRowid))!;
  }

  /** Changes a cluster; answers `undefined` for an unknown id. */
  updateCluster(id: number, patch: ClusterPatch): Promise<Cluster | undefined> {
    return this.write((tx) => tx.updateCluster(id, patch));
  }

  #updateCluster(id: number, patch: ClusterPatch): Cluster | undefined {
    if (!this.#cluster(id)) return undefined;
    if (patch.name !== undefined) this.#assertClusterNameFree(patch.name, id);
    const { columns, values } = assignments(CLUSTER_COLUMNS, patch);
    if (columns.length > 0) {
      this.#run(`UPDATE clusters SET ${columns} WHERE id = ?`, [...values, id]);
    }
    return this.#cluster(id);
  }

  /** Deletes a cluster and its node groups; its nodes go back to the pool. */
  deleteCluster(id: number): Promise<Cluster | undefined> {
    return this.write((tx) => tx.deleteCluster(id));
  }

  #deleteCluster(id: number): Cluster | undefined {
    const cluster = this.#cluster(id);
    if (!cluster) return undefined;
    this.#run(
      `UPDATE nodes SET cluster_id = NULL, group_id = NULL, status = 'discover', roles = '[]',
        pending_roles = '[]', pending_addition = 0, pending_deletion = 0 WHERE cluster_id = ?`,
      [id],
    );
    this.#run("DELETE FROM nodegroups WHERE cluster_id = ?", [id]);
    this.#run("DELETE FROM clusters WHERE id = ?", [id]);
    return cluster;
  }

  // --- nodes --------------------------------------------------------------

  /** Nodes, optionally of one cluster, by id. */
  listNodes(filter: { cluster_id?: number } = {}): Promise<Node[]> {
    return this.#use(() => this.#listNodes(filter));
  }

  #listNodes(filter: { cluster_id?: number } = {}): Node[] {
    {
      const rows = filter.cluster_id === undefined
        ? this.#all("SELECT * FROM nodes ORDER BY id")
        : this.#all("SELECT * FROM nodes WHERE cluster_id = ? ORDER BY id", [filter.cluster_id]);
      return rows.map(toNode);
    }
  }

  /** One node, or `undefined`. */
  getNode(id: number): Promise<Node | undefined> {
    return this.#use(() => {
      return this.#node(id);
    });
  }

  /** Stores a new node; rejects with `StoreConflictError` when the MAC is taken. */
  createNode(data: NewNode): Promise<Node> {
    return this.write((tx) => tx.createNode(data));
  }

  #createNode(data: NewNode): Node {
    this.#assertMacFree(data.mac);
    const clusterId = data.cluster_id ?? null;
    const { lastInsertRowid } = this.#run(
      `INSERT INTO nodes (uuid, mac, name, hostname, status, cluster_id, group_id, roles,
        pending_roles, pending_addition, pending_deletion, online, meta)
        VALUES (?, ?, ?, ?, 'discover', ?, ?, ?, ?, ?, 0, ?, ?)`,
      [
        crypto.randomUUID(),
        data.mac,
        data.name ?? defaultNodeName(data.mac),
        data.hostname ?? "",
        clusterId,
        data.group_id ?? null,
        JSON.stringify(data.roles ?? []),
        JSON.stringify(data.pending_roles ?? []),
        clusterId === null ? 0 : 1,
        data.online === false ? 0 : 1,
        JSON.stringify(data.meta ?? {}),
      ],
    );
    const id = Number(lastInsertRowid);
    if (data.hostname === undefined) {
      this.#run("UPDATE nodes SET hostname = ? WHERE id = ?", [defaultHostname(id), id]);
    }
    return this.#node(id)!;
  }

  /** Changes a node; answers `undefined` for an unknown id. */
  updateNode(id: number, patch: NodePatch): Promise<Node | undefined> {
    return this.write((tx) => tx.updateNode(id, patch));
  }

  #updateNode(id: number, patch: NodePatch): Node | undefined {
    if (!this.#node(id)) return undefined;
    if (patch.mac !== undefined) this.#assertMacFree(patch.mac, id);
    const { columns, values } = assignments(NODE_COLUMNS, patch);
    if (columns.length > 0) {
      this.#run(`UPDATE nodes SET ${columns} WHERE id = ?`, [...values, id]);
    }
    return this.#node(id);
  }

  /** Deletes a node; answers it, or `undefined` for an unknown id. */
  deleteNode(id: number): Promise<Node | undefined> {
    return this.write((tx) => tx.deleteNode(id));
  }

  #deleteNode(id: number): Node | undefined {
    const node = this.#node(id);
    if (node) this.#run("DELETE FROM nodes WHERE id = ?", [id]);
    return node;
  }

  /** Deletes the nodes that exist among `ids` in one transaction; answers them. */
  deleteNodes(ids: readonly number[]): Promise<Node[]> {
    return this.write((tx) => tx.deleteNodes(ids));
  }

  #deleteNodes(ids: readonly number[]): Node[] {
    const deleted: Node[] = [];
    for (const id of new Set(ids)) {
      const node = this.#node(id);
      if (!node) continue;
      this.#run("DELETE FROM nodes WHERE id = ?", [id]);
      deleted.push(node);
    }
    return deleted;
  }

  // --- node groups --------------------------------------------------------

  /** Node groups, optionally of one cluster, by id. */
  listNodeGroups(filter: { cluster_id?: number } = {}): Promise<NodeGroup[]> {
    return this.#use(() => this.#listNodeGroups(filter));
  }

  #listNodeGroups(filter: { cluster_id?: number } = {}): NodeGroup[] {
    {
      const rows = filter.cluster_id === undefined
        ? this.#all("SELECT * FROM nodegroups ORDER BY id")
        : this.#all("SELECT * FROM nodegroups WHERE cluster_id = ? ORDER BY id", [
          filter.cluster_id,
        ]);
      return rows.map(toNodeGroup);
    }
  }

  /** One node group, or `undefined`. */
  getNodeGroup(id: number): Promise<NodeGroup | undefined> {
    return this.#use(() => {
      return this.#nodeGroup(id);
    });
  }

  /** Stores a node group; rejects with `StoreConflictError` when its cluster has one of that name. */
  createNodeGroup(data: NewNodeGroup): Promise<NodeGroup> {
    return this.write((tx) => tx.createNodeGroup(data));
  }

  #createNodeGroup(data: NewNodeGroup): NodeGroup {
    const taken = this.#get("SELECT id FROM nodegroups WHERE cluster_id = ? AND name = ?", [
      data.cluster_id,
      data.name,
    ]);
    if (taken) {
      throw new StoreConflictError(
        `Cannot create node group "${data.name}": cluster ${data.cluster_id} already has node group ${taken.id} of that name`,
        "name",
      );
    }
    const { lastInsertRowid } = this.#run(
      "INSERT INTO nodegroups (name, cluster_id) VALUES (?, ?)",
      [data.name, data.cluster_id],
    );
    return this.#nodeGroup(Number(lastInsertRowid))!;
  }

  /** Deletes a node group (its nodes keep their cluster, without a group). */
  deleteNodeGroup(id: number): Promise<NodeGroup | undefined> {
    return this.write((tx) => tx.deleteNodeGroup(id));
  }

  #deleteNodeGroup(id: number): NodeGroup | undefined {
    const group = this.#nodeGroup(id);
    if (group) this.#run("DELETE FROM nodegroups WHERE id = ?", [id]);
    return group;
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction. The store holds one
   * connection, so the store is held exclusively while `fn` runs (it may
   * await): every other call waits for the commit or the rollback.
   *
   * @param fn The read-check-write.
   * @returns What `fn` answers, once committed.
   * @throws {StoreConflictError} When a write breaks a uniqueness or foreign key rule.
   */
  write<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      const db = this.#db;
      let live = true;
      const use = <R>(work: () => R): Promise<R> => {
        if (!live) {
          return Promise.reject(
            new Error("Cannot use the transaction of store.write(): it is over"),
          );
        }
        try {
          return Promise.resolve(work());
        } catch (error) {
          return Promise.reject(translateConstraint(error));
        }
      };
      const events = new PendingEvents(this.#outbox);
      const writer: StoreWriter = {
        enqueue: events.enqueue,
        execute: <R>(query: CompiledQuery<R>) =>
          use(() => this.#all(query.sql, query.parameters as SQLInputValue[]) as R[]),
        getCluster: (id) => use(() => this.#cluster(id)),
        getNode: (id) => use(() => this.#node(id)),
        getNodeGroup: (id) => use(() => this.#nodeGroup(id)),
        listNodes: (filter) => use(() => this.#listNodes(filter)),
        listNodeGroups: (filter) => use(() => this.#listNodeGroups(filter)),
        createCluster: (data) => use(() => this.#createCluster(data)),
        updateCluster: (id, patch) => use(() => this.#updateCluster(id, patch)),
        deleteCluster: (id) => use(() => this.#deleteCluster(id)),
        createNode: (data) => use(() => this.#createNode(data)),
        updateNode: (id, patch) => use(() => this.#updateNode(id, patch)),
        deleteNode: (id) => use(() => this.#deleteNode(id)),
        deleteNodes: (ids) => use(() => this.#deleteNodes(ids)),
        createNodeGroup: (data) => use(() => this.#createNodeGroup(data)),
        deleteNodeGroup: (id) => use(() => this.#deleteNodeGroup(id)),
      };
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(writer);
        await events.flush(writer);
        live = false;
        db.exec("COMMIT");
        events.committed();
        return result;
      } catch (error) {
        live = false;
        if (db.isTransaction) db.exec("ROLLBACK");
        throw translateConstraint(error);
      }
    });
  }

  /** Durable delivery: `write()` writes what its writer enqueued to this outbox. */
  useOutbox(outbox: Outbox): void {
    this.#outbox = outbox;
  }

  /** Closes the database once every running migration is over. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#gate) await this.#gate;
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
  }

  // --- internals ----------------------------------------------------------

  /**
   * Runs `work` once no migration holds the store. The check and the work
   * happen in the same synchronous stretch, so nothing can slip in between.
   */
  async #use<T>(work: () => T): Promise<T> {
    while (this.#gate) await this.#gate;
    if (this.#closed) throw new Error(`Cannot use the store "${this.path}": it is closed`);
    return work();
  }

  async #exclusive<T>(work: () => Promise<T>): Promise<T> {
    while (this.#gate) await this.#gate;
    if (this.#closed) throw new Error(`Cannot use the store "${this.path}": it is closed`);
    let release!: () => void;
    this.#gate = new Promise((resolve) => release = resolve);
    try {
      return await work();
    } finally {
      this.#gate = undefined;
      release();
    }
  }

  #transaction<T>(work: () => T): T {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      db.exec("COMMIT");
      return result;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw translateConstraint(error);
    }
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #all(sql: string, params: SQLInputValue[] = []): Row[] {
    return this.#statement(sql).all(...params) as Row[];
  }

  #get(sql: string, params: SQLInputValue[] = []): Row | undefined {
    return this.#statement(sql).get(...params) as Row | undefined;
  }

  #run(sql: string, params: SQLInputValue[] = []): { lastInsertRowid: number | bigint } {
    return this.#statement(sql).run(...params);
  }

  #tableNames(): string[] {
    return this.#db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((
      row,
    ) => String(row.name));
  }

  #createVersionTable(table: string): void {
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS ${table} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`,
    );
  }

  #isApplied(table: string, name: string): boolean {
    return this.#db.prepare(`SELECT 1 FROM ${table} WHERE name = ?`).get(name) !== undefined;
  }

  #record(table: string, name: string): void {
    this.#db.prepare(`INSERT INTO ${table} (name, applied_at) VALUES (?, ?)`).run(
      name,
      new Date().toISOString(),
    );
  }

  #cluster(id: number): Cluster | undefined {
    const row = this.#get("SELECT * FROM clusters WHERE id = ?", [id]);
    return row && toCluster(row);
  }

  #node(id: number): Node | undefined {
    const row = this.#get("SELECT * FROM nodes WHERE id = ?", [id]);
    return row && toNode(row);
  }

  #nodeGroup(id: number): NodeGroup | undefined {
    const row = this.#get("SELECT * FROM nodegroups WHERE id = ?", [id]);
    return row && toNodeGroup(row);
  }

  #assertClusterNameFree(name: string, self?: number): void {
    const taken = this.#get("SELECT id FROM clusters WHERE name = ?", [name]);
    if (taken && Number(taken.id) !== self) {
      throw new StoreConflictError(
        `Cannot store cluster "${name}": cluster ${taken.id} already has that name`,
        "name",
      );
    }
  }

  #assertMacFree(mac: string, self?: number): void {
    const taken = this.#get("SELECT id FROM nodes WHERE mac = ?", [mac]);
    if (taken && Number(taken.id) !== self) {
      throw new StoreConflictError(
        `Cannot store node "${mac}": node ${taken.id} already has that MAC address`,
        "mac",
      );
    }
  }
}

/** `ExtensionDatabase` over a runner that decides when the work may run. */
class SqliteDatabase implements ExtensionDatabase {
  readonly dialect = "sqlite" as const;
  readonly #run: <T>(work: (db: DatabaseSync) => T) => Promise<T>;

  constructor(run: <T>(work: (db: DatabaseSync) => T) => Promise<T>) {
    this.#run = run;
  }

  query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.#run((db) =>
      db.prepare(sql).all(...params.map(toSqlValue)).map((row) => ({ ...row }) as T)
    );
  }

  execute(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    return this.#run((db) => {
      if (params.length > 0) {
        return { changes: Number(db.prepare(sql).run(...params.map(toSqlValue)).changes) };
      }
      // exec() runs every statement of a script; prepare() would run only the first.
      const total = () => Number(db.prepare("SELECT total_changes() AS n").get()!.n);
      const before = total();
      db.exec(sql);
      return { changes: total() - before };
    });
  }
}

function toSqlValue(value: unknown): SQLInputValue {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case "boolean":
      return value ? 1 : 0;
    case "number":
    case "bigint":
    case "string":
      return value;
  }
  if (value instanceof Uint8Array) return value;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

function assignments(
  allowed: readonly string[],
  patch: Record<string, unknown>,
): { columns: string; values: SQLInputValue[] } {
  const names: string[] = [];
  const values: SQLInputValue[] = [];
  for (const column of allowed) {
    const value = patch[column];
    if (value === undefined) continue;
    names.push(`${column} = ?`);
    values.push(toSqlValue(value));
  }
  return { columns: names.join(", "), values };
}

function translateConstraint(error: unknown): unknown {
  if (error instanceof Error && /FOREIGN KEY constraint failed/.test(error.message)) {
    return new StoreConflictError(
      "Cannot store the change: it refers to a cluster or node group that does not exist",
      "cluster_id",
    );
  }
  return error;
}

function parseJson<T>(value: SQLInputValue, fallback: T): T {
  return typeof value === "string" ? JSON.parse(value) as T : fallback;
}

function toCluster(row: Row): Cluster {
  return {
    id: Number(row.id),
    name: String(row.name),
    mode: String(row.mode),
    status: String(row.status) as Cluster["status"],
    release: String(row.release),
    extensions: parseJson(row.extensions, []),
    attributes: parseJson(row.attributes, {}),
  };
}

function toNode(row: Row): Node {
  return {
    id: Number(row.id),
    uuid: String(row.uuid),
    mac: String(row.mac),
    name: String(row.name),
    hostname: String(row.hostname),
    status: String(row.status) as Node["status"],
    cluster_id: row.cluster_id === null ? null : Number(row.cluster_id),
    group_id: row.group_id === null ? null : Number(row.group_id),
    roles: parseJson(row.roles, []),
    pending_roles: parseJson(row.pending_roles, []),
    pending_addition: Boolean(row.pending_addition),
    pending_deletion: Boolean(row.pending_deletion),
    online: Boolean(row.online),
    meta: parseJson(row.meta, {}),
  };
}

function toNodeGroup(row: Row): NodeGroup {
  return { id: Number(row.id), name: String(row.name), cluster_id: Number(row.cluster_id) };
}
