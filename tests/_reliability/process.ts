// The reference Nailgun as a child process (`deno run -A src/service/main.ts`),
// for the tests that kill it, signal it or read its exit code: output
// collected line by line, the URL read from the "listening" line, every wait
// bounded in time.
import { dirname, join } from "node:path";

/** The repository root. */
export const ROOT: string = new URL("../../", import.meta.url).pathname;

/** The service's entry point. */
export const MAIN: string = join(ROOT, "src/service/main.ts");

/** How to start the service. */
export interface SpawnOptions {
  /** The extensions.json file (`EXTENSIONS_CONFIG`). */
  config: string;
  /** The SQLite database file (`DATABASE_URL`). */
  database: string;
  /** More environment variables, e.g. `JSR_URL`, `DENO_DIR`, `LOG_LEVEL`. */
  env?: Record<string, string>;
}

/** A running (or exited) service process. */
export interface ServiceProcess {
  /** The child process. */
  readonly child: Deno.ChildProcess;
  /** Every line written to standard output so far. */
  readonly stdout: string[];
  /** Every line written to standard error so far. */
  readonly stderr: string[];
  /** Settles with the exit status once both outputs are read to their end. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Waits until a line of standard output matches, at most `ms`. */
  waitForLine(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Waits for the "listening" line and answers the base URL, e.g. `http://127.0.0.1:41234`. */
  ready(ms?: number): Promise<string>;
  /** Both outputs, for assertion messages. */
  output(): string;
  /** Kills the process if it still runs (SIGKILL) and waits for it; safe to call twice. */
  dispose(): Promise<Deno.CommandStatus>;
}

async function collect(stream: ReadableStream<Uint8Array>, lines: string[], onLine: () => void) {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      lines.push(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      onLine();
    }
  }
  if (buffered) {
    lines.push(buffered);
    onLine();
  }
}

/**
 * A copy of the repository's lock file beside `config`: the service runs with
 * the locked versions, and what it resolves at run time (e.g. a package of the
 * JSR mirror) is written to the copy, never to the repository.
 */
function lockFileFor(config: string): string {
  const copy = join(dirname(config), "deno.lock");
  try {
    Deno.statSync(copy);
  } catch {
    try {
      Deno.copyFileSync(join(ROOT, "deno.lock"), copy);
    } catch {
      // no lock file in the repository: the run starts an empty one in the copy
    }
  }
  return copy;
}

/**
 * Starts `deno run -A src/service/main.ts` on a free loopback port (`PORT=0`),
 * with a copy of the lock file (see `lockFileFor`).
 *
 * @param options The config, the database and more environment.
 * @returns The process; call `ready()` for its URL and `dispose()` in a `finally`.
 */
export function spawnService(options: SpawnOptions): ServiceProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--lock=${lockFileFor(options.config)}`,
      "--unstable-worker-options",
      MAIN,
    ],
    cwd: ROOT,
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: options.database,
      EXTENSIONS_CONFIG: options.config,
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      ...options.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  let closed = false;
  const drained = Promise.all([
    collect(child.stdout, stdout, wake),
    collect(child.stderr, stderr, wake),
  ]);
  const exited = drained.then(() => child.status).finally(() => {
    closed = true;
    wake();
  });
  const output = () => `--- stdout\n${stdout.join("\n")}\n--- stderr\n${stderr.join("\n")}`;

  function waitForLine(pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let checked = 0;
      const check = () => {
        for (; checked < stdout.length; checked++) {
          const match = stdout[checked]!.match(pattern);
          if (match) return finish(() => resolve(match));
        }
        if (closed) {
          finish(() =>
            reject(new Error(`the service exited before printing ${pattern}\n${output()}`))
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`no line matched ${pattern} within ${ms} ms\n${output()}`))
          ),
        ms,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });
  }

  return {
    child,
    stdout,
    stderr,
    exited,
    waitForLine,
    output,
    async ready(ms?: number): Promise<string> {
      const [, url] = await waitForLine(
        /Nailgun listening on (http:\/\/127\.0\.0\.1:\d+)\/api\/v1\//,
        ms,
      );
      return url!;
    },
    async dispose(): Promise<Deno.CommandStatus> {
      try {
        child.kill("SIGKILL");
      } catch {
        // it has exited already
      }
      return await exited;
    },
  };
}

/**
 * Runs the service until it exits on its own (e.g. a config error), at most `ms`.
 *
 * @param options The config, the database and more environment.
 * @param ms The time limit; the process is killed after it.
 * @returns The exit code and both outputs.
 */
export async function runServiceToExit(
  options: SpawnOptions,
  ms = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const service = spawnService(options);
  const timer = setTimeout(() => service.dispose(), ms);
  try {
    const { code } = await service.exited;
    return { code, stdout: service.stdout.join("\n"), stderr: service.stderr.join("\n") };
  } finally {
    clearTimeout(timer);
    await service.dispose();
  }
}

/** What a test project holds: a directory with extensions.json and a database path. */
export interface Project {
  /** The directory. */
  readonly dir: string;
  /** The extensions.json file. */
  readonly config: string;
  /** The SQLite database file. */
  readonly database: string;
  /** Removes the directory. */
  remove(): Promise<void>;
}

/** The `nailgun.extensions` section of a project, or the raw text of its extensions.json. */
export type ProjectConfig = Record<string, unknown> | string;

/**
 * Makes a temporary project whose extensions.json holds `section` as its
 * `nailgun.extensions` section.
 *
 * @param section The section, e.g. `{load: [...], discover: false}`, or raw
 * text for the whole file; or a function of the project's directory that answers either.
 * @returns The project.
 */
export async function makeProject(
  section: ProjectConfig | ((dir: string) => ProjectConfig),
): Promise<Project> {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_reliability_" });
  const config = join(dir, "extensions.json");
  const content = typeof section === "function" ? section(dir) : section;
  await Deno.writeTextFile(
    config,
    typeof content === "string" ? content : JSON.stringify({ "nailgun.extensions": content }),
  );
  return {
    dir,
    config,
    database: join(dir, "nailgun.db"),
    remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}
