// Sandbox fixture: reads a file (onNodeCreate), a line from a TCP listener
// (onNodeUpdate) and an environment variable (onNodeReset), as its settings
// say; `results()` answers what it read. It declares no permissions: what it
// may do is up to the grant alone.
import { BaseExtension } from "../../mod.ts";

export default class Prober extends BaseExtension {
  readonly name = "prober";
  readonly version = "1.0.0";
  readonly description = "Reads a file, a TCP listener and an environment variable.";
  override readonly provides = ["results"];
  #results: Record<string, string> = {};

  override async onNodeCreate(): Promise<void> {
    this.#results.file = await Deno.readTextFile(String(this.context.settings.file));
  }

  override async onNodeUpdate(): Promise<void> {
    const connection = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(this.context.settings.port),
    });
    try {
      const buffer = new Uint8Array(64);
      const read = await connection.read(buffer);
      this.#results.net = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
    } finally {
      connection.close();
    }
  }

  override onNodeReset(): void {
    this.#results.env = Deno.env.get(String(this.context.settings.variable)) ?? "(unset)";
  }

  results(): Record<string, string> {
    return this.#results;
  }
}
