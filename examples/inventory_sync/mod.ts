/**
 * `@nailgun/inventory-sync`: a Nailgun extension that keeps another HTTP
 * service (an inventory, a CMDB, a provisioning service such as Bareon) up
 * to date on node and cluster changes: the motivating case of Nailgun's
 * extension system.
 *
 * Each change becomes a JSON request to the service's base URL
 * (`settings.url`, or `NAILGUN_INVENTORY_SYNC_URL`):
 *
 * | event | request |
 * |---|---|
 * | `onNodeCreate` | `POST nodes/` with the node |
 * | `onNodeUpdate`, `onNodeReset`, `onRemoveNodeFromCluster` | `PUT nodes/{id}/` with the node |
 * | `onNodeDelete` | `DELETE nodes/{id}/` |
 * | `onNodeCollectionDelete` | `DELETE nodes/?ids=1,2,3` |
 * | `onClusterCreate` | `POST clusters/` with the cluster |
 * | `onClusterPatchAttributes` | `PUT clusters/{id}/` with the cluster |
 * | `onClusterDelete` | `DELETE clusters/{id}/` |
 *
 * Every request carries `x-nailgun-event` (the hook) and `idempotency-key`
 * (the same on every retry of one request). Handlers only add the request
 * to a bounded queue and return: the Nailgun API never waits for the other
 * service, even when it is down. A background sender delivers the requests
 * in order with bounded retries and exponential backoff; `teardown()`
 * flushes the queue until a deadline. The provided call `syncStatus` tells
 * how many requests are queued, sent, failed and dropped.
 *
 * @example Send node changes to a service
 * ```ts
 * import { InventorySync } from "./mod.ts";
 * import { BoundContext, ExtensionManager, type Node } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 *
 * const received: string[] = [];
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
 *   received.push(`${request.method} ${new URL(request.url).pathname}`);
 *   return Response.json({ ok: true });
 * });
 * const context = new BoundContext("jsr:@nailgun/inventory-sync", {
 *   settings: { inventory_sync: { url: `http://127.0.0.1:${server.addr.port}/api/` } },
 * });
 * const sync = new InventorySync(context);
 * context.bind(sync.name);
 * const manager = new ExtensionManager([{ extension: sync, source: "jsr:@nailgun/inventory-sync" }]);
 * const node: Node = {
 *   id: 3, uuid: "u3", mac: "52:54:00:00:00:03", name: "node-3", hostname: "node-3",
 *   status: "discover", cluster_id: null, group_id: null, roles: [], pending_roles: [],
 *   pending_addition: false, pending_deletion: false, online: true, meta: {},
 * };
 * await manager.notify("onNodeCreate", node);
 * await manager.notify("onNodeDelete", node);
 * await manager.teardown();
 * await server.shutdown();
 * assert.deepEqual(received, ["POST /api/nodes/", "DELETE /api/nodes/3/"]);
 * ```
 *
 * @module
 */
import {
  BaseExtension,
  type Cluster,
  type ClusterCreationData,
  type ExtensionContext,
  type Node,
} from "@nailgun/extensions";
import { type DeliveryMethod, DeliveryQueue, type SyncStatus } from "./delivery_queue.ts";
import { type InventorySyncSettings, resolveSettings } from "./settings.ts";

export {
  type Delivery,
  type DeliveryMethod,
  DeliveryQueue,
  type DeliveryQueueOptions,
  type SyncStatus,
} from "./delivery_queue.ts";
export { type InventorySyncSettings, resolveSettings, URL_VARIABLE } from "./settings.ts";

/**
 * Sends node and cluster changes to another HTTP service, in order, in the
 * background, with retries. See the module documentation for the requests
 * and `settings.ts` for the settings.
 */
export class InventorySync extends BaseExtension {
  /** The extension's name: its log prefix and its key in `settings`. */
  readonly name: string = "inventory_sync";
  /** The extension's version. */
  readonly version: string = "1.0.0";
  /** What the extension does. */
  readonly description: string =
    "Keeps another HTTP service up to date on node and cluster changes, in order and with retries, without ever blocking the API.";
  /** The range of `@nailgun/extensions` this extension was written for. */
  override readonly hostVersion: string = "^0.1.0";
  /** Calls other extensions and the host may make through the manager. */
  override readonly provides: readonly string[] = ["syncStatus"];

  #settings: InventorySyncSettings | undefined;
  #queue: DeliveryQueue | undefined;

