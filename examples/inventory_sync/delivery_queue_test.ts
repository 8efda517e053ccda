import assert from "node:assert/strict";
import { DeliveryQueue, type DeliveryQueueOptions } from "./delivery_queue.ts";
import { closedPort, hold, recordingLogger, startReceiver } from "./_test_receiver.ts";

function queueFor(url: string, lines: string[], options: Partial<DeliveryQueueOptions> = {}) {
  return new DeliveryQueue({
    url,
    maxQueue: 100,
    maxAttempts: 3,
    retryBaseMs: 10,
    retryMaxMs: 1000,
    requestTimeoutMs: 2000,
    logger: recordingLogger(lines),
    ...options,
  });
}

Deno.test("DeliveryQueue delivers requests in order with their JSON bodies and headers", async () => {
  const receiver = startReceiver();
  const queue = queueFor(receiver.url, [], { headers: { authorization: "Bearer secret" } });
  try {
    assert.equal(
      queue.enqueue({ method: "POST", path: "nodes/", body: '{"id":1}', event: "onNodeCreate" }),
      true,
    );
    queue.enqueue({ method: "PUT", path: "nodes/1/", body: '{"id":1}', event: "onNodeUpdate" });
    queue.enqueue({ method: "DELETE", path: "nodes/1/", event: "onNodeDelete" });
    const status = await queue.close(2000);
    assert.deepEqual(
      receiver.received.map((r) => [r.method, r.path, r.body, r.event, r.contentType]),
      [
        ["POST", "/api/nodes/", { id: 1 }, "onNodeCreate", "application/json"],
        ["PUT", "/api/nodes/1/", { id: 1 }, "onNodeUpdate", "application/json"],
        ["DELETE", "/api/nodes/1/", null, "onNodeDelete", null],
      ],
    );
    assert.equal(new Set(receiver.received.map((r) => r.key)).size, 3);
    assert.deepEqual(status, {
      url: receiver.url,
      queued: 0,
      sent: 3,
      failed: 0,
      dropped: 0,
      retries: 0,
      lastError: null,
      closed: true,
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("DeliveryQueue retries a failing request with exponential backoff, then sends the next", async () => {
  const receiver = startReceiver((_request, index) =>
    index < 2
      ? new Response("inventory is starting", { status: 503 })
      : new Response(null, { status: 204 })
  );
  const lines: string[] = [];
  const queue = queueFor(receiver.url, lines, { maxAttempts: 5, retryBaseMs: 40 });
  try {
    queue.enqueue({ method: "POST", path: "nodes/", body: '{"id":1}', event: "onNodeCreate" });
    queue.enqueue({ method: "DELETE", path: "nodes/1/", event: "onNodeDelete" });
    const status = await queue.close(5000);
    const [first, second, third, fourth] = receiver.received;
    assert.deepEqual(
      receiver.received.map((r) => `${r.method} ${r.path}`),
      ["POST /api/nodes/", "POST /api/nodes/", "POST /api/nodes/", "DELETE /api/nodes/1/"],
    );
    assert.equal(second!.key, first!.key, "a retry keeps its idempotency key");
    assert.equal(third!.key, first!.key);
    assert.notEqual(fourth!.key, first!.key);
    assert.ok(second!.at - first!.at >= 35, `first wait ${second!.at - first!.at} ms`);
    assert.ok(third!.at - second!.at >= 75, `second wait ${third!.at - second!.at} ms`);
    assert.deepEqual([status.sent, status.failed, status.retries], [2, 0, 2]);
    assert.deepEqual(lines, [
      "warn: POST nodes/ (onNodeCreate) failed (attempt 1 of 5): answered 503: inventory is starting: retrying in 40 ms",
      "warn: POST nodes/ (onNodeCreate) failed (attempt 2 of 5): answered 503: inventory is starting: retrying in 80 ms",
    ]);
  } finally {
    await receiver.close();
  }
});

Deno.test("DeliveryQueue gives up after maxAttempts and goes on with the next request", async () => {
  const receiver = startReceiver((request) =>
    request.method === "POST"
      ? Response.json({ error: "database down" }, { status: 500 })
      : new Response(null, { status: 204 })
  );
  const lines: string[] = [];
  const queue = queueFor(receiver.url, lines, { maxAttempts: 3, retryBaseMs: 5 });
  try {
    queue.enqueue({ method: "POST", path: "nodes/", body: "{}", event: "onNodeCreate" });
    queue.enqueue({ method: "DELETE", path: "nodes/1/", event: "onNodeDelete" });
    const status = await queue.close(5000);
    assert.deepEqual(receiver.received.map((r) => r.method), ["POST", "POST", "POST", "DELETE"]);
    assert.deepEqual([status.sent, status.failed, status.retries], [1, 1, 2]);
    assert.equal(
      status.lastError,
      'POST nodes/ (onNodeCreate): answered 500: {"error":"database down"}',
    );
    assert.equal(
      lines.at(-1),
      "error: Cannot deliver POST nodes/ (onNodeCreate) to " + receiver.url +
        ': answered 500: {"error":"database down"}: gave up after 3 attempt(s)',
    );
  } finally {
    await receiver.close();
  }
});

Deno.test("DeliveryQueue does not retry a request the service refuses with a 4xx", async () => {
  const receiver = startReceiver((request) =>
    request.method === "PUT"
      ? new Response("unknown node", { status: 404 })
      : new Response(null, { status: 204 })
  );
  const lines: string[] = [];
  const queue = queueFor(receiver.url, lines);
  try {
    queue.enqueue({ method: "PUT", path: "nodes/9/", body: "{}", event: "onNodeUpdate" });
    queue.enqueue({ method: "DELETE", path: "nodes/9/", event: "onNodeDelete" });
    const status = await queue.close(5000);
    assert.deepEqual(receiver.received.map((r) => r.method), ["PUT", "DELETE"]);
    assert.deepEqual([status.sent, status.failed, status.retries], [1, 1, 0]);
    assert.deepEqual(lines, [
      `error: Cannot deliver PUT nodes/9/ (onNodeUpdate) to ${receiver.url}: answered 404: unknown node: gave up after 1 attempt(s)`,
    ]);
  } finally {
    await receiver.close();
  }
});

Deno.test("DeliveryQueue retries a request that gets no answer within requestTimeoutMs", async () => {
  const receiver = startReceiver((_request, index) =>
    index === 0 ? hold() : new Response(null, { status: 204 })
  );
  const lines: string[] = [];
  const queue = queueFor(receiver.url, lines, { requestTimeoutMs: 100 });
  try {
    queue.enqueue({ method: "POST", path: "nodes/", body: "{}", event: "onNodeCreate" });
    const status = await queue.close(5000);
    assert.equal(receiver.received.length, 2);
    assert.deepEqual([status.sent, status.retries], [1, 1]);
    assert.match(lines[0]!, /attempt 1 of 3\): no answer within 100 ms: retrying in 10 ms$/);
  } finally {
    await receiver.close();
  }
});

Deno.test("DeliveryQueue drops the oldest waiting request when it is full, and says so", async () => {
  const receiver = startReceiver(() => hold());
  const lines: string[] = [];
  const queue = queueFor(receiver.url, lines, { maxQueue: 3 });
  try {
    for (let id = 1; id <= 5; id++) {
      queue.enqueue({ method: "DELETE", path: `nodes/${id}/`, event: "onNodeDelete" });
    }
    assert.deepEqual([queue.status.queued, queue.status.dropped], [3, 2]);
    assert.deepEqual(lines, [
      `warn: queue full (3 requests): dropped the oldest, DELETE nodes/1/ (onNodeDelete): ${receiver.url} may now be out of date`,
      `warn: queue full (3 requests): dropped the oldest, DELETE nodes/2/ (onNodeDelete): ${receiver.url} may now be out of date`,
    ]);
    await receiver.waitFor(1);
    assert.equal(receiver.received[0]!.path, "/api/nodes/3/");
    const status = await queue.close(50);
    assert.deepEqual([status.queued, status.sent, status.dropped], [0, 0, 5]);
    assert.equal(
      lines.at(-1),
      `warn: 3 request(s) not delivered to ${receiver.url} within 50 ms: dropped`,
    );
  } finally {
    await receiver.close();
  }
});

Deno.test("DeliveryQueue.enqueue() returns at once and close() keeps its deadline when the service is down", async () => {
  const url = `http://127.0.0.1:${closedPort()}/`;
  const lines: string[] = [];
  const queue = queueFor(url, lines, { maxAttempts: 10, retryBaseMs: 5000, retryMaxMs: 10_000 });
  const started = performance.now();
  for (let id = 1; id <= 50; id++) {
    const accepted = queue.enqueue({
      method: "DELETE",
      path: `nodes/${id}/`,
      event: "onNodeDelete",
    });
    assert.equal(accepted, true);
  }
  assert.equal(queue.status.queued, 50);
  const closing = performance.now();
  const status = await queue.close(200);
  const closed = performance.now();
  assert.ok(closing - started < 100, `enqueue took ${closing - started} ms`);
  assert.ok(
    closed - closing >= 190 && closed - closing < 1500,
    `close took ${closed - closing} ms`,
  );
  assert.deepEqual([status.sent, status.failed, status.dropped, status.queued], [0, 0, 50, 0]);
  assert.match(status.lastError ?? "", /^DELETE nodes\/1\/ \(onNodeDelete\): /);
  assert.match(
    lines[0]!,
    /^warn: DELETE nodes\/1\/ \(onNodeDelete\) failed \(attempt 1 of 10\): .*Connection refused.*: retrying in 5000 ms$/,
  );
});

Deno.test("DeliveryQueue.close() aborts a request the service never answers", async () => {
  const receiver = startReceiver(() => hold());
  const queue = queueFor(receiver.url, [], { requestTimeoutMs: 60_000 });
  try {
    queue.enqueue({ method: "POST", path: "clusters/", body: "{}", event: "onClusterCreate" });
    await receiver.waitFor(1);
    const started = performance.now();
    const status = await queue.close(100);
    assert.ok(performance.now() - started < 1500);
    assert.deepEqual([status.sent, status.dropped, status.closed], [0, 1, true]);
  } finally {
    await receiver.close();
  }
});

Deno.test("DeliveryQueue.enqueue() refuses requests once the queue is closed", async () => {
  const lines: string[] = [];
  const queue = queueFor(`http://127.0.0.1:${closedPort()}/`, lines);
  await queue.close(10);
  assert.equal(queue.enqueue({ method: "DELETE", path: "nodes/1/", event: "onNodeDelete" }), false);
  assert.equal(queue.status.dropped, 1);
  assert.deepEqual(lines, [
    "warn: dropped DELETE nodes/1/ (onNodeDelete): the queue is closed (Nailgun is shutting down)",
  ]);
});
