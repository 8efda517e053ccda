/**
 * Helpers of the install tests: temporary workspaces, copies of this project
 * (to publish the library to the JSR mirror, and as the user's Nailgun
 * project), and the reference service run as a subprocess on a free loopback
 * port with a temporary database.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { JsrMirror, RunDenoResult } from "../_registry/jsr_mirror.ts";

/** The root of this repository. */
export const REPO_ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Environment variable naming the file a test package writes when its code runs. */
export const MARKER_ENV = "NAILGUN_TEST_MARKER";

/**
 * Top-level entries of the repository that a user's clone has but that
 * neither the published library nor the service needs, and the project's
 * own `extensions.json` (each test writes the one of its host project).
 */
const NOT_COPIED = new Set([
  ".git",
  ".nailgun",
  "node_modules",
  ".ci",
  "tests",
  "examples",
  "benchmarks",
  "extensions.json",
]);

/** Temporary directories of one test. */
export interface Workspace {
  /** The root of the workspace. */
  readonly root: string;
  /** The `DENO_DIR` of every `deno` process of the test. */
  readonly denoDir: string;
  /** A path in the workspace. */
  path(...parts: string[]): string;
  /** Removes the workspace. */
  cleanup(): Promise<void>;
}

/**
 * Makes a temporary workspace with its own `DENO_DIR`.
 *
 * @param prefix The prefix of the directory name.
 * @returns The workspace.
 */
export async function makeWorkspace(prefix: string): Promise<Workspace> {
  const root = await Deno.makeTempDir({ prefix: `nailgun-${prefix}-` });
  const denoDir = join(root, "deno-dir");
  await Deno.mkdir(denoDir);
  return {
    root,
    denoDir,
    path: (...parts) => join(root, ...parts),
    cleanup: () => Deno.remove(root, { recursive: true }).catch(() => {}),
  };
}

/**
 * Copies this project, as a user's clone holds it, without tests, examples,
 * benchmarks, local state and `extensions.json`.
 *
 * @param dest The directory to create.
 * @returns `dest`.
 */
export async function copyProject(dest: string): Promise<string> {
  await Deno.mkdir(dest, { recursive: true });
  for await (const entry of Deno.readDir(REPO_ROOT)) {
    if (NOT_COPIED.has(entry.name) || /\.db(-wal|-shm)?$/.test(entry.name)) continue;
    await copy(join(REPO_ROOT, entry.name), join(dest, entry.name));
  }
  return dest;
}

/**
 * Copies a directory of this repository, e.g. `examples/logging`.
 *
 * @param from The directory, relative to the repository root.
 * @param dest The directory to create.
 * @returns `dest`.
 */
export async function copyRepoDir(from: string, dest: string): Promise<string> {
  await copy(join(REPO_ROOT, from), dest);
  return dest;
}

async function copy(from: string, to: string): Promise<void> {
  const info = await Deno.lstat(from);
  if (info.isDirectory) {
    await Deno.mkdir(to, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      if (entry.name === "node_modules" || entry.name === ".nailgun") continue;
      await copy(join(from, entry.name), join(to, entry.name));
    }
  } else if (info.isFile) {
    await Deno.copyFile(from, to);
  }
}

/**
 * Publishes this library (`@nailgun/extensions`, a copy of the repository
 * root) to the JSR mirror with the real `deno publish`, as a release would.
 *
 * @param mirror The mirror.
 * @param ws The workspace; the copy goes to `<ws>/library`.
 */
export async function publishLibrary(mirror: JsrMirror, ws: Workspace): Promise<void> {
  const dir = await copyProject(ws.path("library"));
  await mirror.publish(dir, { env: { DENO_DIR: ws.denoDir } });
}

/**
 * A folder name such as desktop users have: a space, `#`, `%` (a literal
 * `%20`) and non-ASCII letters. A path that holds it must work as any other.
 */
export const AWKWARD_FOLDER = "My Projects #1 %20 Ünïcødé";

/**
 * Makes the user's Nailgun project: a copy of this project with an
 * `extensions.json` that lists nothing, so every extension comes from
 * import-map discovery.
 *
 * @param ws The workspace.
 * @param folder The project's folder in the workspace (default `nailgun`),
 * e.g. `join(AWKWARD_FOLDER, "nailgun")`.
 * @returns The project directory.
 */
export async function makeServiceHost(ws: Workspace, folder = "nailgun"): Promise<string> {
  const dir = await copyProject(ws.path(folder));
  await writeJson(join(dir, "extensions.json"), {
    "nailgun.extensions": { load: [], discover: true },
  });
  return dir;
}

/**
 * Writes files, creating their directories.
 *
 * @param dir The base directory.
 * @param files Contents by relative path.
 */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    await Deno.mkdir(dirname(full), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
}

/**
 * Writes a JSON file.
 *
 * @param file The file.
 * @param value The value.
 */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Reads a JSON file.
 *
 * @param file The file.
 * @returns The value.
 */
export async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(file));
}

/**
 * Whether a path exists.
 *
 * @param path The path.
 * @returns `true` when it exists.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Asserts that a `deno` run succeeded, showing its output when it did not.
 *
 * @param out The run.
 * @param what What was run, for the message.
 */
export function assertOk(out: RunDenoResult, what: string): void {
  assert.ok(out.success, `${what} failed (exit ${out.code}):\n${out.output}`);
}

