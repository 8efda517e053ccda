// What every core route handler receives, and the lookups they share.
import type {
  Cluster,
  ExtensionManager,
  LoadReport,
  Logger,
  Node,
  NodeGroup,
  RouteSignature,
} from "@nailgun/extensions";
import { HttpError, parseJsonBody } from "../http.ts";
import type { Store, StoreWriter } from "../store/store.ts";
import type { DeliveryEngine } from "../delivery/delivery_loop.ts";

/** What the service holds while it serves. */
export interface ServiceState {
  /** The database. */
  readonly store: Store;
  /** The loaded extensions. */
  readonly manager: ExtensionManager;
  /** What loading did. */
  readonly report: LoadReport;
  /** Extensions enabled on a new cluster that names none (only loaded ones). */
  readonly clusterDefaults: readonly string[];
  /** The service log. */
  readonly logger: Logger;
  /** The largest request body accepted, in bytes. */
  readonly bodyLimit: number;
  /** How long a request body may take to arrive, in milliseconds. */
  readonly requestTimeoutMs: number;
  /** Aborted when the shutdown cuts what is still open. */
  readonly closing: AbortSignal;
  /** The delivery loops of durable extensions (`delivery/`), if started. */
  readonly delivery?: DeliveryEngine;
}

/** One request to a core route. */
export interface CoreCall {
  /** The request. */
  readonly request: Request;
  /** The `:name` parts of the path. */
  readonly params: Record<string, string>;
  /** The parsed URL. */
  readonly url: URL;
  /** The request body, read within the limits before the route runs. */
  readonly body?: Uint8Array<ArrayBuffer>;
  /** What the service holds. */
  readonly state: ServiceState;
}

/** A core route: its signature (for collision checks) and its handler. */
export interface CoreRoute extends RouteSignature {
  /** Answers the request. */
  handle(call: CoreCall): Promise<Response>;
}

/** The parsed JSON body of a call (`undefined` when it has none). */
export function bodyOf(call: CoreCall): unknown {
  return parseJsonBody(call.body);
}

/** The numeric id in the path; a path whose id is not a positive integer names nothing (404). */
export function idParam(call: CoreCall, what: string, name = "id"): number {
  const raw = call.params[name] ?? "";
  if (!/^[1-9][0-9]{0,14}$/.test(raw)) {
    throw new HttpError(404, `Cannot find ${what} "${raw}": an id is a positive whole number`);
  }
  return Number(raw);
}

/** Where a route reads: the store (plain reads) or a `write()` transaction (locking reads). */
export type Reader = Pick<StoreWriter, "getCluster" | "getNode" | "getNodeGroup">;

/** The cluster of the path, or a 404; read from `reader` (default the store). */
export async function clusterOf(
  call: CoreCall,
  name = "id",
  reader: Reader = call.state.store,
): Promise<Cluster> {
  const id = idParam(call, "cluster", name);
  const cluster = await reader.getCluster(id);
  if (!cluster) throw notFound("cluster", id);
  return cluster;
}

/** The node of the path, or a 404; read from `reader` (default the store). */
export async function nodeOf(call: CoreCall, reader: Reader = call.state.store): Promise<Node> {
  const id = idParam(call, "node");
  const node = await reader.getNode(id);
  if (!node) throw notFound("node", id);
  return node;
}

/** The node group of the path, or a 404; read from `reader` (default the store). */
export async function nodeGroupOf(
  call: CoreCall,
  reader: Reader = call.state.store,
): Promise<NodeGroup> {
  const id = idParam(call, "node group");
  const group = await reader.getNodeGroup(id);
  if (!group) throw notFound("node group", id);
  return group;
}

/** The 404 of an unknown id. */
export function notFound(what: string, id: number): HttpError {
  return new HttpError(404, `Cannot find ${what} ${id}: it does not exist`);
}

/** A 400 answer naming a field. */
export function badField(action: string, field: string, reason: string, value: unknown): HttpError {
  return new HttpError(
    400,
    `Cannot ${action}: "${field}" ${reason}: current value is ${JSON.stringify(value)}`,
    { field },
  );
}
