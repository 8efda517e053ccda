// Payload protection: what an extension receives is frozen, so that it cannot
// change the host's data or what the next extension sees.

/** Freezes `value` and everything it holds; stops early at what is frozen already. */
export function freezeDeep<T>(value: T): T {
  if (typeof value === "object" && value !== null) freezeObject(value);
  return value;
}

// On the hot path of every event: no key array is made (`for…in` and indexed
// loops instead of `Object.keys`), and primitives are not recursed into.
function freezeObject(value: object): void {
  if (Object.isFrozen(value)) return;
  if (Array.isArray(value)) {
    Object.freeze(value);
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      if (typeof item === "object" && item !== null) freezeObject(item);
    }
    return;
  }
  if (ArrayBuffer.isView(value)) return; // typed arrays with elements cannot be frozen
  Object.freeze(value);
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item: unknown = (value as Record<string, unknown>)[key];
    if (typeof item === "object" && item !== null) freezeObject(item);
  }
}
