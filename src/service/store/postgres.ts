/**
 * The PostgreSQL store of the reference Nailgun (`DATABASE_URL=postgres://…`):
 * the same {@linkcode Store} as the embedded SQLite one, for deployments where
 * several service instances share one database.
 *
 * Migrations, core and extensions alike, run one step per transaction under
 * a PostgreSQL advisory lock, so that instances starting at the same moment
 * on one empty database apply each step exactly once.
 *
 * @module
 */
import postgres from "npm:postgres@3.4.9";
import type { CompiledQuery } from "kysely";
import { type Outbox, PendingEvents } from "../delivery/outbox.ts";
import { withTimeLimit } from "../../dispatcher.ts";
import { describeError, ExtensionLoadError } from "../../errors.ts";
import type { Extension, ExtensionDatabase, ExtensionMigration } from "../../extension.ts";
import type { Cluster, Node, NodeGroup } from "../../payloads.ts";
import { numberPlaceholders, splitStatements } from "./_postgres_sql.ts";
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

/** Options of {@linkcode openPostgresStore}. */
export interface PostgresStoreOptions {
  /** Most connections the store opens (lazily); default 10, or `?max=` in the URL. */
  max?: number;
  /** Seconds to wait for a connection before failing; default 10. */
  connectTimeout?: number;
  /** Time limit of one extension migration step, in milliseconds; default 60 000. */
  migrationTimeoutMs?: number;
}

/**
 * Key of the advisory lock that every migration step, core or extension, of
 * every instance holds for its transaction: one step at a time per database.
 */
const MIGRATION_LOCK_KEY = "7310593858020270957";

/** PostgreSQL's longest identifier, in bytes; longer ones are silently cut. */
const MAX_IDENTIFIER_BYTES = 63;

type Sql = postgres.Sql<Record<string, unknown>>;
type Runner =
  | postgres.Sql<Record<string, unknown>>
  | postgres.TransactionSql<Record<string, unknown>>;
type Row = Record<string, unknown>;

/**
 * Opens a PostgreSQL database as a {@linkcode Store}: connects once to check
 * the URL, then opens connections as they are needed. The schema is not
 * touched until `migrateCore()` runs.
 *
 * Values as the store and `database` answer them: ids and `bigint` results
 * (`count(*)`) as numbers, `jsonb` parsed, booleans as booleans. Parameters
 * of `database` may be objects or arrays (sent as JSON text); a string bound
 * to a `jsonb` parameter is taken as JSON text, so `JSON.stringify(value)`
 * works in both dialects.
 *
 * @param url A connection URL, e.g. `postgres://user:password@127.0.0.1:5432/nailgun`.
 * @param options Pool size, connection and migration time limits.
 * @returns The store; close it with `close()`.
 * @throws {TypeError} When the URL is not a `postgres://` or `postgresql://` URL.
 * @throws {Error} When the database cannot be reached; the message names the
 * URL without its password.
 *
 * @example Open a database, migrate it and store a node
 * ```ts ignore
 * import { openPostgresStore } from "./postgres.ts";
 * import assert from "node:assert/strict";
 * const store = await openPostgresStore("postgres://nailgun:nailgun@127.0.0.1:5432/nailgun");
 * try {
 *   await store.migrateCore();
 *   const node = await store.createNode({ mac: "52:54:00:12:34:56" });
 *   assert.equal((await store.getNode(node.id))?.mac, "52:54:00:12:34:56");
 * } finally {
 *   await store.close();
 * }
 * ```
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<Store> {
  const shown = redactUrl(url);
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new TypeError(
      `Cannot open PostgreSQL database "${shown}": the URL must start with postgres:// or postgresql://: current value is "${shown}"`,
    );
  }
  const sql = postgres(url, {
    ...(options.max === undefined ? {} : { max: options.max }),
    connect_timeout: options.connectTimeout ?? 10,
    onnotice: () => {},
    transform: { undefined: null },
    types: {
      // bigint (count(*), sum(), bigserial ids) as a JS number, as SQLite answers it.
      int8: {
        to: 20,
        from: [20],
        serialize: (value: unknown) => String(value),
        parse: (value: string) => Number(value),
      },
      // json and jsonb parameters: a string is JSON text already (as SQLite
      // stores JSON), anything else is serialized; values are parsed.
      jsonb: {
        to: 3802,
        from: [114, 3802],
        serialize: (value: unknown) => typeof value === "string" ? value : JSON.stringify(value),
        parse: (value: string) => JSON.parse(value),
      },
    },
  }) as unknown as Sql;
  try {
    await sql`SELECT 1`;
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new Error(`Cannot open PostgreSQL database "${shown}": ${describeError(error)}`, {
      cause: error,
    });
  }
  return new PostgresStore(sql, shown, options.migrationTimeoutMs ?? 60_000);
}

/** The {@linkcode Store} over one connection pool. */
class PostgresStore implements Store {
  readonly dialect = "postgres" as const;
  readonly database: ExtensionDatabase;
  readonly #sql: Sql;
  readonly #shown: string;
  readonly #migrationTimeoutMs: number;
  #closed: Promise<void> | undefined;
  #outbox: Outbox | undefined;

