/**
 * The defaults of the `nailgun.extensions` options, in one place: the config
 * schema (`config.ts`) fills them in, and the manager and the sandbox use them
 * when a host builds those directly.
 *
 * @module
 */

/** Default time limit of one handler call, in milliseconds. */
export const DEFAULT_HANDLER_TIMEOUT_MS = 10_000;

/** Default consecutive failures or timeouts after which an extension is suspended. */
export const DEFAULT_BREAKER_FAILURES = 3;

/** Default time a suspended extension waits before one call probes it, in milliseconds. */
export const DEFAULT_BREAKER_COOLDOWN_MS = 30_000;

/** Default depth of a chain of provided calls from a sandboxed extension. */
export const DEFAULT_CALL_MAX_DEPTH = 8;

/** Default provided calls a sandboxed extension may have pending at once. */
export const DEFAULT_CALL_MAX_PENDING = 64;

/** Default attempts of a durable notification before it is parked. */
export const DEFAULT_DELIVERY_MAX_ATTEMPTS = 10;

/** Default first retry delay of a durable notification, in milliseconds. */
export const DEFAULT_DELIVERY_RETRY_BASE_MS = 1_000;

/** Default longest retry delay of a durable notification, in milliseconds. */
export const DEFAULT_DELIVERY_RETRY_MAX_MS = 60_000;
