import assert from "node:assert/strict";
import { readBody } from "./_body.ts";
import { HttpError } from "./http.ts";

const limits = (overrides: Partial<Parameters<typeof readBody>[1]> = {}) => ({
  bodyLimit: 16,
  requestTimeoutMs: 1_000,
  closing: new AbortController().signal,
  ...overrides,
});

/** A request whose body arrives in `chunks`, `gapMs` apart, then ends (or never, with `open`). */
function streamed(chunks: string[], gapMs = 0, open = false): Request {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === chunks.length) {
        if (!open) controller.close();
        else await new Promise(() => {}); // the client stops sending and never ends
        return;
      }
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      controller.enqueue(new TextEncoder().encode(chunks[sent++]!));
    },
  });
  return new Request("http://localhost/", { method: "POST", body });
}

function assertHttpError(status: number, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof HttpError, String(error));
    assert.equal(error.status, status);
    assert.match(error.message, pattern);
    return true;
  };
}

Deno.test("readBody() answers the bytes of a body sent in pieces, and undefined without a body", async () => {
  const bytes = await readBody(streamed(['{"a":', "1}"]), limits());
  assert.equal(new TextDecoder().decode(bytes), '{"a":1}');
  assert.equal(await readBody(new Request("http://localhost/"), limits()), undefined);
});

Deno.test("readBody() refuses a body over the limit, declared or streamed, with 413", async () => {
  const declared = new Request("http://localhost/", {
    method: "POST",
    body: "x".repeat(17),
    headers: { "content-length": "17" },
  });
  await assert.rejects(readBody(declared, limits()), assertHttpError(413, /limit of 16 bytes/));
  await assert.rejects(
    readBody(streamed(["x".repeat(10), "x".repeat(10)]), limits()),
    assertHttpError(413, /limit of 16 bytes/),
  );
});

Deno.test("readBody() answers 408 when the body does not arrive within the time limit", async () => {
  const started = performance.now();
  await assert.rejects(
    readBody(streamed(["{"], 0, true), limits({ requestTimeoutMs: 100 })),
    assertHttpError(408, /did not arrive within 100 ms \(REQUEST_TIMEOUT_MS\)/),
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 90 && elapsed < 1_000, `after ${elapsed} ms`);
});

Deno.test("readBody() answers 503 when the shutdown cuts a body still arriving", async () => {
  const closing = new AbortController();
  const reading = readBody(streamed(["{"], 0, true), limits({ closing: closing.signal }));
  setTimeout(() => closing.abort(), 20);
  await assert.rejects(reading, assertHttpError(503, /shutting down/));
});