  constructor(sql: Sql, shown: string, migrationTimeoutMs: number) {
    this.#sql = sql;
    this.#shown = shown;
    this.#migrationTimeoutMs = migrationTimeoutMs;
    this.database = databaseOver(() => this.#live());
  }

  // --- schema -------------------------------------------------------------

  async migrateCore(): Promise<void> {
    for (const step of CORE_MIGRATIONS) {
      await this.#live().begin(async (tx) => {
        if (!await beginStep(tx, CORE_VERSION_TABLE, step.name)) return;
        for (const statement of step.statements.postgres) await tx.unsafe(statement);
        await recordStep(tx, CORE_VERSION_TABLE, step.name);
      });
    }
  }

  async migrateExtension(extension: Extension, source: string): Promise<void> {
    const steps = extension.migrations ?? [];
    if (steps.length === 0) return;
    let table: string;
    try {
      table = versionTableOf(extension.name);
    } catch (error) {
      throw new ExtensionLoadError(`Cannot load extension "${source}": ${describeError(error)}`, {
        source,
        extension: extension.name,
        phase: "migrate",
        cause: error,
      });
    }
    if (byteLength(table) > MAX_IDENTIFIER_BYTES) {
      throw new ExtensionLoadError(
        `Cannot load extension "${source}": the name "${extension.name}" is too long to prefix PostgreSQL tables: its version table "${table}" is longer than ${MAX_IDENTIFIER_BYTES} bytes: current value is ${extension.name.length} characters`,
        { source, extension: extension.name, phase: "migrate" },
      );
    }
    for (const step of steps) {
      try {
        await this.#live().begin(async (tx) => {
          if (!await beginStep(tx, table, step.name)) return;
          await this.#applyStep(tx, extension, source, step);
          await recordStep(tx, table, step.name);
        });
      } catch (error) {
        if (error instanceof ExtensionLoadError) throw error;
        throw migrationFailed(extension, source, step.name, error);
      }
    }
  }

  /**
   * Runs one extension step inside its transaction; throws (which rolls the
   * transaction back) when it ended the transaction itself or created or
   * dropped a table outside the `<name>_` prefix.
   */
  async #applyStep(
    tx: Runner,
    extension: Extension,
    source: string,
    step: ExtensionMigration,
  ): Promise<void> {
    const [{ xid: before }] = await tx<[{ xid: string }]>`SELECT txid_current()::text AS xid`;
    const tablesBefore = await tableNames(tx);
    let live = true;
    const stepDatabase = databaseOver(() => {
      if (!live) {
        throw new Error(
          `Cannot use the database from migration "${step.name}" of "${extension.name}": the step is over`,
        );
      }
      return tx;
    });
    try {
      await withTimeLimit(() => step.up(stepDatabase), this.#migrationTimeoutMs);
    } finally {
      live = false;
    }
    const [{ xid: after }] = await tx<[{ xid: string }]>`SELECT txid_current()::text AS xid`;
    if (after !== before) {
      throw new Error("the step ended the transaction itself: remove its COMMIT or ROLLBACK");
    }
    const offending = unprefixedChanges(extension.name, [...tablesBefore], [
      ...await tableNames(tx),
    ]);
    if (offending.length > 0) throw prefixViolation(extension, source, step.name, offending);
  }

  async appliedMigrations(extensionName: string | "core"): Promise<AppliedMigration[]> {
    const table = extensionName === "core" ? CORE_VERSION_TABLE : versionTableOf(extensionName);
    const sql = this.#live();
    const [{ found }] = await sql<[{ found: boolean }]>`
      SELECT to_regclass(${table}) IS NOT NULL AS found`;
    if (!found) return [];
    const rows = await sql<{ name: string; applied_at: Date }[]>`
      SELECT name, applied_at FROM ${sql(table)} ORDER BY id`;
    return rows.map((row) => ({ name: row.name, applied_at: row.applied_at.toISOString() }));
  }

  // --- clusters -----------------------------------------------------------

  async listClusters(): Promise<Cluster[]> {
    const rows = await this.#live()<Row[]>`SELECT * FROM clusters ORDER BY id`;
    return rows.map(toCluster);
  }

  async getCluster(id: number): Promise<Cluster | undefined> {
    if (!isId(id)) return undefined;
    const [row] = await this.#live()<Row[]>`SELECT * FROM clusters WHERE id = ${id}`;
    return row && toCluster(row);
  }

  createCluster(data: NewCluster): Promise<Cluster> {
    return this.write((tx) => tx.createCluster(data));
  }

  updateCluster(id: number, patch: ClusterPatch): Promise<Cluster | undefined> {
    return this.write((tx) => tx.updateCluster(id, patch));
  }

  deleteCluster(id: number): Promise<Cluster | undefined> {
    return this.write((tx) => tx.deleteCluster(id));
  }

  // --- nodes --------------------------------------------------------------

  async listNodes(filter: { cluster_id?: number } = {}): Promise<Node[]> {
    const sql = this.#live();
    if (filter.cluster_id !== undefined && !isId(filter.cluster_id)) return [];
    const rows = filter.cluster_id === undefined
      ? await sql<Row[]>`SELECT * FROM nodes ORDER BY id`
      : await sql<Row[]>`SELECT * FROM nodes WHERE cluster_id = ${filter.cluster_id} ORDER BY id`;
    return rows.map(toNode);
  }

  async getNode(id: number): Promise<Node | undefined> {
    if (!isId(id)) return undefined;
    const [row] = await this.#live()<Row[]>`SELECT * FROM nodes WHERE id = ${id}`;
    return row && toNode(row);
  }

  createNode(data: NewNode): Promise<Node> {
    return this.write((tx) => tx.createNode(data));
  }

  updateNode(id: number, patch: NodePatch): Promise<Node | undefined> {
    return this.write((tx) => tx.updateNode(id, patch));
  }

  deleteNode(id: number): Promise<Node | undefined> {
    return this.write((tx) => tx.deleteNode(id));
  }

  deleteNodes(ids: readonly number[]): Promise<Node[]> {
    return this.write((tx) => tx.deleteNodes(ids));
  }

  // --- node groups --------------------------------------------------------

  async listNodeGroups(filter: { cluster_id?: number } = {}): Promise<NodeGroup[]> {
    const sql = this.#live();
    if (filter.cluster_id !== undefined && !isId(filter.cluster_id)) return [];
    const rows = filter.cluster_id === undefined
      ? await sql<Row[]>`SELECT * FROM nodegroups ORDER BY id`
      : await sql<Row[]>`
          SELECT * FROM nodegroups WHERE cluster_id = ${filter.cluster_id} ORDER BY id`;
    return rows.map(toNodeGroup);
  }

  async getNodeGroup(id: number): Promise<NodeGroup | undefined> {
    if (!isId(id)) return undefined;
    const [row] = await this.#live()<Row[]>`SELECT * FROM nodegroups WHERE id = ${id}`;
    return row && toNodeGroup(row);
  }

  createNodeGroup(data: NewNodeGroup): Promise<NodeGroup> {
    return this.write((tx) => tx.createNodeGroup(data));
  }

  deleteNodeGroup(id: number): Promise<NodeGroup | undefined> {
    return this.write((tx) => tx.deleteNodeGroup(id));
  }

  /**
   * Runs `fn` in one transaction of its own connection; the writer's reads
   * take `FOR UPDATE` row locks, so concurrent writers of the same rows wait
   * for each other.
   */
  async write<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T> {
    let live = true;
    const conflict = (error: unknown, group?: NewNodeGroup) => this.#conflictOf(error, group);
    const events = new PendingEvents(this.#outbox);
    try {
      const result = await this.#live().begin(async (tx) => {
        try {
          const writer = writerOver(
            () => {
              if (!live) throw new Error("Cannot use the transaction of store.write(): it is over");
              return tx;
            },
            conflict,
            events,
          );
          const result = await fn(writer);
          await events.flush(writer);
          return result;
        } finally {
          live = false;
        }
      }) as T;
      events.committed();
      return result;
    } catch (error) {
      throw await this.#conflictOf(error, undefined) ?? error;
    }
  }

  /** Durable delivery: `write()` writes what its writer enqueued to this outbox. */
  useOutbox(outbox: Outbox): void {
    this.#outbox = outbox;
  }

  close(): Promise<void> {
    this.#closed ??= this.#sql.end({ timeout: 5 });
    return this.#closed;
  }

  // --- internals ----------------------------------------------------------

  /** The pool, or an error when the store is closed. */
  #live(): Sql {
    if (this.#closed) throw new Error(`Cannot use the store "${this.#shown}": it is closed`);
    return this.#sql;
  }

  /** The StoreConflictError for a constraint violation, or undefined for any other error. */
  async #conflictOf(
    error: unknown,
    nodeGroup: NewNodeGroup | undefined,
  ): Promise<StoreConflictError | undefined> {
    if (error instanceof StoreConflictError) return error;
    if (!(error instanceof postgres.PostgresError)) return undefined;
    if (error.code === "23503") {
      return new StoreConflictError(
        "Cannot store the change: it refers to a cluster or node group that does not exist",
        "cluster_id",
      );
    }
    if (error.code !== "23505") return undefined;
    const value = /=\((.*)\) already exists/.exec(error.detail ?? "")?.[1] ?? "";
    const sql = this.#live();
    switch (error.constraint_name) {
      case "nodes_mac_key": {
        const [taken] = await sql`SELECT id FROM nodes WHERE mac = ${value}`;
        return new StoreConflictError(
          `Cannot store node "${value}": node ${taken?.id ?? "?"} already has that MAC address`,
          "mac",
        );
      }
      case "clusters_name_key": {
        const [taken] = await sql`SELECT id FROM clusters WHERE name = ${value}`;
        return new StoreConflictError(
          `Cannot store cluster "${value}": cluster ${taken?.id ?? "?"} already has that name`,
          "name",
        );
      }
      case "nodegroups_cluster_id_name_key": {
        const [taken] = await sql`
          SELECT id FROM nodegroups
          WHERE cluster_id = ${nodeGroup?.cluster_id ?? 0} AND name = ${nodeGroup?.name ?? ""}`;
        return new StoreConflictError(
          `Cannot create node group "${nodeGroup?.name}": cluster ${nodeGroup?.cluster_id} already has node group ${
            taken?.id ?? "?"
          } of that name`,
          "name",
        );
      }
      default:
        return new StoreConflictError(
          `Cannot store the change: ${error.detail ?? error.message}`,
          error.column_name ?? error.constraint_name ?? "unknown",
        );
    }
  }
}

