/**
 * `@nailgun/volume-manager`: a Nailgun extension in the manner of Nailgun's
 * own volume manager. It shows every feature an extension may have:
 *
 * - a **migration** that creates its table, `volume_manager_node_volumes`
 *   (one disk layout per node, as JSON), on SQLite or PostgreSQL;
 * - **routes** `GET` and `PUT /api/v1/nodes/{node_id}/disks/` that read and
 *   change a node's layout, with every body checked (400 names the field);
 * - **events**: a new node gets a default layout from the disks it reports
 *   (`meta.disks`, sizes in bytes), a reset node gets it back, a deleted
 *   node's layout is removed;
 * - a **provided call**, `getNodeVolumes(nodeId)`;
 * - **pipelines**: provisioning data gets `ks_spaces` per node, deployment
 *   data a `volumes` summary;
 * - a **veto**: `onBeforeDeploymentCheck` refuses to deploy a controller
 *   whose disks hold less than `settings.minControllerDiskGb` (default 50).
 *
 * Sizes in the API are in MB, as in Nailgun's disks API.
 *
 * @example Refuse to deploy a controller with a small disk
 * ```ts
 * import { VolumeManager } from "./mod.ts";
 * import { ExtensionManager, ExtensionVetoError, type Node } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 *
 * const manager = new ExtensionManager([{ extension: new VolumeManager(), source: "./mod.ts" }]);
 * const controller: Node = {
 *   id: 3, uuid: "u3", mac: "52:54:00:00:00:03", name: "node-3", hostname: "node-3",
 *   status: "discover", cluster_id: 1, group_id: null, roles: ["controller"], pending_roles: [],
 *   pending_addition: true, pending_deletion: false, online: true,
 *   meta: { disks: [{ name: "sda", size: 40 * 1024 ** 3 }] },
 * };
 * const cluster = {
 *   id: 1, name: "prod", mode: "ha_compact", status: "new" as const, release: "liberty-8.0",
 *   extensions: ["volume_manager"], attributes: {},
 * };
 * await assert.rejects(
 *   manager.check("onBeforeDeploymentCheck", cluster, [controller]),
 *   (error) =>
 *     error instanceof ExtensionVetoError &&
 *     error.message ===
 *       'Extension "volume_manager" vetoed onBeforeDeploymentCheck: Cannot deploy cluster 1 "prod": ' +
 *         'controller node 3 "node-3" needs at least 50 GB of disk ' +
 *         "(settings.volume_manager.minControllerDiskGb): current value is 40 GB",
 * );
 * ```
 *
 * @module
 */
import {
  BaseExtension,
  type Cluster,
  type DataPipeline,
  type ExtensionContext,
  type ExtensionDatabase,
  type ExtensionMigration,
  type ExtensionRoute,
  type Node,
  type NodeData,
  type RouteContext,
} from "@nailgun/extensions";
import { z } from "zod";
import {
  compareWithHardware,
  defaultDisks,
  type Disk,
  type DisksProblem,
  ksSpaces,
  MB_PER_GB,
  parseDisks,
  totalSizeMb,
  volumeSummary,
} from "./disks.ts";
import { MIGRATIONS, NodeVolumesTable } from "./node_volumes_table.ts";

export {
  compareWithHardware,
  defaultDisks,
  type Disk,
  type DisksParse,
  type DisksProblem,
  type KsSpace,
  ksSpaces,
  MB_PER_GB,
  parseDisks,
  totalSizeMb,
  type Volume,
  type VolumeSummary,
  volumeSummary,
} from "./disks.ts";
export { MIGRATIONS, NODE_VOLUMES_TABLE, NodeVolumesTable } from "./node_volumes_table.ts";

/** The settings of the volume manager (`settings.volume_manager` in `extensions.json`). */
export interface VolumeManagerSettings {
  /** Smallest total disk size of a controller, in GB; default 50. */
  minControllerDiskGb: number;
}

const settingsSchema = z.strictObject({
  minControllerDiskGb: z.number({ error: "must be a number of GB" }).min(0, {
    error: "must not be negative",
  }).default(50),
});

/**
 * Keeps the disk layout of every node and checks controllers' disks before a
 * deployment. See the module documentation.
 */