  /**
   * Checks the settings and opens the queue; Nailgun calls it once loaded.
   *
   * @param context The host context, with the extension's settings.
   * @throws {TypeError} When a setting is missing or wrong, naming it.
   */
  override setup(context: ExtensionContext): void {
    const queue = this.#open(context.settings);
    this.context.logger.info(`sending node and cluster changes to ${queue.status.url}`);
  }

  /**
   * Lets the queue drain until `flushDeadlineMs`, then stops the sender;
   * what is left is dropped and logged.
   */
  override async teardown(): Promise<void> {
    const queue = this.#queue;
    if (!queue) return;
    const status = await queue.close(this.#settings!.flushDeadlineMs);
    this.context.logger.info(
      `stopped: ${status.sent} request(s) sent, ${status.failed} failed, ${status.dropped} dropped`,
    );
  }

  /**
   * The provided call `syncStatus`: what the sender has done so far.
   *
   * @returns Queued, sent, failed and dropped counts, and the last error.
   * @throws {TypeError} When the settings are wrong.
   */
  syncStatus(): SyncStatus {
    return this.#open().status;
  }

  /**
   * Sends `POST nodes/` with the new node.
   *
   * @param node The new node.
   */
  override onNodeCreate(node: Node): void {
    this.#send("onNodeCreate", "POST", "nodes/", node);
  }

  /**
   * Sends `PUT nodes/{id}/` with the node.
   *
   * @param node The node as it is now.
   */
  override onNodeUpdate(node: Node): void {
    this.#send("onNodeUpdate", "PUT", `nodes/${node.id}/`, node);
  }

  /**
   * Sends `PUT nodes/{id}/` with the node, back in discovery.
   *
   * @param node The node as it is now.
   */
  override onNodeReset(node: Node): void {
    this.#send("onNodeReset", "PUT", `nodes/${node.id}/`, node);
  }

  /**
   * Sends `PUT nodes/{id}/` with the node that left its cluster.
   *
   * @param node The node.
   */
  override onRemoveNodeFromCluster(node: Node): void {
    this.#send("onRemoveNodeFromCluster", "PUT", `nodes/${node.id}/`, node);
  }

  /**
   * Sends `DELETE nodes/{id}/`.
   *
   * @param node The node as it was.
   */
  override onNodeDelete(node: Node): void {
    this.#send("onNodeDelete", "DELETE", `nodes/${node.id}/`);
  }

  /**
   * Sends `DELETE nodes/?ids=…`, the way Nailgun's own API deletes many nodes.
   *
   * @param nodeIds The ids of the deleted nodes.
   */
  override onNodeCollectionDelete(nodeIds: number[]): void {
    if (nodeIds.length === 0) return;
    this.#send("onNodeCollectionDelete", "DELETE", `nodes/?ids=${nodeIds.join(",")}`);
  }

  /**
   * Sends `POST clusters/` with the new cluster.
   *
   * @param cluster The new cluster.
   * @param _data What it was created from (the cluster holds it all).
   */
  override onClusterCreate(cluster: Cluster, _data: ClusterCreationData): void {
    this.#send("onClusterCreate", "POST", "clusters/", cluster);
  }

  /**
   * Sends `PUT clusters/{id}/` with the cluster and its attributes.
   *
   * @param cluster The cluster as it is now.
   * @param _attributes The public attributes that were patched.
   */
  override onClusterPatchAttributes(cluster: Cluster, _attributes: Record<string, unknown>): void {
    this.#send("onClusterPatchAttributes", "PUT", `clusters/${cluster.id}/`, cluster);
  }

  /**
   * Sends `DELETE clusters/{id}/`.
   *
   * @param cluster The cluster as it was.
   */
  override onClusterDelete(cluster: Cluster): void {
    this.#send("onClusterDelete", "DELETE", `clusters/${cluster.id}/`);
  }

  /** Serializes now (the payload is frozen and shared) and queues; never waits. */
  #send(event: string, method: DeliveryMethod, path: string, payload?: unknown): void {
    const body = payload === undefined ? undefined : JSON.stringify(payload);
    this.#open().enqueue({ event, method, path, body });
  }

  /** Reads the settings once; the host knows them only after the extension has been created. */
  #open(settings: Readonly<Record<string, unknown>> = this.context.settings): DeliveryQueue {
    if (this.#queue) return this.#queue;
    this.#settings = resolveSettings(settings);
    this.#queue = new DeliveryQueue({ ...this.#settings, logger: this.context.logger });
    return this.#queue;
  }
}

export default InventorySync;
