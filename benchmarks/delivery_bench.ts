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
import {
  createNodes as createAll,
  type Service,
  startService,
  writeProject,
} from "./_service_client.ts";

const REQUESTS = 64;
const CLIENTS = 8;
const BACKLOG_REQUESTS = 4_000;
const WHAT = "delivery";

/** A service with one no-op extension of that delivery mode. */
function start(delivery: "inline" | "durable"): Promise<Service> {
  const noop = `export default {
  name: "noop",
  version: "1.0.0",
  description: "Does nothing with each new node.",
  delivery: "${delivery}",
  async onNodeCreate(_node, _meta) {},
};
`;
  return startService(writeProject("nailgun_delivery_bench_", { "noop.js": noop }), 1, WHAT);
}

const createNodes = (service: Service, count: number) => createAll(service, count, CLIENTS, WHAT);

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

const services = [await start("inline"), await start("durable")] as const;
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
