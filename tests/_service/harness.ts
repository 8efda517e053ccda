// Starts the reference Nailgun for a test: a temporary directory with its own
// extensions.json and SQLite file, real HTTP on 127.0.0.1, a quiet log.
import { join } from "node:path";
import type { Logger } from "../../mod.ts";
import { createLogger } from "../../src/service/logger.ts";
import { type RunningNailgun, startNailgun } from "../../src/service/main.ts";
import { databaseFor } from "../_postgres/store_choice.ts";

/** The directory of the fixture extensions. */
export const FIXTURES: string = new URL("./fixtures/", import.meta.url).pathname;

/** The path of a fixture extension, e.g. `fixture("rec_a")`. */
export function fixture(name: string): string {
  return join(FIXTURES, `${name}.ts`);
}

/** What a test service is started with. */
export interface HarnessOptions {
  /** Fixture names (or absolute paths) listed in extensions.json, in order. */
  load?: string[];
  /** Extra members of the `nailgun.extensions` section. */
  section?: Record<string, unknown>;
  /** The project directory to reuse (to restart on the same database); default a new one. */
  dir?: string;
  /** Keep the directory after the service stops (to restart in it). */
  keep?: boolean;
  /** The database URL; default the SQLite file `<dir>/nailgun.db`. */
  databaseUrl?: string;
  /** The largest request body, in bytes. */
  bodyLimit?: number;
  /** How long a request body may take to arrive, in milliseconds. */
  requestTimeoutMs?: number;
}

/** An HTTP answer with its body read. */
export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** A running test service and a client for it. */
export interface TestNailgun {
  service: RunningNailgun;
  dir: string;
  /** Every line the service logged. */
  logs: string[];
  /** Calls the API: `api("POST", "/nodes/", {mac})`; paths are below /api/v1. */
  api(method: string, path: string, body?: unknown, init?: RequestInit): Promise<Answer>;
}

/** The database URL a test uses in `dir`. */
export function testDatabaseUrl(dir: string): string {
  return join(dir, "nailgun.db");
}

/** Writes the extensions.json of a test project. */
export async function writeConfig(dir: string, options: HarnessOptions): Promise<string> {
  const file = join(dir, "extensions.json");
  const load = (options.load ?? []).map((name) => name.startsWith("/") ? name : fixture(name));
  await Deno.writeTextFile(
    file,
    JSON.stringify({ "nailgun.extensions": { load, discover: false, ...options.section } }),
  );
  return file;
}

/** Makes a client of a service at `url`. */
export function client(url: string): TestNailgun["api"] {
  return async (method, path, body, init = {}) => {
    const response = await fetch(`${url}/api/v1${path}`, {
      method,
      body: body === undefined ? init.body : JSON.stringify(body),
      headers: body === undefined ? init.headers : { "content-type": "application/json" },
      ...(init.signal ? { signal: init.signal } : {}),
    });
    const text = await response.text();
    let parsed: unknown = text;
    if (response.headers.get("content-type")?.includes("application/json")) {
      parsed = JSON.parse(text);
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };
}

/** Starts a service, runs `fn`, stops the service and removes the directory. */
export async function withNailgun(
  options: HarnessOptions,
  fn: (nailgun: TestNailgun) => Promise<void>,
): Promise<void> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "nailgun_service_" });
  const logs: string[] = [];
  const logger: Logger = createLogger({ write: (line) => logs.push(line), timestamps: false });
  const database = options.databaseUrl === undefined ? await databaseFor(dir) : undefined;
  try {
    const configFile = await writeConfig(dir, options);
    const service = await startNailgun({
      port: 0,
      hostname: "127.0.0.1",
      databaseUrl: options.databaseUrl ?? database!.url,
      configFile,
      logger,
      bodyLimit: options.bodyLimit,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    try {
      await fn({ service, dir, logs, api: client(service.url) });
    } finally {
      await service.shutdown();
    }
  } finally {
    if (!options.keep && !options.dir) {
      await database?.drop();
      await Deno.remove(dir, { recursive: true });
    }
  }
}

/** A MAC address made from a number, e.g. `mac(1)` is `52:54:00:00:00:01`. */
export function mac(n: number): string {
  const hex = n.toString(16).padStart(6, "0");
  return `52:54:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}
