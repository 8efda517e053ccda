// Sandbox fixture: records the order of its node events and how many of
// its handlers ran at once; each handler waits `meta.waitMs` (default 0).
import { BaseExtension, type Node } from "../../mod.ts";

const seen: number[] = [];
let running = 0;
let most = 0;
const started: number[] = [];

export default class Orderly extends BaseExtension {
  readonly name: string = "orderly";
  readonly version = "1.0.0";
  readonly description = "Records its events in order.";
  override readonly provides = ["order"];

  override async onNodeCreate(node: Node): Promise<void> {
    running++;
    most = Math.max(most, running);
    started.push(Date.now());
    await new Promise((resolve) => setTimeout(resolve, Number(node.meta.waitMs ?? 0)));
    seen.push(node.id);
    running--;
  }

  order(): { seen: number[]; most: number; started: number[] } {
    return { seen, most, started };
  }
}
