import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { AttributionScope, currentExtension, runAsExtension } from "./attribution.ts";

Deno.test("AttributionScope.call() names the extension in what the call schedules, and restores the caller's context", async () => {
  const scope = new AttributionScope("audit", "./audit.ts");
  const seen: (string | undefined)[] = [];
  const pending = scope.call(
    () => {
      seen.push(currentExtension()?.name);
      return Promise.resolve().then(() => seen.push(currentExtension()?.name));
    },
    undefined,
    undefined,
  );
  assert.equal(currentExtension(), undefined);
  await pending;
  assert.deepEqual(seen, ["audit", "audit"]);
});

Deno.test("AttributionScope.call() keeps the other async-context values of its caller", () => {
  const request = new AsyncLocalStorage<string>();
  const scope = new AttributionScope("audit", "./audit.ts");
  for (const id of ["first", "second"]) {
    const inside = request.run(
      id,
      () => scope.call(() => request.getStore(), undefined, undefined),
    );
    assert.equal(inside, id, "the frame follows the context it is entered from");
  }
});

Deno.test("AttributionScope.call() restores the context when the call throws", () => {
  const scope = new AttributionScope("audit", "./audit.ts");
  assert.throws(() =>
    scope.call(
      () => {
        throw new Error("boom");
      },
      undefined,
      undefined,
    )
  );
  assert.equal(currentExtension(), undefined);
  runAsExtension({ name: "host_call", source: "x" }, () => {
    scope.call(() => assert.equal(currentExtension()?.name, "audit"), undefined, undefined);
    assert.equal(currentExtension()?.name, "host_call");
  });
});
