// Sandbox fixture: a handler that is slow but never blocks its Worker.
import type { Node } from "../../mod.ts";

export default {
  name: "sleeper",
  version: "1.0.0",
  description: "Takes its time over every new node.",
  provides: ["ping"],
  async onNodeCreate(node: Node): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, Number(node.meta.sleepMs ?? 0)));
  },
  ping(): string {
    return "pong";
  },
};
