// Paths into checked values (zod issue paths), for messages that name the field at fault.

/** The value at `path` inside `root`, or `undefined` when the path leads nowhere. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A path as a field name, e.g. `routes[1].path`; `""` for the value itself. */
export function fieldName(path: readonly PropertyKey[]): string {
  return path.map((key, index) =>
    typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`
  ).join("");
}
