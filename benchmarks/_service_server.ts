/**
 * The service of the service benchmark, in a process of its own so that the
 * client does not share its event loop. It starts Nailgun on a free loopback
 * port with an in-memory SQLite database and the extensions of the given
 * `extensions.json`, prints `{url, loaded, failed}` as one JSON line, and
 * shuts down gracefully when its standard input closes (so it never outlives
 * the benchmark).
 *
 * ```sh
 * deno run -A benchmarks/_service_server.ts /tmp/extensions.json
 * ```
 *
 * @module
 */
import { createLogger } from "../src/service/logger.ts";
import { startNailgun } from "../src/service/main.ts";

const configFile = Deno.args[0];
if (!configFile) {
  throw new TypeError("Cannot start the benchmark service: no extensions.json given");
}
const service = await startNailgun({
  port: 0,
  hostname: "127.0.0.1",
  databaseUrl: ":memory:",
  configFile,
  logger: createLogger({ level: "silent" }),
});
console.log(JSON.stringify({
  url: service.url,
  loaded: service.report.loaded.length,
  failed: service.report.failed.map((failed) => failed.message),
}));
for await (const _ of Deno.stdin.readable) {
  // Nothing is sent; the end of the input is the signal to stop.
}
await service.shutdown();
