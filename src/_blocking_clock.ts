import { Worker } from "node:worker_threads";

// A clock that moves while the event loop is blocked: a worker thread writes the
// milliseconds since it started into shared memory every CLOCK_PERIOD_MS. The
// dispatcher reads it before and after each handler call (two reads of a
// typed array, about 3 ns, where `performance.now()` costs about 90 ns): a
// call that kept the loop busy past the time limit is seen when it returns,
// and blamed on its handler. The worker runs while at least one fault guard
// is installed (`ExtensionManager.guardFaults()`); without one the clock
// stands still and nothing is ever reported as blocking.

/** How often the clock moves, in milliseconds: the precision of blocking reports. */
export const CLOCK_PERIOD_MS = 20;

/** Milliseconds, modulo 2³², that the clock has run; it stands still while stopped. */
export const blockingClock: Int32Array = new Int32Array(
  typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : new ArrayBuffer(4),
);

const WORKER_SOURCE = `
const clock = require("node:worker_threads").workerData;
const base = Atomics.load(clock, 0);
const started = performance.now();
setInterval(() => Atomics.store(clock, 0, (base + performance.now() - started) | 0), ${CLOCK_PERIOD_MS});
`;

let users = 0;
let worker: Worker | undefined;

/**
 * Starts the clock, or counts one more user of it.
 *
 * @returns What stops it again once every user has disposed of it.
 */
export function startBlockingClock(): Disposable {
  users++;
  if (worker === undefined && typeof SharedArrayBuffer === "function") {
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: blockingClock });
      // A guard that is never disposed must not keep the process alive.
      worker.unref();
    } catch {
      worker = undefined; // no worker threads here: blocking is not detected
    }
  }
  let disposed = false;
  return {
    [Symbol.dispose]() {
      if (disposed) return;
      disposed = true;
      if (--users > 0) return;
      void worker?.terminate();
      worker = undefined; // the clock keeps its value: a later start goes on from it
    },
  };
}

/**
 * Milliseconds that passed between two readings of the clock.
 *
 * @param since An earlier reading of `blockingClock[0]`.
 * @returns How long ago it was, in milliseconds.
 */
export function elapsedSince(since: number): number {
  return (blockingClock[0]! - since) | 0;
}
