/**
 * Durable delivery: node creations (`POST /api/v1/nodes/`) over HTTP on
 * loopback with one no-op extension that handles `onNodeCreate`, inline
 * (the baseline) and durable (each creation also writes an outbox row in its
 * transaction, and the delivery loop deletes it once handled). Each
 * iteration creates {@linkcode REQUESTS} nodes from {@linkcode CLIENTS}
 * concurrent clients. Each service runs in its own process
 * (`_service_server.ts`) on an in-memory SQLite database.
 *
 * Before the benchmarks, a bounded load of {@linkcode BACKLOG_REQUESTS}
 * creations from 8 clients runs against the durable service while the
 * status API is sampled: the largest backlog (`delivery.pending`) and how
 * long the outbox takes to drain afterwards are printed, to show that
 * delivery keeps up with the write rate.
 *
 * ```sh
 * deno bench -A --unstable-worker-options benchmarks/delivery_bench.ts
 * ```
 *
 * @module
 */
const REQUESTS = 64;
const CLIENTS = 8;
const BACKLOG_REQUESTS = 4_000;
const SERVER = new URL("./_service_server.ts", import.meta.url);

interface Service {
  url: string;
  process: Deno.ChildProcess;
}

const directories: string[] = [];

function writeConfig(delivery: "inline" | "durable"): string {
  const dir = Deno.makeTempDirSync({ prefix: "nailgun_delivery_bench_" });
  directories.push(dir);
  Deno.writeTextFileSync(
    `${dir}/noop.js`,
    `export default {
  name: "noop",
  version: "1.0.0",
  description: "Does nothing with each new node.",
  delivery: "${delivery}",
  async onNodeCreate(_node, _meta) {},
};
`,
  );
  Deno.writeTextFileSync(
    `${dir}/extensions.json`,
    JSON.stringify({ "nailgun.extensions": { load: ["./noop.js"], discover: false } }),
  );
  return `${dir}/extensions.json`;
}

async function startService(delivery: "inline" | "durable"): Promise<Service> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SERVER.pathname, writeConfig(delivery)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("Cannot benchmark delivery: the service exited before it listened");
    text += value;
  }
  reader.releaseLock();
  const started = JSON.parse(text.slice(0, text.indexOf("\n"))) as {
    url: string;
    loaded: number;
    failed: string[];
  };
  if (started.loaded !== 1) {
    throw new Error(`Cannot benchmark delivery: ${started.failed.join("; ")}`);
  }
  return { url: started.url, process };
}

let mac = 0;
function nextMac(): string {
  const value = ++mac;
  return [0x52, 0x54, (value >> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]
    .map((byte) => byte.toString(16).padStart(2, "0")).join(":");
}

async function createNodes(service: Service, count: number): Promise<void> {
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
        throw new Error(`Cannot benchmark delivery: POST answered ${response.status}: ${body}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
}

async function pending(service: Service): Promise<number> {
  const response = await fetch(`${service.url}/api/v1/extensions/status/`);
  const status = await response.json();
  return status.loaded[0].delivery.pending;
}

/** The bounded load: the largest backlog while 8 clients create nodes, and the time to drain it. */
async function measureBacklog(service: Service): Promise<void> {
  let largest = 0;
  let samples = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      largest = Math.max(largest, await pending(service));
      samples++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const started = performance.now();
  await createNodes(service, BACKLOG_REQUESTS);
  const loadMs = performance.now() - started;
  running = false;
  await sampler;
  const drainStarted = performance.now();
  const deadline = drainStarted + 30_000;
  let left = await pending(service);
  while (left > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    left = await pending(service);
  }
  console.error(JSON.stringify({
    scenario:
      `backlog of a no-op durable extension, ${BACKLOG_REQUESTS} creations from ${CLIENTS} clients`,
    creationsPerSecond: Math.round(BACKLOG_REQUESTS / (loadMs / 1000)),
    largestBacklog: largest,
    samples,
    leftAfterLoad: left,
    drainedInMs: Math.round(performance.now() - drainStarted),
  }));
  if (left > 0) {
    throw new Error(`Cannot benchmark delivery: ${left} events still pending after 30 s`);
  }
}

const services = [await startService("inline"), await startService("durable")] as const;
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
await measureBacklog(services[1]);

const group = `delivery, ${REQUESTS} node creations over HTTP from ${CLIENTS} clients`;
const ITERATIONS = { n: 150, warmup: 20 };
Deno.bench({
  name: "nailgun: one no-op inline extension",
  group,
  baseline: true,
  ...ITERATIONS,
  fn: async () => await createNodes(services[0], REQUESTS),
});
Deno.bench({
  name: "nailgun: one no-op durable extension (outbox row in the transaction)",
  group,
  ...ITERATIONS,
  fn: async () => await createNodes(services[1], REQUESTS),
});
