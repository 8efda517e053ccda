import assert from "node:assert/strict";
import { CircuitBreaker } from "./circuit_breaker.ts";

function breakerAt(failures: number, cooldownMs: number) {
  const clock = { now: 0 };
  return { clock, breaker: new CircuitBreaker({ failures, cooldownMs }, () => clock.now) };
}

Deno.test("CircuitBreaker.fault() opens only after consecutive faults: a success in between starts over", () => {
  const { breaker } = breakerAt(3, 1_000);
  breaker.fault();
  breaker.fault();
  breaker.success();
  assert.equal(breaker.fault(), undefined);
  assert.equal(breaker.fault(), undefined);
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.fault(), "open");
  assert.equal(breaker.state, "open");
});

Deno.test("CircuitBreaker.admit() skips during the cool-down, then lets one probe through; a failed probe opens it for a new cool-down", () => {
  const { clock, breaker } = breakerAt(1, 1_000);
  breaker.fault();
  clock.now = 999;
  assert.equal(breaker.admit(), "skip");
  assert.equal(breaker.remainingMs, 1);
  clock.now = 1_000;
  assert.equal(breaker.admit(), "probe");
  assert.equal(breaker.state, "probing");
  assert.equal(breaker.admit(), "skip", "while the probe runs, other calls are skipped");
  assert.equal(breaker.fault(), "open");
  clock.now = 1_999;
  assert.equal(breaker.admit(), "skip", "the new cool-down counts from the failed probe");
  clock.now = 2_000;
  assert.equal(breaker.admit(), "probe");
  assert.equal(breaker.success(), "closed");
  assert.equal(breaker.admit(), "run");
  assert.equal(breaker.consecutive, 0);
});

Deno.test("CircuitBreaker.fault() while open does not extend the cool-down", () => {
  const { clock, breaker } = breakerAt(1, 1_000);
  breaker.fault();
  clock.now = 500;
  assert.equal(breaker.fault(), undefined);
  clock.now = 1_000;
  assert.equal(breaker.admit(), "probe");
});

Deno.test("CircuitBreaker() refuses options out of range, naming the option", () => {
  assert.throws(
    () => new CircuitBreaker({ failures: 0 }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        'Cannot create a circuit breaker: "failures" must be a positive integer: current value is 0',
  );
  assert.throws(
    () => new CircuitBreaker({ cooldownMs: -1 }),
    (error: unknown) => error instanceof RangeError && /"cooldownMs"/.test(error.message),
  );
});
