// The host side of one sandbox Worker: starts it, sends it calls, probes it
// when a call outlives the time limit, and terminates and restarts it (a
// bounded number of times) when it crashed or is stuck.
//
// Time limits: the caller (the manager) abandons a call that outlives its
// time limit, as it does in process. The supervisor's own job is to tell a
// slow call (the Worker still answers a probe: the call is left alone, as
// in process) from a stuck Worker (a loop that never yields: no answer to
// the probe, so it is terminated). One interval per supervisor, running only
// while calls are pending, checks their age; no timer per call.
import { AsyncLocalStorage } from "node:async_hooks";
import { timeLimitError } from "../dispatcher.ts";
import { describeError, type LoadPhase } from "../errors.ts";
import type { Logger } from "../extension.ts";
import type { HookName } from "../hooks.ts";
import { isModuleNotFoundError } from "../specifier.ts";
import {
  clip,
  DescriptionSchema,
  deserializeError,
  type HostMessage,
  type InvokeTarget,
  type LogLevel,
  type Outcome,
  type SandboxedDescription,
  serializeError,
  sizeOver,
  type WorkerMessage,
} from "./_protocol.ts";

/**
 * The depth of the chain of provided calls the host is answering, across
 * every sandbox of the process: a call from a Worker at depth d runs at
 * depth d, and what it invokes in a Worker (the same or another, directly or
 * through extensions in process) carries d, so a chain that comes back
 * through the host is counted whole.
 */
const callDepth = new AsyncLocalStorage<number>();

/** Where a sandboxed extension is in its life. */
export type SandboxState = "starting" | "running" | "restarting" | "down" | "closed";

/** What starting a Worker failed with, before it became an extension. */
export class StartFailure extends Error {
  /** The load phase to report. */
  readonly phase: LoadPhase;
  constructor(phase: LoadPhase, message: string) {
    super(message);
    this.name = "StartFailure";
    this.phase = phase;
  }
}

/** How a fault the sandbox reports is counted: the shape of the manager's `FaultReport`. */
export interface SandboxFaultReport {
  /** The count it goes to. */
  kind: "failures" | "timeouts";
  /** Always `true`: the sandbox logged it. */
  logged: true;
}

export interface SupervisorOptions {
  source: string;
  /** The URL of the Worker's entry module. */
  entryUrl: string;
  permissions: Deno.PermissionOptionsObject;
  handlerTimeoutMs: number;
  startTimeoutMs: number;
  probeTimeoutMs: number;
  maxRestarts: number;
  /** Where the supervisor reports crashes, terminations and restarts. */
  logger: Logger;
  /** A log line of the extension itself. */
  onLog(level: LogLevel, message: string): void;
  /** A provided call the extension makes through its context. */
  onCall(name: string, args: unknown[]): Promise<unknown>;
  /** Longest chain of provided calls, calls back through the host included. */
  maxDepth: number;
  /** Provided calls the extension may have pending at once. */
  maxPending: number;
  /** Size limit of one value the Worker sends, in bytes. */
  maxMessageBytes: number;
  /** The heap the Worker may use, in bytes: above it, it is terminated and restarted. */
  maxHeapBytes: number;
  /** How often the Worker is asked for its heap, in milliseconds. */
  heapCheckMs: number;
  /**
   * A failure of the extension that no caller sees (a limit it went over, a
   * crash, a stuck Worker): logged already, as `report` says.
   */
  onFault(name: string, error: Error, report: SandboxFaultReport): void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  label: string;
  /** `Date.now()` when it was sent. */
  sentAt: number;
  /** Whether it already caused a probe. */
  probed: boolean;
  /**
   * A notification in the Worker's queue: its `sentAt` is reset when it
   * reaches the head of the queue, when the Worker starts it.
   */
  queued?: boolean;
}

interface Starting {
  resolve(description: SandboxedDescription): void;
  reject(error: StartFailure): void;
}

const LOG_LEVELS = new Set<string>(["debug", "info", "warn", "error"]);

/**
 * A call older than the time limit has been given up on by its caller, which
 * reports it as timed out. Such a call is not rejected when its Worker is
 * terminated (the caller would see that rejection instead, should its own
 * clock run late); it is forgotten this long after twice the time limit.
 */
