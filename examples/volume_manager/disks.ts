/**
 * Disks and volumes: the layout the volume manager keeps per node, its
 * checks, its defaults from what the node reports, and the forms it takes in
 * provisioning and deployment data. Sizes are in MB, as in Nailgun's disks
 * API; the node's own report (`meta.disks`) gives bytes.
 *
 * @module
 */
import { z } from "zod";

/** A part of a disk given to one use, e.g. `os` or `mysql`. */
export interface Volume {
  /** What the space is for: lowercase letters, digits, `_` and `-`. */
  name: string;
  /** Size in MB. */
  size: number;
}

/** A disk of a node and the volumes laid out on it. */
export interface Disk {
  /** The disk's name on the node, e.g. `sda`. */
  name: string;
  /** Size in MB. */
  size: number;
  /** The volumes on the disk; together they fit in its size. */
  volumes: Volume[];
}

/** Where a layout is wrong: the field (a path in the body) and why. */
export interface DisksProblem {
  /** A path into the body, e.g. `[0].volumes[1].size`, or `body` for the whole of it. */
  field: string;
  /** What the field must be. */
  reason: string;
  /** Its current value. */
  value: unknown;
}

/** The outcome of {@linkcode parseDisks}. */
export type DisksParse = { ok: true; disks: Disk[] } | ({ ok: false } & DisksProblem);

/** A disk in the provisioning data (`ks_spaces`), as Nailgun's provisioning serializer puts it. */
export interface KsSpace {
  /** Always `disk`. */
  type: "disk";
  /** The disk's name. */
  id: string;
  /** The disk's name. */
  name: string;
  /** Size in MB. */
  size: number;
  /** The volumes on it. */
  volumes: Volume[];
}

/** The volumes of a node in the deployment data. */
export interface VolumeSummary {
  /** How many disks. */
  disks: number;
  /** Size of all disks, in MB. */
  total_mb: number;
  /** Space given to volumes, in MB. */
  allocated_mb: number;
  /** Space of each volume name over all disks, in MB. */
  by_name: Record<string, number>;
}

/** MB in a GB. */
export const MB_PER_GB = 1024;
const BYTES_PER_MB = 1024 * 1024;

const size = z.number({ error: "must be a size in MB" }).int({
  error: "must be a whole number of MB",
})
  .min(0, { error: "must not be negative" });

const volumeSchema = z.strictObject({
  name: z.string({ error: "must be a volume name" }).regex(/^[a-z][a-z0-9_-]{0,31}$/, {
    error: 'must be 1 to 32 lowercase letters, digits, "_" or "-", starting with a letter',
  }),
  size,
}, { error: "must be a volume {name, size}" });

const diskSchema = z.strictObject({
  name: z.string({ error: "must be a disk name" }).min(1, { error: "must not be empty" }).max(64, {
    error: "must be 64 characters at most",
  }),
  size,
  volumes: z.array(volumeSchema, { error: "must be a list of volumes" }).max(64, {
    error: "must hold 64 volumes at most",
  }),
}, { error: "must be a disk {name, size, volumes}" }).superRefine((disk, ctx) => {
  const seen = new Set<string>();
  disk.volumes.forEach((volume, index) => {
    if (seen.has(volume.name)) {
      ctx.addIssue({
        code: "custom",
        path: ["volumes", index, "name"],
        message: `must be unique on disk ${disk.name}`,
        input: volume.name,
      });
    }
    seen.add(volume.name);
  });
  const allocated = disk.volumes.reduce((sum, volume) => sum + volume.size, 0);
  if (allocated > disk.size) {
    ctx.addIssue({
      code: "custom",
      path: ["volumes"],
      message: `must fit on disk ${disk.name}: they take ${allocated} MB of its ${disk.size} MB`,
      input: allocated,
    });
  }
});

const disksSchema = z.array(diskSchema, { error: "must be a list of disks" }).max(64, {
  error: "must hold 64 disks at most",
}).superRefine((disks, ctx) => {
  const seen = new Set<string>();
  disks.forEach((disk, index) => {
    if (seen.has(disk.name)) {
      ctx.addIssue({
        code: "custom",
        path: [index, "name"],
        message: "must be unique",
        input: disk.name,
      });
    }
    seen.add(disk.name);
  });
});

const reportedDisksSchema = z.array(
  z.looseObject({ name: z.string().min(1), size: z.number().min(0) }),
);

/**
 * Checks a disk layout, e.g. the body of `PUT /nodes/{id}/disks/`.
 *
 * @param value The parsed JSON.
 * @returns The layout, or the first field at fault with the reason.
 *
 * @example Refuse volumes that do not fit
 * ```ts
 * import { parseDisks } from "./disks.ts";
 * import assert from "node:assert/strict";
 * const parsed = parseDisks([{ name: "sda", size: 100, volumes: [{ name: "os", size: 150 }] }]);
 * assert.deepEqual(parsed, {
 *   ok: false,
 *   field: "[0].volumes",
 *   reason: "must fit on disk sda: they take 150 MB of its 100 MB",
 *   value: [{ name: "os", size: 150 }],
 * });
 * ```
 */