/**
 * The {@linkcode StoreWriter} over one transaction: reads lock their rows
 * (`FOR UPDATE`), and a constraint violation becomes a `StoreConflictError`.
 */
function writerOver(
  runner: () => postgres.TransactionSql<Record<string, unknown>>,
  conflictOf: (error: unknown, group?: NewNodeGroup) => Promise<StoreConflictError | undefined>,
  events: PendingEvents,
): StoreWriter {
  const guarded = async <R>(work: () => Promise<R>, group?: NewNodeGroup): Promise<R> => {
    try {
      return await work();
    } catch (error) {
      throw await conflictOf(error, group) ?? error;
    }
  };
  const cluster = async (id: number): Promise<Cluster | undefined> => {
    if (!isId(id)) return undefined;
    const [row] = await runner()<Row[]>`SELECT * FROM clusters WHERE id = ${id} FOR UPDATE`;
    return row && toCluster(row);
  };
  const node = async (id: number): Promise<Node | undefined> => {
    if (!isId(id)) return undefined;
    const [row] = await runner()<Row[]>`SELECT * FROM nodes WHERE id = ${id} FOR UPDATE`;
    return row && toNode(row);
  };
  return {
    enqueue: events.enqueue,
    execute: async <R>(query: CompiledQuery<R>) =>
      [
        ...await runner().unsafe(query.sql, query.parameters as postgres.ParameterOrJSON<never>[]),
      ] as R[],
    getCluster: cluster,
    getNode: node,
    async getNodeGroup(id) {
      if (!isId(id)) return undefined;
      const [row] = await runner()<Row[]>`SELECT * FROM nodegroups WHERE id = ${id} FOR UPDATE`;
      return row && toNodeGroup(row);
    },
    async listNodes(filter = {}) {
      const tx = runner();
      if (filter.cluster_id !== undefined && !isId(filter.cluster_id)) return [];
      const rows = filter.cluster_id === undefined
        ? await tx<Row[]>`SELECT * FROM nodes ORDER BY id FOR UPDATE`
        : await tx<Row[]>`
            SELECT * FROM nodes WHERE cluster_id = ${filter.cluster_id} ORDER BY id FOR UPDATE`;
      return rows.map(toNode);
    },
    async listNodeGroups(filter = {}) {
      const tx = runner();
      if (filter.cluster_id !== undefined && !isId(filter.cluster_id)) return [];
      const rows = filter.cluster_id === undefined
        ? await tx<Row[]>`SELECT * FROM nodegroups ORDER BY id FOR UPDATE`
        : await tx<Row[]>`
            SELECT * FROM nodegroups WHERE cluster_id = ${filter.cluster_id} ORDER BY id FOR UPDATE`;
      return rows.map(toNodeGroup);
    },
    createCluster: (data) =>
      guarded(async () => {
        const [row] = await runner()<Row[]>`
          INSERT INTO clusters (name, mode, status, release, extensions, attributes)
          VALUES (${data.name}, ${data.mode}, 'new', ${data.release},
                  ${json(data.extensions)}::jsonb, ${json(data.attributes)}::jsonb)
          RETURNING *`;
        return toCluster(row);
      }),
    updateCluster: (id, patch) =>
      guarded(async () => {
        const current = await cluster(id);
        if (!current) return undefined;
        const next = { ...current, ...definedOnly(patch) };
        const [row] = await runner()<Row[]>`
          UPDATE clusters SET name = ${next.name}, mode = ${next.mode}, status = ${next.status},
            release = ${next.release}, extensions = ${json(next.extensions)}::jsonb,
            attributes = ${json(next.attributes)}::jsonb
          WHERE id = ${id} RETURNING *`;
        return toCluster(row);
      }),
    deleteCluster: (id) =>
      guarded(async () => {
        const current = await cluster(id);
        if (!current) return undefined;
        const tx = runner();
        await tx`
          UPDATE nodes SET cluster_id = NULL, group_id = NULL, status = 'discover',
            roles = '[]'::jsonb, pending_roles = '[]'::jsonb,
            pending_addition = false, pending_deletion = false
          WHERE cluster_id = ${id}
             OR group_id IN (SELECT id FROM nodegroups WHERE cluster_id = ${id})`;
        await tx`DELETE FROM nodegroups WHERE cluster_id = ${id}`;
        await tx`DELETE FROM clusters WHERE id = ${id}`;
        return current;
      }),
    createNode: (data) =>
      guarded(async () => {
        const tx = runner();
        const [{ id }] = await tx<[{ id: number }]>`
          SELECT nextval(pg_get_serial_sequence('nodes', 'id'))::integer AS id`;
        const clusterId = data.cluster_id ?? null;
        const [row] = await tx<Row[]>`
          INSERT INTO nodes (id, uuid, mac, name, hostname, status, cluster_id, group_id,
            roles, pending_roles, pending_addition, pending_deletion, online, meta)
          VALUES (${id}, ${crypto.randomUUID()}, ${data.mac},
            ${data.name ?? defaultNodeName(data.mac)}, ${data.hostname ?? defaultHostname(id)},
            'discover', ${clusterId}, ${data.group_id ?? null},
            ${json(data.roles ?? [])}::jsonb, ${json(data.pending_roles ?? [])}::jsonb,
            ${clusterId !== null}, false, ${data.online ?? true}, ${json(data.meta ?? {})}::jsonb)
          RETURNING *`;
        return toNode(row);
      }),
    updateNode: (id, patch) =>
      guarded(async () => {
        const current = await node(id);
        if (!current) return undefined;
        const next = { ...current, ...definedOnly(patch) };
        const [row] = await runner()<Row[]>`
          UPDATE nodes SET mac = ${next.mac}, name = ${next.name}, hostname = ${next.hostname},
            status = ${next.status}, cluster_id = ${next.cluster_id}, group_id = ${next.group_id},
            roles = ${json(next.roles)}::jsonb, pending_roles = ${json(next.pending_roles)}::jsonb,
            pending_addition = ${next.pending_addition},
            pending_deletion = ${next.pending_deletion}, online = ${next.online},
            meta = ${json(next.meta)}::jsonb
          WHERE id = ${id} RETURNING *`;
        return toNode(row);
      }),
    async deleteNode(id) {
      if (!isId(id)) return undefined;
      const [row] = await runner()<Row[]>`DELETE FROM nodes WHERE id = ${id} RETURNING *`;
      return row && toNode(row);
    },
    async deleteNodes(ids) {
      const wanted = [...new Set(ids)].filter(isId);
      if (wanted.length === 0) return [];
      const rows = await runner()<Row[]>`
        DELETE FROM nodes WHERE id = ANY(${wanted}::integer[]) RETURNING *`;
      const byId = new Map(rows.map((row) => [row.id as number, toNode(row)]));
      return wanted.flatMap((id) => byId.get(id) ?? []);
    },
    createNodeGroup: (data) =>
      guarded(async () => {
        const [row] = await runner()<Row[]>`
          INSERT INTO nodegroups (name, cluster_id) VALUES (${data.name}, ${data.cluster_id})
          RETURNING *`;
        return toNodeGroup(row);
      }, data),
    async deleteNodeGroup(id) {
      if (!isId(id)) return undefined;
      const tx = runner();
      await tx`UPDATE nodes SET group_id = NULL WHERE group_id = ${id}`;
      const [row] = await tx<Row[]>`DELETE FROM nodegroups WHERE id = ${id} RETURNING *`;
      return row && toNodeGroup(row);
    },
  };
}

