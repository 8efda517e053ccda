/**
 * The client side of the benchmarks that run the reference service in its
 * own process (`_service_server.ts`): start one from a config of generated
 * extensions, create nodes from concurrent clients, stop them all and remove
 * their directories when the bench process ends.
 *
 * @module
 */
const SERVER = new URL("./_service_server.ts", import.meta.url);

/** A service process and its base URL. */
export interface Service {
  url: string;
  process: Deno.ChildProcess;
}

const services: Service[] = [];
const directories: string[] = [];

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

/**
 * Writes the modules of generated extensions and an `extensions.json` that
 * lists them, in a new directory removed when the bench ends.
 *
 * @param prefix The directory's name prefix.
 * @param modules The file name (e.g. `noop.js`) and source of each extension.
 * @returns The path of the `extensions.json`.
 */
export function writeProject(prefix: string, modules: Record<string, string>): string {
  const dir = Deno.makeTempDirSync({ prefix });
  directories.push(dir);
  for (const [file, source] of Object.entries(modules)) {
    Deno.writeTextFileSync(`${dir}/${file}`, source);
  }
  const load = Object.keys(modules).map((file) => `./${file}`);
  Deno.writeTextFileSync(
    `${dir}/extensions.json`,
    JSON.stringify({ "nailgun.extensions": { load, discover: false } }),
  );
  return `${dir}/extensions.json`;
}

/**
 * Starts a service on `configFile` and waits until it listens, with exactly
 * `extensions` loaded and none failed.
 *
 * @param configFile Its `extensions.json`.
 * @param extensions How many extensions must load.
 * @param what What is benchmarked, for messages.
 * @returns The running service.
 */
export async function startService(
  configFile: string,
  extensions: number,
  what: string,
): Promise<Service> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SERVER.pathname, configFile],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Cannot benchmark ${what}: the service exited before it listened`);
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
      `Cannot benchmark ${what}: ${started.loaded} of ${extensions} extensions loaded: ${
        started.failed.join("; ")
      }`,
    );
  }
  const service = { url: started.url, process };
  services.push(service);
  return service;
}

let mac = 0;
function nextMac(): string {
  const value = ++mac;
  return [0x52, 0x54, (value >> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]
    .map((byte) => byte.toString(16).padStart(2, "0")).join(":");
}

/**
 * Creates `count` nodes from `clients` concurrent clients; fails on any
 * answer but 201.
 *
 * @param service The service.
 * @param count How many nodes.
 * @param clients How many clients at once.
 * @param what What is benchmarked, for messages.
 */
export async function createNodes(
  service: Service,
  count: number,
  clients: number,
  what: string,
): Promise<void> {
  let left = count;
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
        throw new Error(`Cannot benchmark ${what}: POST answered ${response.status}: ${body}`);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
}
