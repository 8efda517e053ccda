import { Worker } from "node:worker_threads";

// Which handler blocks the event loop, found by a worker thread, so that the
// hot path reads no clock: the dispatcher writes into shared memory the
// sequence number of the dispatch that is running (once per run of handlers)
// and the index of the handler it calls (one store per handler call). Every
// SAMPLE_PERIOD_MS the worker looks: a pair that has not changed for longer
// than a period is a handler still running; the worker writes the pair and
// how long it has seen it into the slots below. When the dispatcher finishes
// a run of handlers it checks, with one read, whether its dispatch was
// reported, and blames that handler. The worker runs while at least one fault
// guard is installed (`ExtensionManager.guardFaults()`); without one nothing
// is ever reported as blocking.

/** How often the worker looks, in milliseconds: the precision of blocking reports. */
export const SAMPLE_PERIOD_MS = 20;

/** The running dispatch's sequence number; 0 when none. */
export const RUNNING = 0;
/** The index of the handler that the running dispatch called last. */
export const HANDLER = 1;
/** The dispatch that was seen stuck on one handler; 0 once the dispatcher has read it. */
export const STUCK = 2;
/** The index of that handler. */
export const STUCK_HANDLER = 3;
/** For how long it was seen stuck, in milliseconds (at least). */
export const STUCK_MS = 4;

/** The shared slots (see the constants above). */
export const watchSlots: Int32Array = new Int32Array(
  typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(20) : new ArrayBuffer(20),
);

let sequence = 0;

/**
 * A new dispatch sequence number, never 0.
 *
 * @returns The number.
 */
export function nextDispatch(): number {
  sequence = (sequence + 1) & 0x7fffffff || 1;
  return sequence;
}

const WORKER_SOURCE = `
const slots = require("node:worker_threads").workerData;
let seen = 0, seenHandler = -1, since = 0;
setInterval(() => {
  const running = Atomics.load(slots, ${RUNNING});
  const handler = Atomics.load(slots, ${HANDLER});
  const now = performance.now();
  if (running === 0 || running !== seen || handler !== seenHandler) {
    seen = running;
    seenHandler = handler;
    since = now;
    return;
  }
  Atomics.store(slots, ${STUCK_HANDLER}, handler);
  Atomics.store(slots, ${STUCK_MS}, (now - since + ${SAMPLE_PERIOD_MS}) | 0);
  Atomics.store(slots, ${STUCK}, running);
}, ${SAMPLE_PERIOD_MS});
`;

let users = 0;
let worker: Worker | undefined;

/**
 * Starts the sampling worker, or counts one more user of it.
 *
 * @returns What stops it again once every user has disposed of it.
 */
export function startBlockingWatch(): Disposable {
  users++;
  if (worker === undefined && typeof SharedArrayBuffer === "function") {
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: watchSlots });
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
      worker = undefined;
    },
  };
}