/**
 * Starts a migration step in its transaction: waits for the migration lock,
 * makes sure the version table exists, and tells whether the step is still
 * to be applied (false: another instance, or an earlier start, applied it).
 */
async function beginStep(tx: Runner, versionTable: string, step: string): Promise<boolean> {
  await tx.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
  await tx`
    CREATE TABLE IF NOT EXISTS ${tx(versionTable)} (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL UNIQUE,
      applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`;
  const done = await tx`SELECT 1 FROM ${tx(versionTable)} WHERE name = ${step}`;
  return done.length === 0;
}

/** Records an applied step in its version table. */
async function recordStep(tx: Runner, versionTable: string, step: string): Promise<void> {
  await tx`INSERT INTO ${tx(versionTable)} (name) VALUES (${step})`;
}

/** Names of the tables and views of the database, outside the system schemas. */
async function tableNames(tx: Runner): Promise<Set<string>> {
  const rows = await tx<{ name: string }[]>`
    SELECT c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%'
      AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;
  return new Set(rows.map((row) => row.name));
}

/** Commands whose row count is a number of changed rows. */
const CHANGING_COMMANDS = new Set(["INSERT", "UPDATE", "DELETE", "MERGE"]);

/**
 * The {@linkcode ExtensionDatabase} over a pool or a transaction. `?`
 * placeholders become `$1..$n` (`$n` placeholders are accepted as they are).
 * Without parameters, the text may hold several statements separated by `;`:
 * they run in order, `execute` counts the rows all of them changed and
 * `query` answers the rows of the last one. Statements are not prepared
 * (extension SQL may be generated; the pool keeps no cache of it).
 */
function databaseOver(runner: () => Runner): ExtensionDatabase {
  const run = async (
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<{ rows: Row[]; changes: number }> => {
    const statements = splitStatements(sql);
    if (statements.length > 1 && params.length > 0) {
      throw new RangeError(
        `Cannot run the statements "${sql}": parameters can be given to one statement only, but the text holds ${statements.length}: current value is ${
          JSON.stringify(params)
        }`,
      );
    }
    const values = params.map(toParameter) as postgres.ParameterOrJSON<never>[];
    let rows: Row[] = [];
    let changes = 0;
    for (const statement of statements) {
      const { text, count } = params.length > 0
        ? numberPlaceholders(statement)
        : { text: statement, count: 0 };
      if (count !== 0 && count !== params.length) {
        throw new RangeError(
          `Cannot run the statement "${sql}": it has ${count} placeholders but ${params.length} parameters were given: current value is ${
            JSON.stringify(params)
          }`,
        );
      }
      const result = await runner().unsafe(text, values, { prepare: false });
      rows = result.map((row) => ({ ...row }));
      if (CHANGING_COMMANDS.has(result.command)) changes += result.count ?? 0;
    }
    return { rows, changes };
  };
  return {
    dialect: "postgres",
    async query<T = Record<string, unknown>>(
      sql: string,
      params?: readonly unknown[],
    ): Promise<T[]> {
      return (await run(sql, params)).rows as T[];
    },
    async execute(sql: string, params?: readonly unknown[]): Promise<{ changes: number }> {
      return { changes: (await run(sql, params)).changes };
    },
  };
}

/**
 * A parameter as PostgreSQL takes it: objects and arrays as JSON text, which
 * a `jsonb` parameter takes as JSON (so `JSON.stringify(value)` works in both
 * dialects).
 */
function toParameter(value: unknown): unknown {
  if (value === undefined) return null;
  if (
    value !== null && typeof value === "object" && !(value instanceof Date) &&
    !(value instanceof Uint8Array)
  ) {
    return JSON.stringify(value);
  }
  return value;
}

function toCluster(row: Row): Cluster {
  return {
    id: row.id as number,
    name: row.name as string,
    mode: row.mode as string,
    status: row.status as Cluster["status"],
    release: row.release as string,
    extensions: row.extensions as string[],
    attributes: row.attributes as Record<string, unknown>,
  };
}

function toNode(row: Row): Node {
  return {
    id: row.id as number,
    uuid: row.uuid as string,
    mac: row.mac as string,
    name: row.name as string,
    hostname: row.hostname as string,
    status: row.status as Node["status"],
    cluster_id: row.cluster_id as number | null,
    group_id: row.group_id as number | null,
    roles: row.roles as string[],
    pending_roles: row.pending_roles as string[],
    pending_addition: row.pending_addition as boolean,
    pending_deletion: row.pending_deletion as boolean,
    online: row.online as boolean,
    meta: row.meta as Record<string, unknown>,
  };
}

function toNodeGroup(row: Row): NodeGroup {
  return { id: row.id as number, name: row.name as string, cluster_id: row.cluster_id as number };
}

/** JSON text of a value, for a `::jsonb` parameter. */
function json(value: unknown): string {
  return JSON.stringify(value);
}

/** The entries of a patch whose value is not `undefined`. */
function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(patch).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/** Whether a value can be a row id (an `integer` column). */
function isId(id: number): boolean {
  return Number.isSafeInteger(id) && id > 0 && id <= 2_147_483_647;
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}
