// Payload protection: what an extension receives is frozen, so that it cannot
// change the host's data or what the next extension sees.

/** Freezes `value` and everything it holds; stops early at what is frozen already. */
export function freezeDeep<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  if (ArrayBuffer.isView(value)) return value; // typed arrays with elements cannot be frozen
  Object.freeze(value);
  for (const key of Object.keys(value)) {
    freezeDeep((value as Record<string, unknown>)[key]);
  }
  return value;
}
