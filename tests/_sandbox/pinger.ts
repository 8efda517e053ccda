// Sandbox fixture: a provided call that calls itself through the host
// (`ping`), one that starts many calls at once (`flood`), one that answers
// a large value (`big`), and a node hook that starts the recursion.
import { BaseExtension } from "../../mod.ts";

let pings = 0;
let lastError = "";

export default class Pinger extends BaseExtension {
  readonly name = "pinger";
  readonly version = "1.0.0";
  readonly description = "Calls itself through the host.";
  override readonly provides = ["ping", "pings", "flood", "big"];

  ping(): Promise<unknown> {
    pings++;
    return this.context.call("ping");
  }

  pings(): { pings: number; lastError: string } {
    return { pings, lastError };
  }

  async flood(count: number): Promise<string[]> {
    const calls = Array.from({ length: count }, () => this.context.call("slow"));
    const settled = await Promise.allSettled(calls);
    return settled.map((outcome) =>
      outcome.status === "fulfilled" ? String(outcome.value) : String(outcome.reason?.message)
    );
  }

  big(length: number): string {
    return "x".repeat(length);
  }

  override async onNodeCreate(): Promise<void> {
    try {
      await this.context.call("ping");
    } catch (error) {
      lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw error;
    }
  }
}
