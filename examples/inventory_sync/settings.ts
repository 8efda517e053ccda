/**
 * The settings of the `inventory_sync` extension: `settings.inventory_sync`
 * in `extensions.json`, or the base URL alone in the environment.
 *
 * @module
 */
import { z } from "zod";

/** The environment variable read when `settings.url` is absent. */
export const URL_VARIABLE = "NAILGUN_INVENTORY_SYNC_URL";

/** The settings with every default filled in. */
export interface InventorySyncSettings {
  /** Base URL of the other service, ending with `/`; paths such as `nodes/3/` are relative to it. */
  url: string;
  /** Time limit of one request, in milliseconds; default 5000. */
  requestTimeoutMs: number;
  /** Headers added to every request, e.g. `{"authorization": "Bearer …"}`; default none. */
  headers: Record<string, string>;
}

const milliseconds = (fallback: number) =>
  z.number({ error: "must be a number of milliseconds" }).int({
    error: "must be a whole number of milliseconds",
  }).min(0, { error: "must not be negative" }).max(3_600_000, { error: "must be one hour at most" })
    .default(fallback);

const httpUrl = z.string({ error: "must be an http or https URL" }).refine((value) => {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, { error: "must be an http or https URL" });

const settingsSchema = z.strictObject({
  url: httpUrl,
  requestTimeoutMs: milliseconds(5000),
  headers: z.record(z.string(), z.string({ error: "must be a string" }), {
    error: "must be an object of header names and values",
  }).default({}),
});

/**
 * Reads and checks the extension's settings. The base URL comes from
 * `settings.url`, or else from the environment variable
 * {@linkcode URL_VARIABLE}; it gets a trailing `/`.
 *
 * @param settings The extension's settings (`settings.inventory_sync`).
 * @param env Reads an environment variable; default `Deno.env.get`, and no
 * value when the permission is missing.
 * @returns The settings with defaults filled in.
 * @throws {TypeError} Naming the setting at fault, what it must be and its
 * current value.
 *
 * @example Fill in the defaults
 * ```ts
 * import { resolveSettings } from "./settings.ts";
 * import assert from "node:assert/strict";
 * const settings = resolveSettings({ url: "http://inventory.local:9000/api" }, () => undefined);
 * assert.equal(settings.url, "http://inventory.local:9000/api/");
 * assert.equal(settings.requestTimeoutMs, 5000);
 * assert.throws(
 *   () => resolveSettings({ url: "ftp://inventory.local" }, () => undefined),
 *   {
 *     name: "TypeError",
 *     message:
 *       'Cannot configure "inventory_sync": "settings.url" must be an http or https URL: current value is "ftp://inventory.local"',
 *   },
 * );
 * ```
 */
export function resolveSettings(
  settings: Readonly<Record<string, unknown>>,
  env: (name: string) => string | undefined = readEnv,
): InventorySyncSettings {
  const given = { ...settings };
  if (given.url === undefined) {
    const fromEnv = env(URL_VARIABLE);
    if (fromEnv === undefined || fromEnv === "") {
      throw new TypeError(
        `Cannot configure "inventory_sync": "settings.url" is missing and ${URL_VARIABLE} is not set: give the base URL of the other service in extensions.json (settings.inventory_sync.url) or in ${URL_VARIABLE}: current value is undefined`,
      );
    }
    given.url = fromEnv;
  }
  const result = settingsSchema.safeParse(given);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0]!;
      throw new TypeError(
        `Cannot configure "inventory_sync": "settings.${key}" is not a setting: settings are ${
          Object.keys(settingsSchema.shape).join(", ")
        }: current value is ${render(given[key])}`,
      );
    }
    const field = issue.path.map(String).join(".");
    throw new TypeError(
      `Cannot configure "inventory_sync": "settings.${field}" ${issue.message}: current value is ${
        render(valueAt(given, issue.path))
      }`,
    );
  }
  const parsed = result.data;
  return { ...parsed, url: parsed.url.endsWith("/") ? parsed.url : `${parsed.url}/` };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env for it: as if unset
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function render(value: unknown): string {
  if (value === undefined) return "undefined";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
