/**
 * Permissions of sandboxed extensions: what the operator grants in
 * `extensions.json` (`{ "specifier": …, "sandbox": { net, env, read, write } }`),
 * what an extension declares it needs (its `permissions`), and the Worker
 * permission set that enforces the grant.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ExtensionPermissions } from "../extension.ts";

/** The four kinds of permission an operator can grant, in the order messages list them. */
export const PERMISSION_KINDS = ["net", "env", "read", "write"] as const;

/** One kind of permission: `net`, `env`, `read` or `write`. */
export type PermissionKind = typeof PERMISSION_KINDS[number];

/** Options of the functions that compare or apply grants. */
export interface PermissionPathOptions {
  /** The directory relative `read` and `write` paths are resolved against; default the working directory. */
  baseDir?: string;
}

/**
 * The permission set of a sandbox Worker: exactly the grant, and nothing
 * else (`run`, `ffi`, `sys` and `import` are denied). Relative paths are
 * made absolute, since Deno would read them relative to the Worker's module.
 *
 * @param grant What the operator granted.
 * @param options Where relative paths start.
 * @returns The value of `new Worker(…, { deno: { permissions } })`.
 *
 * @example Grant one file and one host
 * ```ts
 * import { toWorkerPermissions } from "./permissions.ts";
 * import assert from "node:assert/strict";
 * const permissions = toWorkerPermissions(
 *   { read: ["data/volumes.json"], net: ["127.0.0.1:8080"] },
 *   { baseDir: "/srv/nailgun" },
 * );
 * assert.deepEqual(permissions, {
 *   net: ["127.0.0.1:8080"], env: false, read: ["/srv/nailgun/data/volumes.json"], write: false,
 *   run: false, ffi: false, sys: false, import: false,
 * });
 * ```
 */
export function toWorkerPermissions(
  grant: ExtensionPermissions,
  options: PermissionPathOptions = {},
): Deno.PermissionOptionsObject {
  const list = (values: readonly string[] | undefined): string[] | false =>
    values && values.length > 0 ? [...values] : false;
  const paths = (values: readonly string[] | undefined): string[] | false =>
    values && values.length > 0 ? values.map((path) => absolutePath(path, options)) : false;
  return {
    net: list(grant.net),
    env: list(grant.env),
    read: paths(grant.read),
    write: paths(grant.write),
    run: false,
    ffi: false,
    sys: false,
    import: false,
  };
}

/**
 * What an extension declares it needs and the grant does not cover. A
 * granted host covers every port of it; a granted `PREFIX_*` covers every
 * variable that starts with `PREFIX_`; a granted directory covers everything
 * below it (as Deno grants them).
 *
 * @param declared The extension's `permissions`.
 * @param grant What the operator granted.
 * @param options Where relative paths start.
 * @returns The missing entries, as the extension wrote them; `{}` when nothing is missing.
 *
 * @example A host granted without a port covers every port
 * ```ts
 * import { missingPermissions } from "./permissions.ts";
 * import assert from "node:assert/strict";
 * const missing = missingPermissions(
 *   { net: ["api.example.com:443"], env: ["TOKEN", "HOME"] },
 *   { net: ["api.example.com"], env: ["TOKEN"] },
 * );
 * assert.deepEqual(missing, { env: ["HOME"] });
 * ```
 */
export function missingPermissions(
  declared: ExtensionPermissions | undefined,
  grant: ExtensionPermissions,
  options: PermissionPathOptions = {},
): ExtensionPermissions {
  const missing: ExtensionPermissions = {};
  for (const kind of PERMISSION_KINDS) {
    const granted = grant[kind] ?? [];
    const lacking = unique(declared?.[kind] ?? []).filter((wanted) =>
      !granted.some((entry) => covers(kind, entry, wanted, options))
    );
    if (lacking.length > 0) missing[kind] = lacking;
  }
  return missing;
}

/**
 * Whether a permission set holds no entry at all.
 *
 * @param permissions Any permission set.
 * @returns `true` when every list is absent or empty.
 */
export function isEmptyPermissions(permissions: ExtensionPermissions): boolean {
  return PERMISSION_KINDS.every((kind) => (permissions[kind]?.length ?? 0) === 0);
}

/**
 * A grant widened by the missing entries: what to write in `extensions.json`.
 *
 * @param grant The current grant.
 * @param missing What it lacks.
 * @returns The grant with the missing entries appended, kinds in the usual order.
 */
export function widenGrant(
  grant: ExtensionPermissions,
  missing: ExtensionPermissions,
): ExtensionPermissions {
  const widened: ExtensionPermissions = {};
  for (const kind of PERMISSION_KINDS) {
    const entries = unique([...(grant[kind] ?? []), ...(missing[kind] ?? [])]);
    if (entries.length > 0) widened[kind] = entries;
  }
  return widened;
}

/**
 * Renders permissions for a message, e.g. `net "api.example.com:443", env "TOKEN"`.
 *
 * @param permissions Any permission set.
 * @returns One line; `nothing` when the set is empty.
 */
export function formatPermissions(permissions: ExtensionPermissions): string {
  const parts = PERMISSION_KINDS.flatMap((kind) =>
    (permissions[kind]?.length ?? 0) > 0
      ? [`${kind} ${permissions[kind]!.map((entry) => JSON.stringify(entry)).join(", ")}`]
      : []
  );
  return parts.length > 0 ? parts.join("; ") : "nothing";
}

function covers(
  kind: PermissionKind,
  granted: string,
  wanted: string,
  options: PermissionPathOptions,
): boolean {
  switch (kind) {
    case "net": {
      const grantedHost = granted.toLowerCase();
      const wantedHost = wanted.toLowerCase();
      return grantedHost === wantedHost || hostOf(wantedHost) === grantedHost;
    }
    case "env":
      return granted === wanted ||
        (granted.endsWith("*") && wanted.startsWith(granted.slice(0, -1)));
    case "read":
    case "write": {
      const base = absolutePath(granted, options);
      const path = absolutePath(wanted, options);
      return path === base || path.startsWith(base.endsWith("/") ? base : `${base}/`);
    }
  }
}

/** `host` of `host:port` (and `[v6]` of `[v6]:port`); the entry itself when it has no port. */
function hostOf(entry: string): string {
  const bracket = /^(\[[^\]]+\]):\d+$/.exec(entry);
  if (bracket) return bracket[1]!;
  const plain = /^([^:\[\]]+):\d+$/.exec(entry);
  return plain ? plain[1]! : entry;
}

function absolutePath(path: string, options: PermissionPathOptions): string {
  if (path.startsWith("file:")) return fileURLToPath(path);
  return isAbsolute(path) ? resolve(path) : resolve(options.baseDir ?? Deno.cwd(), path);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