export function parseDisks(value: unknown): DisksParse {
  const result = disksSchema.safeParse(value);
  if (result.success) return { ok: true, disks: result.data };
  const issue = result.error.issues[0]!;
  const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]!] : issue.path;
  return {
    ok: false,
    field: formatPath(path),
    reason: issue.code === "unrecognized_keys"
      ? "is not a field of a disk or volume"
      : issue.message,
    value: valueAt(value, path),
  };
}

/**
 * Compares a layout with the disks the node has: same disk names, same
 * sizes. Volumes may change; disks are hardware.
 *
 * @param disks The new layout.
 * @param known The layout stored for the node.
 * @returns The first difference, or `undefined` when the disks match.
 */
export function compareWithHardware(
  disks: readonly Disk[],
  known: readonly Disk[],
): DisksProblem | undefined {
  const sizes = new Map(known.map((disk) => [disk.name, disk.size]));
  for (const [index, disk] of disks.entries()) {
    const knownSize = sizes.get(disk.name);
    if (knownSize === undefined) {
      return {
        field: `[${index}].name`,
        reason: `must be a disk of the node (${names(known)})`,
        value: disk.name,
      };
    }
    if (knownSize !== disk.size) {
      return {
        field: `[${index}].size`,
        reason: `must be the size of disk ${disk.name}, ${knownSize} MB`,
        value: disk.size,
      };
    }
  }
  const missing = known.filter((disk) => !disks.some((given) => given.name === disk.name));
  if (missing.length > 0) {
    return {
      field: "body",
      reason: `must list every disk of the node: ${names(missing)} missing`,
      value: disks.map((disk) => disk.name),
    };
  }
  return undefined;
}

/**
 * The default layout of a node from the disks it reports (`meta.disks`, a
 * list of `{name, size}` with sizes in bytes): the first disk holds the
 * `os` volume, every other disk a `data` volume, each taking the whole disk.
 *
 * @param meta The node's `meta`.
 * @returns The layout, and what was wrong with `meta.disks` when it was unusable.
 *
 * @example Lay out two disks
 * ```ts
 * import { defaultDisks } from "./disks.ts";
 * import assert from "node:assert/strict";
 * const GB = 1024 ** 3;
 * const { disks } = defaultDisks({ disks: [{ name: "sda", size: 100 * GB }, { name: "sdb", size: 20 * GB }] });
 * assert.deepEqual(disks, [
 *   { name: "sda", size: 102400, volumes: [{ name: "os", size: 102400 }] },
 *   { name: "sdb", size: 20480, volumes: [{ name: "data", size: 20480 }] },
 * ]);
 * ```
 */
export function defaultDisks(meta: Readonly<Record<string, unknown>>): {
  disks: Disk[];
  problem?: string;
} {
  if (meta.disks === undefined) return { disks: [] };
  const reported = reportedDisksSchema.safeParse(meta.disks);
  if (!reported.success) {
    const issue = reported.error.issues[0]!;
    return {
      disks: [],
      problem: `"meta.disks${
        issue.path.length ? formatPath(issue.path) : ""
      }" is not a list of {name, size}: ${issue.message.toLowerCase()}`,
    };
  }
  const disks = reported.data.map((disk, index): Disk => {
    const sizeMb = Math.floor(disk.size / BYTES_PER_MB);
    return {
      name: disk.name,
      size: sizeMb,
      volumes: [{ name: index === 0 ? "os" : "data", size: sizeMb }],
    };
  });
  return { disks };
}

/**
 * Size of all disks.
 *
 * @param disks A layout.
 * @returns The sum of the disk sizes, in MB.
 */
export function totalSizeMb(disks: readonly Disk[]): number {
  return disks.reduce((sum, disk) => sum + disk.size, 0);
}

/**
 * The layout as `ks_spaces` of the provisioning data.
 *
 * @param disks A layout.
 * @returns One entry per disk.
 */
export function ksSpaces(disks: readonly Disk[]): KsSpace[] {
  return disks.map((disk) => ({
    type: "disk",
    id: disk.name,
    name: disk.name,
    size: disk.size,
    volumes: disk.volumes.map((volume) => ({ ...volume })),
  }));
}

/**
 * The layout summed up for the deployment data.
 *
 * @param disks A layout.
 * @returns Disk count, total and allocated space, and space per volume name.
 */
export function volumeSummary(disks: readonly Disk[]): VolumeSummary {
  const byName: Record<string, number> = {};
  let allocated = 0;
  for (const disk of disks) {
    for (const volume of disk.volumes) {
      byName[volume.name] = (byName[volume.name] ?? 0) + volume.size;
      allocated += volume.size;
    }
  }
  return {
    disks: disks.length,
    total_mb: totalSizeMb(disks),
    allocated_mb: allocated,
    by_name: byName,
  };
}

/**
 * Renders a zod path as a field, e.g. `[0].volumes[1].size`; `body` for the root.
 *
 * @param path The path.
 * @returns The field.
 */
function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "body";
  return path.map((key, index) =>
    typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`
  ).join("");
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function names(disks: readonly Disk[]): string {
  return disks.length === 0 ? "none" : disks.map((disk) => disk.name).join(", ");
}
