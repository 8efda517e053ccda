/**
 * Service: node creations (`POST /api/v1/nodes/`) over HTTP on loopback,
 * with no extension loaded (the baseline) and with 10 no-op extensions that
 * each handle `onNodeCreate`. Each iteration creates {@linkcode REQUESTS}
 * nodes from {@linkcode CLIENTS} concurrent clients; the time per iteration
 * is the inverse of throughput.
 *
 * Each service runs in its own process (`_service_server.ts`), so that the
 * client does not share its event loop, with an in-memory SQLite database:
 * no disk time dilutes what the extensions cost (a database on disk makes the
 * ratio closer to 1).
 *
 * @module
 */
import {
  createNodes as createAll,
  type Service,
  startService,
  writeProject,
} from "./_service_client.ts";

const REQUESTS = 64;
const CLIENTS = 8;
const EXTENSIONS = 10;
const WHAT = "the service";

function noop(name: string): string {
  return `export default {
  name: "${name}",
  version: "1.0.0",
  description: "Does nothing with each new node.",
  async onNodeCreate(_node) {},
};
`;
}

/** A service with `count` no-op extensions. */
function start(count: number): Promise<Service> {
  const modules = Object.fromEntries(
    Array.from({ length: count }, (_, index) => [`noop_${index}.js`, noop(`noop_${index}`)]),
  );
  return startService(writeProject("nailgun_service_bench_", modules), count, WHAT);
}

const services = [await start(0), await start(EXTENSIONS)] as const;
const createNodes = (service: Service) => createAll(service, REQUESTS, CLIENTS, WHAT);

const group = `service, ${REQUESTS} node creations over HTTP from ${CLIENTS} clients`;
const ITERATIONS = { n: 150, warmup: 20 };
Deno.bench({
  name: "nailgun: no extension loaded",
  group,
  baseline: true,
  ...ITERATIONS,
  fn: async () => await createNodes(services[0]),
});
Deno.bench({
  name: `nailgun: ${EXTENSIONS} no-op extensions loaded`,
  group,
  ...ITERATIONS,
  fn: async () => await createNodes(services[1]),
});
