// Traces over OTLP/HTTP: a child deno process with Deno's OpenTelemetry on
// exports to a receiver this test starts on 127.0.0.1; every call into an
// extension is one span under the host's active span.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string };
}
interface OtlpSpan {
  name: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: OtlpAttribute[];
  status?: { code?: number };
}
interface OtlpTraces {
  resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

const HOST = fileURLToPath(new URL("./_telemetry/traced_host.ts", import.meta.url));

function attribute(span: OtlpSpan, key: string): string | undefined {
  return span.attributes?.find((a) => a.key === key)?.value.stringValue;
}

Deno.test("ExtensionManager with OTEL_DENO=true makes one span per extension call, named after it, under the active span", async () => {
  const spans: OtlpSpan[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    const body = await request.text();
    if (path === "/v1/traces") {
      const traces = JSON.parse(body) as OtlpTraces;
      for (const resource of traces.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []));
      }
    }
    return Response.json({});
  });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", HOST],
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      env: {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "nailgun-telemetry-test",
        OTEL_DENO_CONSOLE: "ignore",
      },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    });
    const { code, stderr } = await child.output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const request = spans.find((span) => span.name === "request");
    assert.ok(request, `the host's span was exported: ${spans.map((s) => s.name).join(", ")}`);
    const calls = spans.filter((span) => attribute(span, "nailgun.extension.name") !== undefined);
    assert.deepEqual(
      calls.map((span) => [
        span.name,
        attribute(span, "nailgun.extension.name"),
        attribute(span, "nailgun.extension.version"),
        attribute(span, "nailgun.extension.outcome"),
      ]).sort(),
      [
        ["getAudit", "audit", "1.2.3", "ok"],
        ["onBeforeDeploymentCheck", "audit", "1.2.3", "ok"],
        ["onNodeCreate", "audit", "1.2.3", "ok"],
        ["onNodeCreate", "flaky", "0.1.0", "rejected"],
        ["processDeploymentForCluster", "flaky", "0.1.0", "ok"],
      ],
    );
    for (const span of calls) {
      assert.equal(span.parentSpanId, request.spanId, `${span.name} is under the request's span`);
    }
    const failed = calls.find((span) =>
      attribute(span, "nailgun.extension.outcome") === "rejected"
    )!;
    assert.equal(failed.status?.code, 2, "a failed call's span has the error status");
  } finally {
    await server.shutdown();
  }
});
