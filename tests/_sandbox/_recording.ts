// A fixture factory: an extension that records every notification it gets,
// with whether its arguments were frozen.
import { type Extension, NOTIFICATION_HOOKS } from "../../mod.ts";

/** One recorded event. */
export interface Recorded {
  hook: string;
  args: unknown[];
  frozen: boolean[];
}

/** An extension named `name` that records every notification in `received`. */
export function recordingExtension(name: string): Extension & { received: Recorded[] } {
  const received: Recorded[] = [];
  const extension: Record<string, unknown> = {
    name,
    version: "1.0.0",
    description: "Records every notification it receives.",
    provides: [`${name}Received`],
    received,
    [`${name}Received`]: () => received,
  };
  for (const hook of NOTIFICATION_HOOKS) {
    extension[hook] = (...given: unknown[]) => {
      const args = given.slice(0, -1); // the last one is the EventMeta
      received.push({
        hook,
        args: structuredClone(args),
        frozen: args.map((arg) => typeof arg !== "object" || arg === null || Object.isFrozen(arg)),
      });
    };
  }
  return extension as unknown as Extension & { received: Recorded[] };
}
