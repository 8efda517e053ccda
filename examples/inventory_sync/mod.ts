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
 * The extension is durable (`delivery: "durable"`): Nailgun writes each
 * change's notification to its outbox in the change's own transaction and
 * calls the handler after the response, in commit order, until it succeeds.
 * A handler sends one request and throws when it fails (a network error, a
 * time-out, any answer but 2xx): Nailgun retries it with backoff and parks it
 * after `delivery.maxAttempts`. Delivery is at least once, so every request
 * carries `idempotency-key: <EventMeta.id>`, the same on every retry, and
 * `x-nailgun-event` (the hook).
 *
 * @example Send a node change to a service
 * ```ts
 * import { InventorySync } from "./mod.ts";
 * import { BoundContext, type EventMeta, type Node } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 *
 * const received: string[] = [];
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
 *   received.push(`${request.method} ${new URL(request.url).pathname} ${request.headers.get("idempotency-key")}`);
 *   return Response.json({ ok: true });
 * });
 * const context = new BoundContext("jsr:@nailgun/inventory-sync", {
 *   settings: { inventory_sync: { url: `http://127.0.0.1:${server.addr.port}/api/` } },
 * });
 * const sync = new InventorySync(context);
 * context.bind(sync.name);
 * const node = { id: 3 } as Node;
 * const meta: EventMeta = { id: "e1", hook: "onNodeDelete", occurredAt: new Date().toISOString(), attempt: 1 };
 * await sync.onNodeDelete(node, meta);
 * await server.shutdown();
 * assert.deepEqual(received, ["DELETE /api/nodes/3/ e1"]);
 * ```
 *
 * @module
 */
import {
  BaseExtension,
  type Cluster,
  type ClusterCreationData,
  type EventMeta,
  type Node,
} from "@nailgun/extensions";
import { type InventorySyncSettings, resolveSettings } from "./settings.ts";

export { type InventorySyncSettings, resolveSettings, URL_VARIABLE } from "./settings.ts";

/** The HTTP methods the extension sends. */
export type SyncMethod = "POST" | "PUT" | "DELETE";

/**
 * Sends node and cluster changes to another HTTP service, one request per
 * event, delivered durably by the host. See the module documentation.
 */
export class InventorySync extends BaseExtension {
  /** The extension's name: its log prefix and its key in `settings`. */
  readonly name: string = "inventory_sync";
  /** The extension's version. */
  readonly version: string = "2.0.0";
  /** What the extension does. */
  readonly description: string =
    "Keeps another HTTP service up to date on node and cluster changes, durably: every committed change is sent, in order, at least once.";
  /** The range of `@nailgun/extensions` this extension was written for. */
  override readonly hostVersion: string = "^0.1.0";
  /** Notifications come from the host's outbox, after the response, until they succeed. */
  override readonly delivery = "durable" as const;

  #settings: InventorySyncSettings | undefined;

  /**
   * Checks the settings; Nailgun calls it once loaded.
   *
   * @throws {TypeError} When a setting is missing or wrong, naming it.
   */
  override setup(): void {
    this.context.logger.info(`sending node and cluster changes to ${this.#resolved().url}`);
  }

  /**
   * Sends `POST nodes/` with the new node.
   *
   * @param node The new node.
   * @param meta The event: its id is the idempotency key.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override onNodeCreate(node: Node, meta: EventMeta): Promise<void> {
    return this.#send(meta, "POST", "nodes/", node);
  }

  /**
   * Sends `PUT nodes/{id}/` with the node.
   *
   * @param node The node as it is now.
   * @param meta The event.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override onNodeUpdate(node: Node, meta: EventMeta): Promise<void> {
    return this.#send(meta, "PUT", `nodes/${node.id}/`, node);
  }

  /**
   * Sends `PUT nodes/{id}/` with the node, back in discovery.
   *
   * @param node The node as it is now.
   * @param meta The event.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override onNodeReset(node: Node, meta: EventMeta): Promise<void> {
    return this.#send(meta, "PUT", `nodes/${node.id}/`, node);
  }

  /**
   * Sends `PUT nodes/{id}/` with the node that left its cluster.
   *
   * @param node The node.
   * @param meta The event.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override onRemoveNodeFromCluster(node: Node, meta: EventMeta): Promise<void> {
    return this.#send(meta, "PUT", `nodes/${node.id}/`, node);
  }

  /**
   * Sends `DELETE nodes/{id}/`.
   *
   * @param node The node as it was.
   * @param meta The event.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override onNodeDelete(node: Node, meta: EventMeta): Promise<void> {
    return this.#send(meta, "DELETE", `nodes/${node.id}/`);
  }

  /**
   * Sends `DELETE nodes/?ids=…`, the way Nailgun's own API deletes many nodes.
   *
   * @param nodeIds The ids of the deleted nodes.
   * @param meta The event.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override async onNodeCollectionDelete(nodeIds: number[], meta: EventMeta): Promise<void> {
    if (nodeIds.length > 0) await this.#send(meta, "DELETE", `nodes/?ids=${nodeIds.join(",")}`);
  }

  /**
   * Sends `POST clusters/` with the new cluster.
   *
   * @param cluster The new cluster.
   * @param _data What it was created from (the cluster holds it all).
   * @param meta The event.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override onClusterCreate(
    cluster: Cluster,
    _data: ClusterCreationData,
    meta: EventMeta,
  ): Promise<void> {
    return this.#send(meta, "POST", "clusters/", cluster);
  }

  /**
   * Sends `PUT clusters/{id}/` with the cluster and its attributes.
   *
   * @param cluster The cluster as it is now.
   * @param _attributes The public attributes that were patched.
   * @param meta The event.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override onClusterPatchAttributes(
    cluster: Cluster,
    _attributes: Record<string, unknown>,
    meta: EventMeta,
  ): Promise<void> {
    return this.#send(meta, "PUT", `clusters/${cluster.id}/`, cluster);
  }

  /**
   * Sends `DELETE clusters/{id}/`.
   *
   * @param cluster The cluster as it was.
   * @param meta The event.
   * @returns Once the service accepted it.
   * @throws {Error} When the request failed: the host retries it.
   */
  override onClusterDelete(cluster: Cluster, meta: EventMeta): Promise<void> {
    return this.#send(meta, "DELETE", `clusters/${cluster.id}/`);
  }

  /** One request; anything but a 2xx answer throws, and the host retries the event. */
  async #send(meta: EventMeta, method: SyncMethod, path: string, payload?: unknown): Promise<void> {
    const { url, headers, requestTimeoutMs } = this.#resolved();
    const response = await fetch(new URL(path, url), {
      method,
      headers: {
        ...headers,
        ...(payload === undefined ? {} : { "content-type": "application/json" }),
        "x-nailgun-event": meta.hook,
        "idempotency-key": meta.id,
      },
      body: payload === undefined ? undefined : JSON.stringify(payload),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(
        `Cannot send ${method} ${path} to ${url}: it answered ${response.status}${
          text ? `: ${text.replace(/\s+/g, " ").slice(0, 200)}` : ""
        }`,
      );
    }
  }

  /** Reads the settings once; the host knows them only after the extension has been created. */
  #resolved(): InventorySyncSettings {
    return this.#settings ??= resolveSettings(this.context.settings);
  }
}

export default InventorySync;