export class VolumeManager extends BaseExtension {
  /** The extension's name: the prefix of its table. */
  readonly name: string = "volume_manager";
  /** The extension's version. */
  readonly version: string = "1.0.0";
  /** What the extension does. */
  readonly description: string =
    "Keeps the disk layout of each node, serves it over REST, adds it to provisioning and deployment data, and refuses to deploy controllers with too little disk.";
  /** The range of `@nailgun/extensions` this extension was written for. */
  override readonly hostVersion: string = "^0.1.0";
  /** Calls other extensions and the host may make through the manager. */
  override readonly provides: readonly string[] = ["getNodeVolumes"];
  /** Creates `volume_manager_node_volumes`. */
  override readonly migrations: readonly ExtensionMigration[] = MIGRATIONS;

  /** `GET` and `PUT /nodes/{node_id}/disks/`, below `/api/v1`. */
  override readonly routes: readonly ExtensionRoute[] = [
    {
      method: "GET",
      path: "/nodes/:node_id/disks/",
      handler: (_request: Request, context: RouteContext) => this.#getDisks(context),
    },
    {
      method: "PUT",
      path: "/nodes/:node_id/disks/",
      handler: (request: Request, context: RouteContext) => this.#putDisks(request, context),
    },
  ];

  /** Adds `ks_spaces` to each node's provisioning data and `volumes` to its deployment data. */
  override readonly pipelines: readonly DataPipeline[] = [{
    processProvisioningForNode: async (node: Node, data: NodeData): Promise<NodeData> => ({
      ...data,
      ks_spaces: ksSpaces(await this.#disksOf(node)),
    }),
    processDeploymentForNode: async (node: Node, data: NodeData): Promise<NodeData> => ({
      ...data,
      volumes: volumeSummary(await this.#disksOf(node)),
    }),
  }];

  #settings: VolumeManagerSettings | undefined;

  /**
   * Checks the settings; Nailgun calls it once the extension is loaded.
   *
   * @param context The host context, with the extension's settings.
   * @throws {TypeError} When a setting is wrong, naming it.
   */
  override setup(context: ExtensionContext): void {
    this.#settings = readSettings(context.settings);
  }

  /**
   * The provided call `getNodeVolumes`: the layout stored for a node.
   *
   * @param nodeId The node.
   * @returns Its disks with their volumes, or `null` when none are stored.
   */
  async getNodeVolumes(nodeId: number): Promise<Disk[] | null> {
    return (await this.#table().get(nodeId)) ?? null;
  }

  /**
   * Stores the default layout of a new node, from the disks it reports.
   *
   * @param node The new node.
   */
  override async onNodeCreate(node: Node): Promise<void> {
    await this.#table().put(node.id, this.#defaults(node));
  }

  /**
   * Stores the default layout of a node the volume manager does not know
   * yet (one created before it was installed); keeps a known one.
   *
   * @param node The node as it is now.
   */
  override async onNodeUpdate(node: Node): Promise<void> {
    const table = this.#table();
    if (await table.get(node.id) === undefined) await table.put(node.id, this.#defaults(node));
  }

  /**
   * Gives a node that went back to discovery its default layout again.
   *
   * @param node The node as it is now.
   */
  override async onNodeReset(node: Node): Promise<void> {
    await this.#table().put(node.id, this.#defaults(node));
  }

  /**
   * Removes the layout of a deleted node.
   *
   * @param node The node as it was.
   */
  override async onNodeDelete(node: Node): Promise<void> {
    await this.#table().delete([node.id]);
  }

  /**
   * Removes the layouts of nodes deleted at once.
   *
   * @param nodeIds The ids of the deleted nodes.
   */
  override async onNodeCollectionDelete(nodeIds: number[]): Promise<void> {
    await this.#table().delete(nodeIds);
  }

  /**
   * Refuses to deploy a cluster in which a controller (by role or pending
   * role) has less disk than `minControllerDiskGb`.
   *
   * @param cluster The cluster to deploy.
   * @param nodes Its nodes.
   * @throws {Error} Naming each controller that is too small, its size and the minimum.
   */
  override async onBeforeDeploymentCheck(cluster: Cluster, nodes: Node[]): Promise<void> {
    const { minControllerDiskGb } = this.#currentSettings();
    const tooSmall: string[] = [];
    for (const node of nodes) {
      if (![...node.roles, ...node.pending_roles].includes("controller")) continue;
      const sizeGb = totalSizeMb(await this.#disksOf(node)) / MB_PER_GB;
      if (sizeGb < minControllerDiskGb) {
        tooSmall.push(
          `controller node ${node.id} "${node.name}" needs at least ${
            formatGb(minControllerDiskGb)
          } of disk (settings.volume_manager.minControllerDiskGb): current value is ${
            formatGb(sizeGb)
          }`,
        );
      }
    }
    if (tooSmall.length > 0) {
      throw new Error(
        `Cannot deploy cluster ${cluster.id} "${cluster.name}": ${tooSmall.join("; ")}`,
      );
    }
  }

  async #getDisks(context: RouteContext): Promise<Response> {
    const action = `Cannot read the disks of node ${context.params.node_id}`;
    const nodeId = parseNodeId(context.params.node_id);
    if (nodeId === undefined) return badNodeId(action, context.params.node_id);
    const database = this.context.database;
    if (!database) return noDatabase(action);
    const disks = await new NodeVolumesTable(database).get(nodeId);
    if (!disks) {
      return Response.json({
        message:
          `${action}: the volume manager holds none for it: nodes get a layout when they are created or updated`,
      }, { status: 404 });
    }
    return Response.json(disks);
  }

  async #putDisks(request: Request, context: RouteContext): Promise<Response> {
    const action = `Cannot update the disks of node ${context.params.node_id}`;
    const nodeId = parseNodeId(context.params.node_id);
    if (nodeId === undefined) return badNodeId(action, context.params.node_id);
    const database = this.context.database;
    if (!database) return noDatabase(action);
    let body: unknown;
    try {
      body = JSON.parse(await request.text());
    } catch (error) {
      return badRequest(action, {
        field: "body",
        reason: `must be JSON (${error instanceof Error ? error.message : String(error)})`,
        value: undefined,
      });
    }
    const parsed = parseDisks(body);
    if (!parsed.ok) return badRequest(action, parsed);
    const table = new NodeVolumesTable(database);
    const known = await table.get(nodeId);
    const mismatch = known && compareWithHardware(parsed.disks, known);
    if (mismatch) return badRequest(action, mismatch);
    await table.put(nodeId, parsed.disks);
    return Response.json(parsed.disks);
  }

  /** The stored layout, or else (or without a database) the default one from what the node reports. */
  async #disksOf(node: Node): Promise<Disk[]> {
    const database = this.context.database;
    const stored = database && await new NodeVolumesTable(database).get(node.id);
    return stored ?? defaultDisks(node.meta).disks;
  }

  #defaults(node: Node): Disk[] {
    const { disks, problem } = defaultDisks(node.meta);
    if (problem) {
      this.context.logger.warn(`node ${node.id} reports no usable disks: ${problem}`);
    }
    return disks;
  }

  #table(): NodeVolumesTable {
    return new NodeVolumesTable(requireDatabase(this.context.database));
  }

