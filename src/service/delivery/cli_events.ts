/**
 * `deno task extensions events NAME [--parked] [--json] [--url URL]` and
 * `deno task extensions retry NAME [ID…] [--url URL]`: the parked events of
 * a durable extension, through the API of a running service.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** The lines of the CLI's usage that describe these commands. */
export const DELIVERY_USAGE =
  `  events NAME  list the pending (or, with --parked, parked) events of a durable extension
  retry NAME [ID...]  re-queue the parked events of a durable extension (all, or these ids)
               both ask a running service: --url URL (default http://127.0.0.1:$PORT, PORT 8000)`;

/** What a run printed and its exit code. */
export interface DeliveryCliResult {
  /** 0 on success, 1 when the service refused, 2 for a wrong command line. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs `events` or `retry`.
 *
 * @param args The arguments after the script name, the command first.
 * @param env Reads an environment variable (`PORT`).
 * @returns The exit code and the output.
 */
export async function runDeliveryCommand(
  args: readonly string[],
  env: (name: string) => string | undefined,
): Promise<DeliveryCliResult> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        parked: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        url: { type: "string" },
      },
    });
  } catch (error) {
    return { code: 2, stdout: "", stderr: error instanceof Error ? error.message : String(error) };
  }
  const [command, name, ...ids] = parsed.positionals;
  if (!name) {
    return {
      code: 2,
      stdout: "",
      stderr: `Cannot run "${command}": it needs the name of a durable extension`,
    };
  }
  const base = (parsed.values.url ?? `http://127.0.0.1:${env("PORT") || "8000"}`).replace(
    /\/+$/,
    "",
  );
  const path = `${base}/api/v1/extensions/${encodeURIComponent(name)}/events/`;
  try {
    const response = command === "retry"
      ? await fetch(`${path}retry/`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(ids.length > 0 ? { ids } : {}),
      })
      : await fetch(`${path}?status=${parsed.values.parked ? "parked" : "pending"}`);
    const body = await response.json();
    if (!response.ok) return { code: 1, stdout: "", stderr: String(body.message ?? body) };
    if (parsed.values.json) return { code: 0, stdout: JSON.stringify(body, null, 2), stderr: "" };
    if (command === "retry") {
      return {
        code: 0,
        stdout: `${body.requeued.length} event(s) re-queued${
          body.requeued.length ? `: ${body.requeued.join(", ")}` : ""
        }`,
        stderr: "",
      };
    }
    const lines = (body as {
      id: string;
      hook: string;
      occurredAt: string;
      attempts: number;
      lastError: string | null;
    }[])
      .map((event) =>
        `${event.id}  ${event.hook}  ${event.occurredAt}  attempts ${event.attempts}${
          event.lastError ? `  ${event.lastError}` : ""
        }`
      );
    return { code: 0, stdout: lines.length ? lines.join("\n") : "no events", stderr: "" };
  } catch (error) {
    return {
      code: 1,
      stdout: "",
      stderr: `Cannot reach the service at ${base}: ${
        error instanceof Error ? error.message : String(error)
      }: start it, or give --url`,
    };
  }
}
