// Sandbox fixture: on each new node, starts allocating heap (8 MB every
// 10 ms, yielding in between) and never lets go of it.
import { BaseExtension } from "../../mod.ts";

const kept: number[][] = [];

export default class Hog extends BaseExtension {
  readonly name = "hog";
  readonly version = "1.0.0";
  readonly description = "Allocates without bound.";
  override readonly provides = ["held"];

  override onNodeCreate(): void {
    setInterval(() => kept.push(new Array(1_000_000).fill(Math.random())), 10);
  }

  held(): number {
    return kept.length;
  }
}
