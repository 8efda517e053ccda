// Sandbox fixture: spins forever (a loop that never yields) on a node named
// "spin"; counts the other events of this instance (`events()`).
import type { Node } from "../../mod.ts";

let events = 0;

export default {
  name: "spinner",
  version: "1.0.0",
  description: "Spins forever on a node named spin.",
  provides: ["events"],
  onNodeCreate(node: Node): void {
    if (node.name === "spin") {
      while (true) {
        // never yields
      }
    }
    events++;
  },
  events(): number {
    return events;
  },
};
