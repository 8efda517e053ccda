// A host that calls into two extensions once per kind of call, under one
// parent span named "request": run by tests/telemetry_test.ts with Deno's
// OpenTelemetry on, exporting to the test's OTLP/HTTP receiver.
import { trace } from "@opentelemetry/api";
import { type Extension, ExtensionManager } from "../../mod.ts";
import { makeCluster, makeNode } from "../_payloads.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const manager = new ExtensionManager([
  {
    source: "./audit.ts",
    extension: {
      name: "audit",
      version: "1.2.3",
      description: "Records node creations.",
      onNodeCreate() {},
      onBeforeDeploymentCheck() {},
      provides: ["getAudit"],
      getAudit: () => ({ entries: 1 }),
    } as Extension,
  },
  {
    source: "./flaky.ts",
    extension: {
      name: "flaky",
      version: "0.1.0",
      description: "Fails asynchronously on node creations.",
      onNodeCreate: () => Promise.reject(new Error("down")),
      pipelines: [{ processDeploymentForCluster: (_c, data) => data }],
    },
  },
], { logger: quiet, handlerTimeoutMs: 1_000 });

const tracer = trace.getTracer("traced-host");
await tracer.startActiveSpan("request", async (span) => {
  await manager.notify("onNodeCreate", makeNode(1));
  await manager.check("onBeforeDeploymentCheck", makeCluster(["audit", "flaky"]), []);
  await manager.runPipelines("deployment", makeCluster(["flaky"]), [], { cluster: {}, nodes: [] });
  await manager.call("getAudit");
  span.end();
});