const FORGET_AFTER_MS = 5_000;

export class WorkerSupervisor {
  readonly #options: SupervisorOptions;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | undefined;
  #generation = 0;
  #state: SandboxState = "starting";
  #ready: Promise<void> = Promise.resolve();
  #starting: Starting | undefined;
  #probe: { id: number; timer: ReturnType<typeof setTimeout> } | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #nextId = 0;
  #restarts = 0;
  #name: string;
  #settings: Record<string, unknown> = {};
  #hasSetup = false;
  #hasTeardown = false;
  #setUp = false;
  #closing = false;
  #lastFailure: string | undefined;
  #callsPending = 0;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** The ids of the notifications in the Worker's queue, in order: the first one runs. */
  #queue: number[] = [];

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#name = options.source;
  }

  get state(): SandboxState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get lastFailure(): string | undefined {
    return this.#lastFailure;
  }

  /** Starts the first Worker and answers what the extension is. */
  async start(): Promise<SandboxedDescription> {
    try {
      const description = await this.#spawn();
      this.#name = description.name;
      this.#hasSetup = description.setup;
      this.#hasTeardown = description.teardown;
      this.#state = "running";
      this.#beat();
      return description;
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  /** Sets the extension's settings, now and after each restart. */
  configure(settings: Record<string, unknown>): void {
    this.#settings = settings;
    if (this.#state === "running") this.#post({ type: "configure", settings });
  }

  /**
   * Runs the extension's `setup()` (if it has one). A failure or a time-out
   * stops the Worker: the loader does not keep an extension whose setup failed.
   */
  async setup(settings?: Record<string, unknown>): Promise<void> {
    if (settings) this.configure(settings);
    if (this.#hasSetup) {
      try {
        await this.#withinLimit(this.invoke({ kind: "setup" }, [], "setup()"));
      } catch (error) {
        this.stop();
        throw error;
      }
    }
    this.#setUp = true;
  }

  /** Runs the extension's `teardown()` (if it has one and runs), then stops the Worker. */
  async teardown(): Promise<void> {
    this.#closing = true;
    try {
      if (this.#state === "running" && this.#hasTeardown) {
        await this.#withinLimit(this.invoke({ kind: "teardown" }, [], "teardown()"));
      }
    } finally {
      this.stop();
    }
  }

  /** `call`, or a rejection once the time limit has passed. */
  async #withinLimit<T>(call: Promise<T>): Promise<T> {
    const limit = this.#options.handlerTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        call,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(timeLimitError(limit)), limit);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Terminates the Worker for good; pending and later calls reject. */
  stop(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#terminate();
    this.#rejectPending((label) => this.#unavailable(label));
  }

  /** Runs something in the Worker; waits for a restart in progress. */
  invoke(target: InvokeTarget, args: unknown[], label: string): Promise<unknown> {
    switch (this.#state) {
      case "running":
        return this.#send(target, args, label);
      case "restarting":
        return this.#ready.then(
          () => this.#send(target, args, label),
          () => Promise.reject(this.#unavailable(label)),
        );
      default:
        return Promise.reject(this.#unavailable(label));
    }
  }

  /**
   * Sends a notification; the promise settles with its outcome. The Worker
   * runs its notifications one after another, in the order sent; each one
   * may run for the time limit from when the Worker starts it (the sweep
   * follows the Worker's queue), while the caller (the manager) gives up on
   * it at the time limit from when it was sent. While the Worker restarts,
   * the notification is sent once it runs again.
   */
  notify(hook: HookName, args: unknown[]): Promise<unknown> {
    switch (this.#state) {
      case "running":
        return this.#postNotification(hook, args);
      case "restarting":
        return this.#ready.then(
          () => this.#postNotification(hook, args),
          () => Promise.reject(this.#unavailable(hook)),
        );
      default:
        return Promise.reject(this.#unavailable(hook));
    }
  }

  /** Posts a notification to the end of the Worker's queue. */
  #postNotification(hook: HookName, args: unknown[]): Promise<unknown> {
    const worker = this.#worker;
    if (this.#state !== "running" || !worker) return Promise.reject(this.#unavailable(hook));
    const id = ++this.#nextId;
    const depth = callDepth.getStore();
    try {
      worker.postMessage(
        (depth === undefined
          ? { type: "notify", id, hook, args }
          : { type: "notify", id, hook, args, depth }) satisfies HostMessage,
      );
    } catch (error) {
      return Promise.reject(
        new TypeError(
          `Cannot send ${hook} to sandboxed extension "${this.#name}": its arguments cannot be copied to the Worker: ${
            describeError(error)
          }`,
        ),
      );
    }
    this.#sweeper ??= setInterval(() => this.#sweep(), this.#options.handlerTimeoutMs / 4);
    this.#queue.push(id);
    const sentAt = Date.now();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, label: hook, sentAt, probed: false, queued: true });
    });
  }

  /** Forgets a pending call and tells its caller. */
  #settle(
    id: number,
    call: Pending,
    outcome: { ok: true; value: unknown } | { ok: false; error: unknown },
  ): void {
    this.#pending.delete(id);
    if (call.queued) this.#dequeue(id);
    if (outcome.ok) call.resolve(outcome.value);
    else call.reject(outcome.error);
  }

  /** Takes a notification out of the queue; the next one starts now, as in the Worker. */
  #dequeue(id: number): void {
    if (this.#queue[0] === id) {
      this.#queue.shift();
      const next = this.#queue[0];
      const call = next === undefined ? undefined : this.#pending.get(next);
      if (call) call.sentAt = Date.now();
    } else {
      const index = this.#queue.indexOf(id);
      if (index !== -1) this.#queue.splice(index, 1);
    }
  }

  #send(target: InvokeTarget, args: unknown[], label: string, force = false): Promise<unknown> {
    const worker = this.#worker;
    if ((!force && this.#state !== "running") || !worker) {
      return Promise.reject(this.#unavailable(label));
    }
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      try {
        const depth = callDepth.getStore();
        worker.postMessage(
          (depth === undefined
            ? { type: "invoke", id, target, args }
            : { type: "invoke", id, target, args, depth }) satisfies HostMessage,
        );
      } catch (error) {
        reject(
          new TypeError(
            `Cannot send ${label} to sandboxed extension "${this.#name}": its arguments cannot be copied to the Worker: ${
              describeError(error)
            }`,
          ),
        );
        return;
      }
      this.#pending.set(id, { resolve, reject, label, sentAt: Date.now(), probed: false });
      this.#sweeper ??= setInterval(() => this.#sweep(), this.#options.handlerTimeoutMs / 4);
    });
  }

  #post(message: HostMessage): void {
    try {
      this.#worker?.postMessage(message);
    } catch (error) {
      this.#options.logger.error(
        `sandboxed extension "${this.#name}": cannot send ${message.type} to its Worker: ${
          describeError(error)
        }`,
      );
    }
  }

  #spawn(): Promise<SandboxedDescription> {
    const { entryUrl, permissions, source, startTimeoutMs } = this.#options;
    const generation = ++this.#generation;
    let worker: Worker;
    try {
      worker = new Worker(entryUrl, {
        type: "module",
        name: `nailgun sandbox ${source}`,
        deno: { permissions },
      });
    } catch (error) {
      return Promise.reject(
        new StartFailure("sandbox", `its Worker cannot be created: ${describeError(error)}`),
      );
    }
    this.#worker = worker;
    worker.onmessage = (event) => this.#onMessage(generation, event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#onError(generation, event.error === undefined ? event.message : event.error);
    };
    worker.onmessageerror = () =>
      this.#onError(generation, "it sent a message that cannot be read");
    return new Promise<SandboxedDescription>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#starting = undefined;
        reject(new StartFailure("sandbox", `its Worker did not start within ${startTimeoutMs} ms`));
      }, startTimeoutMs);
      this.#starting = {
        resolve: (description) => {
          clearTimeout(timer);
          this.#starting = undefined;
          resolve(description);
        },
        reject: (failure) => {
          clearTimeout(timer);
          this.#starting = undefined;
          reject(failure);
        },
      };
    });
  }

  #onMessage(generation: number, data: unknown): void {
    if (generation !== this.#generation) return;
    if (typeof data === "number") {
      // The short answer of a call that succeeded with no value.
      const pending = this.#pending.get(data);
      if (pending) this.#settle(data, pending, { ok: true, value: undefined });
      return;
    }
    const message = data as Exclude<WorkerMessage, number> | null;
    switch (message?.type) {
      case "ready": {
        const parsed = DescriptionSchema.safeParse(message.description);
        if (parsed.success) this.#starting?.resolve(parsed.data);
        else {
          this.#starting?.reject(
            new StartFailure("sandbox", "its Worker sent a description that is not valid"),
          );
        }
        break;
      }
      case "failed":
        this.#starting?.reject(
          new StartFailure(
            typeof message.phase === "string" ? message.phase : "validate",
            clip(message.message),
          ),
        );
        break;
      case "result": {
        const pending = this.#pending.get(message.id);
        if (!pending) break;
        const outcome = message.outcome as Outcome | undefined;
        const over = outcome?.ok === true
          ? sizeOver(outcome.value, this.#options.maxMessageBytes)
          : undefined;
        if (over !== undefined) {
          this.#settle(message.id, pending, {
            ok: false,
            error: this.#overLimit(
              `Cannot take the result of ${pending.label} of sandboxed extension "${this.#name}"`,
              `it is larger than the message limit of ${this.#options.maxMessageBytes} bytes: current value is at least ${over} bytes`,
            ),
          });
        } else if (outcome?.ok === true) {
          this.#settle(message.id, pending, { ok: true, value: outcome.value });
        } else {
          this.#settle(message.id, pending, {
            ok: false,
            error: deserializeError(outcome?.ok === false ? outcome.error : outcome),
          });
        }
        break;
      }
      case "call":
        this.#answerCall(
          generation,
          message.id,
          String(message.name),
          message.args,
          Number(message.depth),
        );
        break;
      case "log":
        if (LOG_LEVELS.has(message.level)) {
          this.#options.onLog(message.level, clip(message.message));
        }
        break;
      case "pong":
        if (
          typeof message.heap === "number" && message.heap > this.#options.maxHeapBytes &&
          this.#state === "running"
        ) {
          const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
          this.#fail(
            `used ${mb(message.heap)} MB of heap, more than the limit maxHeapMb (${
              mb(this.#options.maxHeapBytes)
            } MB)`,
          );
          break;
        }
        if (this.#probe?.id === message.id) {
          clearTimeout(this.#probe.timer);
          this.#probe = undefined;
        }
        break;
      case "crash":
        if (this.#starting) {
          this.#starting.reject(
            new StartFailure(
              "import",
              typeof message.error === "string"
                ? `importing it in the sandbox threw: ${clip(message.error)}`
                : `its Worker crashed while loading: ${clip(message.reason)}`,
            ),
          );
        } else {
          this.#fail(`crashed: ${clip(message.reason)}`);
        }
        break;
    }
  }

  #onError(generation: number, error: unknown): void {
    if (generation !== this.#generation) return;
    const text = clip(describeError(error)).replaceAll(this.#options.entryUrl, "the sandbox entry");
    if (this.#starting) {
      this.#starting.reject(
        isModuleNotFoundError(text)
          ? new StartFailure("resolve", `the module cannot be found: ${text}`)
          : new StartFailure("import", `importing it in the sandbox failed: ${text}`),
      );
    } else {
      this.#fail(`crashed: ${text}`);
    }
  }

  #answerCall(
    generation: number,
    id: unknown,
    name: string,
    args: unknown,
    depth: number,
  ): void {
    const reply = (outcome: Outcome) => {
      if (generation !== this.#generation || typeof id !== "number") return;
      try {
        this.#worker?.postMessage({ type: "reply", id, outcome } satisfies HostMessage);
      } catch (error) {
        this.#post({
          type: "reply",
          id,
          outcome: {
            ok: false,
            error: serializeError(
              new TypeError(`the result of "${name}" cannot be copied: ${describeError(error)}`),
            ),
          },
        });
      }
    };
    const refused = this.#callRefusal(name, args, depth);
    if (refused) {
      reply({ ok: false, error: serializeError(refused) });
      return;
    }
    this.#callsPending++;
    callDepth.run(depth, () =>
      Promise.resolve()
        .then(() => this.#options.onCall(name, args as unknown[]))
        .finally(() => this.#callsPending--)
        .then(
          (value) => reply({ ok: true, value }),
          (error) => reply({ ok: false, error: serializeError(error) }),
        ));
  }

  /** Why a call from the Worker is refused at once, if it is: a limit it goes over. */
  #callRefusal(name: string, args: unknown, depth: number): Error | undefined {
    const subject = `Cannot call ${JSON.stringify(name)} from sandboxed extension "${this.#name}"`;
    const { maxDepth, maxPending, maxMessageBytes } = this.#options;
    if (!Array.isArray(args) || !Number.isInteger(depth) || depth < 1) {
      return this.#overLimit(subject, "its Worker sent a call that is not valid");
    }
    if (depth > maxDepth) {
      return this.#overLimit(
        subject,
        `the chain of provided calls is deeper than the limit calls.maxDepth (${maxDepth}), calls back through the host included: current value is ${depth}`,
      );
    }
    if (this.#callsPending >= maxPending) {
      return this.#overLimit(
        subject,
        `it has more provided calls pending at once than the limit calls.maxPending (${maxPending}): current value is ${
          this.#callsPending + 1
        }`,
      );
    }
    const over = sizeOver(args, maxMessageBytes);
    if (over !== undefined) {
      return this.#overLimit(
        subject,
        `its arguments are larger than the message limit of ${maxMessageBytes} bytes: current value is at least ${over} bytes`,
      );
    }
    return undefined;
  }

  /** An error for a limit the extension went over: logged with its name and reported as its fault. */
  #overLimit(subject: string, problem: string): RangeError {
    const error = new RangeError(`${subject}: ${problem}`);
    this.#options.logger.error(error.message);
    this.#fault(error);
    return error;
  }

  /** Reports a failure of the extension (already logged) to `onFault`. */
  #fault(error: Error): void {
    try {
      this.#options.onFault(this.#name, error, { kind: "failures", logged: true });
    } catch (caught) {
      this.#options.logger.error(
        `sandboxed extension "${this.#name}": its fault cannot be recorded: ${
          describeError(caught)
        }`,
      );
    }
  }

  #sweep(): void {
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      return;
    }
    const limit = this.#options.handlerTimeoutMs;
    const now = Date.now();
    // The notification the Worker runs: past the limit, the Worker moves on
    // to the next one, and so does the host.
    const head = this.#queue[0] === undefined ? undefined : this.#pending.get(this.#queue[0]);
    if (head && now - head.sentAt >= limit) {
      this.#settle(this.#queue[0]!, head, { ok: false, error: timeLimitError(limit) });
      this.#probeFor(head.label);
    }
    for (const [id, call] of this.#pending) {
      if (call.queued) continue; // timed from the head of the queue, above
      const age = now - call.sentAt;
      if (age < limit) break; // sent in order: the rest are younger
      if (age >= 2 * limit + FORGET_AFTER_MS) {
        // Long abandoned by the caller: forget it.
        this.#settle(id, call, { ok: false, error: timeLimitError(limit) });
      } else if (!call.probed) {
        call.probed = true;
        this.#probeFor(call.label);
      }
    }
  }

  #probeFor(label: string): void {
    if (this.#probe || this.#state !== "running") return;
    const limit = this.#options.handlerTimeoutMs;
    const probeMs = this.#options.probeTimeoutMs;
    const id = ++this.#nextId;
    const timer = setTimeout(() => {
      this.#probe = undefined;
      this.#fail(
        `is stuck: ${label} did not settle within ${limit} ms and the Worker did not answer a probe within ${probeMs} ms more`,
      );
    }, probeMs);
    this.#probe = { id, timer };
    this.#post({ type: "ping", id });
  }

  /** Asks the running Worker for its heap now and then (a ping that is no probe). */
  #beat(): void {
    if (this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(() => {
      if (this.#state === "running") this.#post({ type: "ping", id: ++this.#nextId });
    }, this.#options.heapCheckMs);
    Deno.unrefTimer(this.#heartbeat);
  }

  #fail(reason: string): void {
    if (this.#state === "restarting") {
      // The restart in progress failed; its loop decides what happens next.
      this.#rejectPending(() => new Error(`its Worker ${reason}`));
      return;
    }
    if (this.#state !== "running") return;
    if (this.#closing) {
      this.stop();
      return;
    }
    this.#terminate();
    this.#lastFailure = reason;
    this.#rejectPending(() => new Error(`its Worker was terminated because it ${reason}`));
    this.#fault(new Error(`its Worker was terminated because it ${reason}`));
    if (this.#restarts >= this.#options.maxRestarts) {
      this.#goDown(reason);
      return;
    }
    this.#restarts++;
    this.#options.logger.error(
      `sandboxed extension "${this.#name}" ${reason}: its Worker was terminated and is restarted (restart ${this.#restarts} of ${this.#options.maxRestarts})`,
    );
    this.#state = "restarting";
    this.#ready = this.#restart();
    this.#ready.catch(() => {});
  }

  async #restart(): Promise<void> {
    while (true) {
      let reason: string;
      try {
        const description = await this.#spawn();
        if (description.name !== this.#name) {
          throw new Error(`it came back as another extension, "${description.name}"`);
        }
        this.#post({ type: "configure", settings: this.#settings });
        if (this.#setUp && this.#hasSetup) {
          await this.#withinLimit(this.#send({ kind: "setup" }, [], "setup()", true));
        }
        if (this.#state !== "restarting") throw this.#unavailable("the restart");
        this.#state = "running";
        this.#beat();
        this.#options.logger.info(`sandboxed extension "${this.#name}" restarted`);
        return;
      } catch (error) {
        if (this.#state !== "restarting") throw this.#unavailable("the restart");
        reason = `did not restart: ${describeError(error)}`;
      }
      this.#terminate();
      this.#lastFailure = reason;
      this.#rejectPending(() => new Error(`its Worker ${reason}`));
      if (this.#restarts >= this.#options.maxRestarts) {
        this.#goDown(reason);
        throw this.#unavailable("the restart");
      }
      this.#restarts++;
      this.#options.logger.error(
        `sandboxed extension "${this.#name}" ${reason}: it is restarted again (restart ${this.#restarts} of ${this.#options.maxRestarts})`,
      );
    }
  }

  #goDown(reason: string): void {
    this.#state = "down";
    this.#options.logger.error(
      `sandboxed extension "${this.#name}" ${reason}: its Worker was terminated and stays down: it failed ${
        this.#restarts + 1
      } times and the limit is ${this.#options.maxRestarts} restarts`,
    );
  }

  #terminate(): void {
    this.#generation++;
    if (this.#probe) {
      clearTimeout(this.#probe.timer);
      this.#probe = undefined;
    }
    this.#starting?.reject(new StartFailure("sandbox", "it was stopped while starting"));
    if (this.#sweeper !== undefined && this.#state === "closed") {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  /**
   * Rejects the pending calls: all of them when the extension is stopped for
   * good, else those its caller still waits for (younger than the time
   * limit); the older ones are left to the sweep.
   */
  #rejectPending(errorFor: (label: string) => Error): void {
    const limit = this.#options.handlerTimeoutMs;
    const now = Date.now();
    const all = this.#state === "closed";
    for (const [id, call] of this.#pending) {
      if (!all && now - call.sentAt >= limit) {
        call.probed = true;
        continue;
      }
      this.#settle(id, call, { ok: false, error: errorFor(call.label) });
    }
    // The Worker that had the queue is gone: what is left is timed as any call.
    for (const id of this.#queue) {
      const call = this.#pending.get(id);
      if (call) call.queued = false;
    }
    this.#queue = [];
  }

  #unavailable(label: string): Error {
    const subject = `Cannot run ${label} of sandboxed extension "${this.#name}"`;
    if (this.#state === "down") {
      return new Error(
        `${subject}: it is down: its Worker failed ${
          this.#restarts + 1
        } times and the limit is ${this.#options.maxRestarts} restarts: the last time it ${this.#lastFailure}`,
      );
    }
    return new Error(`${subject}: it was torn down`);
  }
}
