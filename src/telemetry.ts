/**
 * Traces of the calls into extensions. With Deno's OpenTelemetry on
 * (`OTEL_DENO=true`), Deno registers its tracer provider with
 * `npm:@opentelemetry/api`, and every call into an extension becomes a span
 * under the active one (the request's, in the service), named after the hook,
 * step or call, with the extension's name and version and the outcome.
 * With telemetry off nothing of this runs: the manager asks once, when it is
 * made, and leaves its handlers unwrapped.
 *
 * @module
 */
import { context, type Span, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api";
import { describeError } from "./errors.ts";
import { VERSION } from "./version.ts";

/** The outcome of a call, as the attribute `nailgun.extension.outcome`. */
export type CallOutcome = "ok" | "threw" | "rejected" | "timeout" | "vetoed" | "blocked";

/** The extension a span is about. */
export interface TracedExtension {
  /** Its name. */
  readonly name: string;
  /** Its version. */
  readonly version: string;
}

/**
 * The tracer of this library, when spans are recorded; `undefined` when
 * telemetry is off (the API then hands out spans that record nothing).
 *
 * @returns The tracer, or `undefined`.
 */
export function activeTracer(): Tracer | undefined {
  const tracer = trace.getTracer("@nailgun/extensions", VERSION);
  // A span that is started and never ended is never exported.
  return tracer.startSpan("@nailgun/extensions probe").isRecording() ? tracer : undefined;
}

/**
 * Starts the span of one call into an extension, under the active span.
 *
 * @param tracer The tracer.
 * @param name The hook, step or call.
 * @param extension The extension called.
 * @returns The span; end it with {@linkcode endCallSpan}.
 */
export function startCallSpan(tracer: Tracer, name: string, extension: TracedExtension): Span {
  return tracer.startSpan(name, {
    attributes: {
      "nailgun.extension.name": extension.name,
      "nailgun.extension.version": extension.version,
    },
  }, context.active());
}

/**
 * Ends the span of a call with its outcome.
 *
 * @param span The span.
 * @param outcome How the call ended.
 * @param error What it threw or rejected with, if anything.
 */
export function endCallSpan(span: Span, outcome: CallOutcome, error?: unknown): void {
  span.setAttribute("nailgun.extension.outcome", outcome);
  if (outcome !== "ok" && outcome !== "vetoed") {
    span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error ?? outcome) });
  }
  span.end();
}

/**
 * Wraps a notification handler so that each call is a span. The wrapper
 * returns what the handler returns (the same promise), so the dispatcher
 * sees no difference; a promise that outlives `limitMs` ends its span as a
 * timeout.
 *
 * @param tracer The tracer.
 * @param hook The hook.
 * @param extension The extension whose handler it is.
 * @param fn The handler.
 * @param limitMs The time limit of a call.
 * @returns The traced handler.
 */
export function traceHandler(
  tracer: Tracer,
  hook: string,
  extension: TracedExtension,
  fn: (...args: never[]) => unknown,
  limitMs: number,
): (...args: never[]) => unknown {
  return function traced(this: unknown, ...args: never[]): unknown {
    const span = startCallSpan(tracer, hook, extension);
    let returned: unknown;
    try {
      returned = fn.apply(this, args);
    } catch (error) {
      endCallSpan(span, "threw", error);
      throw error;
    }
    if (!isThenable(returned)) {
      endCallSpan(span, "ok");
      return returned;
    }
    let ended = false;
    const end = (outcome: CallOutcome, error?: unknown) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      endCallSpan(span, outcome, error);
    };
    const timer = setTimeout(() => end("timeout"), limitMs);
    unrefTimer(timer);
    returned.then(() => end("ok"), (error) => end("rejected", error));
    return returned;
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  if (typeof timer === "number") {
    (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer);
  } else (timer as { unref?: () => void }).unref?.();
}