/**
 * A free TCP port on 127.0.0.1.
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The reference service, running. */
export interface RunningService {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** What the service printed so far, stdout and stderr together. */
  output(): string;
  /** Fetches `/api/v1<path>` and parses the JSON answer, asserting the status. */
  json(path: string, init?: RequestInit, status?: number): Promise<unknown>;
  /** Waits until the output matches, and returns the match. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Stops the service with SIGTERM (SIGKILL after 10 s) and returns its exit code. */
  stop(): Promise<number>;
}

/** Options of {@linkcode startService}. */
export interface StartServiceOptions {
  /** Environment of the service (`JSR_URL`, `DENO_DIR`, …); `PORT` and `DATABASE_URL` are set. */
  env: Record<string, string>;
  /** The SQLite database file. */
  database: string;
  /** How long the service may take to answer (default 30 s). */
  startTimeoutMs?: number;
}

const decoder = new TextDecoder();

/**
 * Starts the user's Nailgun as the README says, `deno task run`, in `hostDir`,
 * on a free loopback port, and waits until it answers `GET /api/v1/version/`.
 *
 * @param hostDir The Nailgun project.
 * @param options Environment and database.
 * @returns The running service; stop it in a `finally`.
 */
export async function startService(
  hostDir: string,
  options: StartServiceOptions,
): Promise<RunningService> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "run"],
    cwd: hostDir,
    env: {
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      ...options.env,
      PORT: String(port),
      DATABASE_URL: options.database,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const collected = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exitCode: number | undefined;
  const status = child.status.then((s) => {
    exitCode = s.code;
    return s.code;
  });

  let stopped: Promise<number> | undefined;
  const stop = (): Promise<number> => {
    stopped ??= (async () => {
      if (exitCode === undefined) {
        try {
          child.kill("SIGTERM");
        } catch { /* exited meanwhile */ }
        const timer = setTimeout(() => {
          // `deno task` forwards SIGTERM to the service; should the service
          // not stop, kill the process the task started, then the task.
          for (const pid of childPids(child.pid)) {
            try {
              Deno.kill(pid, "SIGKILL");
            } catch { /* exited meanwhile */ }
          }
          try {
            child.kill("SIGKILL");
          } catch { /* exited meanwhile */ }
        }, 10_000);
        await status;
        clearTimeout(timer);
      }
      await collected.catch(() => {});
      return exitCode!;
    })();
    return stopped;
  };

  const waitFor = async <T>(
    what: string,
    timeoutMs: number,
    probe: () => Promise<T | undefined>,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = await probe();
      if (found !== undefined) return found;
      if (exitCode !== undefined) {
        await collected.catch(() => {});
        throw new Error(`the service exited with code ${exitCode} before ${what}:\n${text}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the service did not ${what} within ${timeoutMs} ms:\n${text}`);
  };

  const service: RunningService = {
    url,
    output: () => text,
    async json(path, init, expected = 200) {
      const response = await fetch(`${url}/api/v1${path}`, {
        ...init,
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.text();
      assert.equal(
        response.status,
        expected,
        `${init?.method ?? "GET"} ${path} answered ${response.status}: ${body}\n${text}`,
      );
      return body === "" ? undefined : JSON.parse(body);
    },
    waitForOutput: (pattern, timeoutMs = 10_000) =>
      waitFor(
        `printed ${pattern}`,
        timeoutMs,
        () => Promise.resolve(text.match(pattern) ?? undefined),
      ),
    stop,
  };

  try {
    await waitFor("answered GET /api/v1/version/", options.startTimeoutMs ?? 30_000, async () => {
      try {
        const response = await fetch(`${url}/api/v1/version/`, {
          signal: AbortSignal.timeout(2_000),
        });
        await response.body?.cancel();
        return response.ok ? true : undefined;
      } catch {
        return undefined;
      }
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return service;
}

/** The ids of the processes `pid` started (Linux; none elsewhere). */
function childPids(pid: number): number[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter((text) => text !== "").map(Number);
  } catch {
    return [];
  }
}

/** A loaded extension as `GET /api/v1/extensions/` answers it. */
export interface ListedExtension {
  /** Its name. */
  name: string;
  /** Its version. */
  version: string;
  /** What it does. */
  description: string;
  /** The calls it provides. */
  provides: string[];
  /** Where it came from. */
  source: string;
}

/**
 * The extensions the service lists.
 *
 * @param service The running service.
 * @returns `GET /api/v1/extensions/`.
 */
export async function listExtensions(service: RunningService): Promise<ListedExtension[]> {
  return await service.json("/extensions/") as ListedExtension[];
}

/** The load report as `GET /api/v1/extensions/status/` and `deno task extensions --json` show it. */
export interface StatusReport {
  /** What loaded. */
  loaded: ListedExtension[];
  /** What failed. */
  failed: { source: string; name?: string; phase: string; message: string }[];
  /** What was passed over (`GET /api/v1/extensions/status/` only). */
  skipped: { source: string; reason: string }[];
}

/**
 * Creates a node through the REST API.
 *
 * @param service The running service.
 * @param mac The node's MAC address.
 * @returns The stored node.
 */
export async function createNode(
  service: RunningService,
  mac: string,
): Promise<{ id: number; mac: string }> {
  return await service.json("/nodes/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ mac }),
  }, 201) as { id: number; mac: string };
}
