// Sandbox fixture: crashes its Worker on request (by the name of the node):
// "throw" (an uncaught error), "reject" (an unhandled rejection), "close"
// (`close()`), "exit" (`Deno.exit()`). `status()` tells whether this instance
// was set up and how many events it handled.
import type { Node } from "../../mod.ts";

let setUp = false;
let events = 0;

export default {
  name: "crasher",
  version: "1.0.0",
  description: "Crashes its Worker when told to.",
  provides: ["status"],
  setup(): void {
    setUp = true;
  },
  onNodeCreate(node: Node): void {
    events++;
    switch (node.name) {
      case "throw":
        setTimeout(() => {
          throw new Error("boom from a timer");
        }, 0);
        break;
      case "reject":
        Promise.reject(new Error("nobody waits for this"));
        break;
      case "close":
        close();
        break;
      case "exit":
        Deno.exit(3);
    }
  },
  status(): { setUp: boolean; events: number } {
    return { setUp, events };
  },
};
