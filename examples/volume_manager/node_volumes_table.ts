/**
 * The volume manager's own table, `volume_manager_node_volumes`: one row per
 * node with its disk layout as JSON. The SQL is portable: it runs on SQLite
 * and on PostgreSQL, with `?` placeholders as the host's database expects.
 *
 * @module
 */
import type { ExtensionDatabase, ExtensionMigration } from "@nailgun/extensions";
import { type Disk, parseDisks } from "./disks.ts";

/** The table's name; it carries the extension's `volume_manager_` prefix. */
export const NODE_VOLUMES_TABLE = "volume_manager_node_volumes";

/** The schema steps of the volume manager, in order. */
export const MIGRATIONS: readonly ExtensionMigration[] = [{
  name: "0001_create_node_volumes",
  async up(database: ExtensionDatabase): Promise<void> {
    // INTEGER, TEXT and a primary key mean the same in SQLite and PostgreSQL.
    await database.execute(
      `CREATE TABLE ${NODE_VOLUMES_TABLE} (
        node_id INTEGER PRIMARY KEY,
        disks TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
    );
  },
}];

/**
 * Reads and writes the disk layouts of nodes.
 *
 * @example Store a layout and read it back
 * ```ts
 * import { MIGRATIONS, NodeVolumesTable } from "./node_volumes_table.ts";
 * import type { ExtensionDatabase } from "@nailgun/extensions";
 * import { DatabaseSync, type SQLInputValue } from "node:sqlite";
 * import assert from "node:assert/strict";
 *
 * const db = new DatabaseSync(":memory:");
 * const values = (params: readonly unknown[] = []) => params as SQLInputValue[];
 * const database: ExtensionDatabase = {
 *   dialect: "sqlite",
 *   query: (sql, params) => Promise.resolve(db.prepare(sql).all(...values(params)) as never[]),
 *   execute: (sql, params) =>
 *     Promise.resolve({ changes: Number(db.prepare(sql).run(...values(params)).changes) }),
 *   transaction: async (fn) => {
 *     db.exec("BEGIN");
 *     try {
 *       const result = await fn(database);
 *       db.exec("COMMIT");
 *       return result;
 *     } catch (error) {
 *       db.exec("ROLLBACK");
 *       throw error;
 *     }
 *   },
 * };
 * for (const migration of MIGRATIONS) await migration.up(database);
 * const table = new NodeVolumesTable(database);
 * await table.put(3, [{ name: "sda", size: 1024, volumes: [{ name: "os", size: 1024 }] }]);
 * assert.equal((await table.get(3))?.[0]?.name, "sda");
 * assert.equal(await table.get(4), undefined);
 * db.close();
 * ```
 */
export class NodeVolumesTable {
  readonly #database: ExtensionDatabase;

  /**
   * Works on the table in that database.
   *
   * @param database The host's database, migrated.
   */
  constructor(database: ExtensionDatabase) {
    this.#database = database;
  }

  /**
   * The layout stored for a node.
   *
   * @param nodeId The node.
   * @returns Its disks, or `undefined` when none are stored.
   * @throws {Error} When the stored JSON is not a valid layout.
   */
  async get(nodeId: number): Promise<Disk[] | undefined> {
    const rows = await this.#database.query<{ disks: string }>(
      `SELECT disks FROM ${NODE_VOLUMES_TABLE} WHERE node_id = ?`,
      [nodeId],
    );
    if (rows.length === 0) return undefined;
    const parsed = parseDisks(JSON.parse(rows[0]!.disks));
    if (!parsed.ok) {
      throw new Error(
        `Cannot read the disks of node ${nodeId}: the stored "${parsed.field}" ${parsed.reason}`,
      );
    }
    return parsed.disks;
  }

  /**
   * Stores the layout of a node, replacing what was stored.
   *
   * @param nodeId The node.
   * @param disks Its disks.
   */
  async put(nodeId: number, disks: readonly Disk[]): Promise<void> {
    await this.#database.execute(
      `INSERT INTO ${NODE_VOLUMES_TABLE} (node_id, disks, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET disks = excluded.disks, updated_at = excluded.updated_at`,
      [nodeId, JSON.stringify(disks), new Date().toISOString()],
    );
  }

  /**
   * Forgets the layouts of nodes.
   *
   * @param nodeIds The nodes.
   * @returns How many layouts were deleted.
   */
  async delete(nodeIds: readonly number[]): Promise<number> {
    if (nodeIds.length === 0) return 0;
    const { changes } = await this.#database.execute(
      `DELETE FROM ${NODE_VOLUMES_TABLE} WHERE node_id IN (${nodeIds.map(() => "?").join(", ")})`,
      nodeIds,
    );
    return changes;
  }
}
