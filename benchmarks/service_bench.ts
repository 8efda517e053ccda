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
const REQUESTS = 64;
const CLIENTS = 8;
const EXTENSIONS = 10;
const SERVER = new URL("./_service_server.ts", import.meta.url);

/** A service process and its base URL. */
interface Service {
  url: string;
  process: Deno.ChildProcess;
}

const directories: string[] = [];

/** Writes `count` no-op extensions and an `extensions.json` listing them. */
function writeConfig(count: number): string {
  const dir = Deno.makeTempDirSync({ prefix: "nailgun_service_bench_" });
  directories.push(dir);
  const load: string[] = [];
  for (let index = 0; index < count; index++) {
    const name = `noop_${index}`;
    Deno.writeTextFileSync(
      `${dir}/${name}.js`,
      `export default {
  name: "${name}",
  version: "1.0.0",
  description: "Does nothing with each new node.",
  async onNodeCreate(_node) {},
};
`,
    );
    load.push(`./${name}.js`);
  }
  Deno.writeTextFileSync(
    `${dir}/extensions.json`,
    JSON.stringify({ "nailgun.extensions": { load, discover: false } }),
  );
  return `${dir}/extensions.json`;
}

async function startService(extensions: number): Promise<Service> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SERVER.pathname, writeConfig(extensions)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("Cannot benchmark the service: it exited before it listened");
    text += value;
  }
  reader.releaseLock();
  const started = JSON.parse(text.slice(0, text.indexOf("\n"))) as {
    url: string;
    loaded: number;
    failed: string[];
  };
  if (started.loaded !== extensions || started.failed.length > 0) {
    throw new Error(
      `Cannot benchmark the service: ${started.loaded} of ${extensions} extensions loaded: ${
        started.failed.join("; ")
      }`,
    );
  }
  return { url: started.url, process };
}

let mac = 0;
function nextMac(): string {
  const value = ++mac;
  const bytes = [
    0x52,
    0x54,
    (value >> 24) & 0xff,
    (value >> 16) & 0xff,
    (value >> 8) & 0xff,
    value & 0xff,
  ];
  return bytes.map((byte) => byte.toString(16).padStart(2, "0")).join(":");
}

/** Creates `REQUESTS` nodes from `CLIENTS` concurrent clients; fails on any answer but 201. */
async function createNodes(service: Service): Promise<void> {
  let left = REQUESTS;
  const client = async () => {
    while (left > 0) {
      left--;
      const response = await fetch(`${service.url}/api/v1/nodes/`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ mac: nextMac(), roles: ["compute"], meta: { cpu: { total: 4 } } }),
      });
      const body = await response.text();
      if (response.status !== 201) {
        throw new Error(`Cannot benchmark the service: POST answered ${response.status}: ${body}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
}

const services = [await startService(0), await startService(EXTENSIONS)] as const;
globalThis.addEventListener("unload", () => {
  for (const service of services) {
    try {
      service.process.kill("SIGTERM");
    } catch {
      // It has already stopped.
    }
  }
  for (const dir of directories) Deno.removeSync(dir, { recursive: true });
});

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
