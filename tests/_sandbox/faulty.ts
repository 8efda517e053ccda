// Sandbox fixture: fails on request, by the name of the node: "throw" (a
// synchronous throw), "reject" (a rejection), "sleep" (waits `meta.sleepMs`);
// any other node is handled. `handled()` lists the ids it handled, in order.
import type { Node } from "../../mod.ts";

const handled: number[] = [];

export default {
  name: "faulty",
  version: "1.0.0",
  description: "Fails when told to.",
  provides: ["handled"],
  onNodeCreate(node: Node): Promise<void> | void {
    if (node.name === "throw") throw new TypeError("thrown in the sandbox");
    if (node.name === "reject") return Promise.reject(new RangeError("rejected in the sandbox"));
    if (node.name === "sleep") {
      return new Promise<void>((resolve) => setTimeout(resolve, Number(node.meta.sleepMs ?? 0)))
        .then(() => void handled.push(node.id));
    }
    handled.push(node.id);
  },
  handled(): number[] {
    return handled;
  },
};
