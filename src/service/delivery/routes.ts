// The operators' API of durable delivery: list an extension's pending or
// parked events, and re-queue parked ones.
import { HttpError, json } from "../http.ts";
import { bodyOf, type CoreCall, type CoreRoute } from "../routes/_route.ts";

function durableOf(call: CoreCall): string {
  const name = call.params.name ?? "";
  const { manager, delivery } = call.state;
  if (!manager.has(name)) {
    throw new HttpError(404, `Cannot find extension "${name}": it is not loaded`);
  }
  if (!delivery?.has(name)) {
    throw new HttpError(
      400,
      `Cannot list the events of extension "${name}": its delivery is inline: events are kept only for durable extensions`,
      { field: "name" },
    );
  }
  return name;
}

async function listEvents(call: CoreCall): Promise<Response> {
  const name = durableOf(call);
  const status = call.url.searchParams.get("status") ?? "pending";
  if (status !== "pending" && status !== "parked") {
    throw new HttpError(
      400,
      `Cannot list the events of extension "${name}": "status" must be "pending" or "parked": current value is ${
        JSON.stringify(status)
      }`,
      { field: "status" },
    );
  }
  const limitText = call.url.searchParams.get("limit") ?? "100";
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new HttpError(
      400,
      `Cannot list the events of extension "${name}": "limit" must be a whole number from 1 to 1000: current value is ${
        JSON.stringify(limitText)
      }`,
      { field: "limit" },
    );
  }
  return json(await call.state.delivery!.events(name, status, limit));
}

async function retryEvents(call: CoreCall): Promise<Response> {
  const name = durableOf(call);
  const body = bodyOf(call) ?? {};
  const ids = (body as { ids?: unknown } | null)?.ids;
  if (
    ids !== undefined &&
    (!Array.isArray(ids) || ids.some((id) => typeof id !== "string" || id.length === 0))
  ) {
    throw new HttpError(
      400,
      `Cannot re-queue the events of extension "${name}": "ids" must be a list of event ids: current value is ${
        JSON.stringify(ids)
      }`,
      { field: "ids" },
    );
  }
  const requeued = await call.state.delivery!.retry(name, ids as string[] | undefined);
  return json({ requeued });
}

/** `GET /extensions/{name}/events/?status=parked` and `POST /extensions/{name}/events/retry/`. */
export const DELIVERY_ROUTES: readonly CoreRoute[] = [
  { method: "GET", path: "/extensions/:name/events/", handle: listEvents },
  { method: "POST", path: "/extensions/:name/events/retry/", handle: retryEvents },
];