  #currentSettings(): VolumeManagerSettings {
    return this.#settings ??= readSettings(this.context.settings);
  }
}

function readSettings(settings: Readonly<Record<string, unknown>>): VolumeManagerSettings {
  const result = settingsSchema.safeParse({ ...settings });
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.code === "unrecognized_keys"
    ? issue.keys[0]!
    : issue.path.map(String).join(".");
  const reason = issue.code === "unrecognized_keys"
    ? "is not a setting: the setting is minControllerDiskGb"
    : issue.message;
  throw new TypeError(
    `Cannot configure "volume_manager": "settings.${key}" ${reason}: current value is ${
      JSON.stringify(settings[key]) ?? "undefined"
    }`,
  );
}

function requireDatabase(database: ExtensionDatabase | undefined): ExtensionDatabase {
  if (!database) {
    throw new Error(
      'Cannot use the table of "volume_manager": the host gives extensions no database: run it in a host with a database, such as the reference Nailgun service',
    );
  }
  return database;
}

function parseNodeId(text: string | undefined): number | undefined {
  return text !== undefined && /^[1-9][0-9]{0,14}$/.test(text) ? Number(text) : undefined;
}

function badNodeId(action: string, value: string | undefined): Response {
  return badRequest(action, { field: "node_id", reason: "must be a positive whole number", value });
}

function badRequest(action: string, problem: DisksProblem): Response {
  const current = problem.value === undefined ? "" : `: current value is ${render(problem.value)}`;
  return Response.json({
    message: `${action}: "${problem.field}" ${problem.reason}${current}`,
    field: problem.field,
  }, { status: 400 });
}

function noDatabase(action: string): Response {
  return Response.json({
    message: `${action}: the host gives extensions no database`,
  }, { status: 503 });
}

function render(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function formatGb(gb: number): string {
  return `${Math.round(gb * 10) / 10} GB`;
}

export default VolumeManager;
