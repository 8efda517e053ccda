import assert from "node:assert/strict";
import { retryDelay } from "./backoff.ts";

const options = { retryBaseMs: 100, retryMaxMs: 5_000 };

Deno.test("retryDelay() doubles with each attempt up to retryMaxMs, jittered into the upper half", () => {
  for (let attempt = 1; attempt <= 12; attempt++) {
    const ceiling = Math.min(5_000, 100 * 2 ** (attempt - 1));
    for (const random of [0, 0.25, 0.5, 0.999]) {
      const delay = retryDelay(attempt, options, random);
      assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay}`);
    }
  }
  assert.equal(retryDelay(1, options, 0), 50);
  assert.equal(retryDelay(2, options, 0), 100);
  assert.equal(retryDelay(60, options, 0.9999), 5_000);
});

Deno.test("retryDelay() spreads the waits of one attempt (jitter)", () => {
  const delays = new Set(Array.from({ length: 50 }, () => retryDelay(5, options)));
  assert.ok(delays.size > 10, `only ${delays.size} distinct delays`);
});

Deno.test("retryDelay() refuses an attempt that is not a whole number from 1", () => {
  for (const attempt of [0, -1, 1.5, NaN]) {
    assert.throws(
      () => retryDelay(attempt, options),
      (error) =>
        error instanceof RangeError &&
        /^Cannot compute the retry delay of attempt/.test(error.message),
    );
  }
});
