/**
 * A throwaway npm registry (Verdaccio) on loopback, for tests.
 *
 * Verdaccio is installed outside the repo tree by `tests/_registry/install_verdaccio.sh`
 * into `.nailgun/tools/verdaccio` (gitignored, so `deno fmt`/`deno lint` never see
 * its `node_modules`). {@linkcode startVerdaccio} starts it on a free 127.0.0.1 port
 * with a fresh storage directory and a config where:
 *
 * - packages matching `localPackages` (default {@linkcode DEFAULT_LOCAL_PACKAGES})
 *   are served from local storage only: they can be published anonymously and
 *   are never looked up upstream;
 * - every other package is proxied from the real npm registry (`upstream`), so a
 *   package published here may depend on e.g. `zod`. Pass `upstream: null` for an
 *   offline registry.
 *
 * Point Deno at it with `NPM_CONFIG_REGISTRY=<registry.url>` in the environment of
 * the `deno` process, and give it `--min-dep-age=0` (or `"minimumDependencyAge": 0`
 * in the project's deno.json): a package published a moment ago is otherwise too
 * new for Deno's default minimum dependency age.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Repo root (this file is at tests/_registry/verdaccio.ts). */
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Where install_verdaccio.sh installs Verdaccio. */
export const VERDACCIO_DIR = join(REPO_ROOT, ".nailgun", "tools", "verdaccio");
/** The Verdaccio CLI script, run with `node`. */
export const VERDACCIO_BIN = join(VERDACCIO_DIR, "node_modules", "verdaccio", "bin", "verdaccio");
/** The script that installs Verdaccio. */
export const INSTALL_SCRIPT = "tests/_registry/install_verdaccio.sh";

/** Names published locally and never proxied unless `localPackages` says otherwise. */
export const DEFAULT_LOCAL_PACKAGES: readonly string[] = [
  "@test/*",
  "@nailgun-test/*",
  "test-*",
  "*-ext",
];

export interface StartVerdaccioOptions {
  /**
   * Verdaccio package patterns (minimatch, as in its config) that are local only:
   * anyone may publish them and they are never fetched from `upstream`.
   * Default {@linkcode DEFAULT_LOCAL_PACKAGES}.
   */
  localPackages?: readonly string[];
  /**
   * Registry that all other packages are proxied from; `null` for none.
   * Default `https://registry.npmjs.org/`.
   */
  upstream?: string | null;
  /** Verdaccio log level (default `"warn"`); the log is kept and shown on failures. */
  logLevel?: "fatal" | "error" | "warn" | "http" | "info" | "debug" | "trace";
  /** How long to wait for Verdaccio to answer (default 30 000 ms). */
  startTimeoutMs?: number;
}

export interface NpmPublishOptions {
  /** Publish under this dist-tag (default `latest`). */
  tag?: string;
  /** Bound on the `npm publish` run (default 60 000 ms). */
  timeoutMs?: number;
}

/** A package version that the registry serves. */
export interface PublishedNpmPackage {
  name: string;
  version: string;
}

/** A running Verdaccio. */
export interface NpmRegistry extends AsyncDisposable {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:40124/`: the value for `NPM_CONFIG_REGISTRY`. */
  readonly url: string;
  readonly port: number;
  /** Temp directory holding the config, storage and `.npmrc`; removed by `close()`. */
  readonly dir: string;
  /** Path of an `.npmrc` with the registry and an auth token, for `npm --userconfig`. */
  readonly npmrc: string;
  /** `npm publish` the package in `packageDir` (its package.json gives name and version). */
  publish(packageDir: string, options?: NpmPublishOptions): Promise<PublishedNpmPackage>;
  /** Verdaccio's output so far. */
  log(): string;
  /** Stop Verdaccio (kills the process) and remove its temp directory. */
  close(): Promise<void>;
}

/** True if install_verdaccio.sh has been run. */
export function verdaccioInstalled(): boolean {
  try {
    return Deno.statSync(VERDACCIO_BIN).isFile;
  } catch {
    return false;
  }
}

/** Start Verdaccio on a free 127.0.0.1 port. Close it with `close()` or `await using`. */
export async function startVerdaccio(options: StartVerdaccioOptions = {}): Promise<NpmRegistry> {
  if (!verdaccioInstalled()) {
    throw new Error(
      `Verdaccio is not installed (missing ${VERDACCIO_BIN}). ` +
        `Run \`bash ${INSTALL_SCRIPT}\` from the repo root first.`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "nailgun-verdaccio-" });
  let child: Deno.ChildProcess | undefined;
  let logText = "";
  let logDone: Promise<void> = Promise.resolve();
  try {
    const port = freePort();
    const url = `http://127.0.0.1:${port}/`;
    const upstream = options.upstream === undefined
      ? "https://registry.npmjs.org/"
      : options.upstream;
    const configPath = join(dir, "config.yaml");
    await Deno.writeTextFile(
      configPath,
      verdaccioConfig({
        storage: join(dir, "storage"),
        htpasswd: join(dir, "htpasswd"),
        localPackages: options.localPackages ?? DEFAULT_LOCAL_PACKAGES,
        upstream,
        logLevel: options.logLevel ?? "warn",
      }),
    );

    child = new Deno.Command("node", {
      args: [VERDACCIO_BIN, "--config", configPath, "--listen", `127.0.0.1:${port}`],
      cwd: dir,
      env: { NODE_ENV: "production", VERDACCIO_HANDLE_KILL_SIGNALS: "true" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const decoder = new TextDecoder();
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        if (logText.length < 1_000_000) logText += decoder.decode(chunk, { stream: true });
      }
    };
    logDone = Promise.all([collect(child.stdout), collect(child.stderr)]).then(() => {});
    const exited = child.status;

    await waitUntilUp(url, exited, options.startTimeoutMs ?? 30_000, () => logText);
    const token = await createUser(url);
    const npmrc = join(dir, ".npmrc");
    const hostPath = url.replace(/^https?:/, "");
    await Deno.writeTextFile(npmrc, `registry=${url}\n${hostPath}:_authToken=${token}\n`);

    const proc = child;
    let closed = false;
    const registry: NpmRegistry = {
      url,
      port,
      dir,
      npmrc,
      log: () => logText,
      async publish(packageDir, publishOptions = {}) {
        const pkg = JSON.parse(await Deno.readTextFile(join(packageDir, "package.json")));
        const args = ["publish", "--registry", url, "--userconfig", npmrc, "--access", "public"];
        args.push("--tag", publishOptions.tag ?? "latest");
        const out = await runCommand("npm", args, {
          cwd: packageDir,
          timeoutMs: publishOptions.timeoutMs ?? 60_000,
          env: { npm_config_cache: join(dir, "npm-cache"), npm_config_update_notifier: "false" },
        });
        if (!out.success) {
          throw new Error(
            `npm publish of ${pkg.name}@${pkg.version} to Verdaccio failed (exit ${out.code}):\n` +
              `${out.output}\n--- verdaccio log ---\n${logText.slice(-4000)}`,
          );
        }
        return { name: pkg.name, version: pkg.version };
      },
      async close() {
        if (closed) return;
        closed = true;
        await stopProcess(proc);
        await logDone.catch(() => {});
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
      [Symbol.asyncDispose]() {
        return registry.close();
      },
    };
    return registry;
  } catch (e) {
    if (child) await stopProcess(child);
    await logDone.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

interface ConfigParts {
  storage: string;
  htpasswd: string;
  localPackages: readonly string[];
  upstream: string | null;
  logLevel: string;
}

function verdaccioConfig(c: ConfigParts): string {
  const q = (s: string) => JSON.stringify(s); // JSON strings are valid YAML scalars
  const lines = [
    `storage: ${q(c.storage)}`,
    "auth:",
    "  htpasswd:",
    `    file: ${q(c.htpasswd)}`,
    "    max_users: 1000",
    "    algorithm: sha1",
  ];
  if (c.upstream) {
    lines.push(
      "uplinks:",
      "  npmjs:",
      `    url: ${q(c.upstream)}`,
      "    timeout: 30s",
      "    maxage: 30m",
      "    max_fails: 20",
      "    fail_timeout: 1s",
      "    cache: false",
    );
  }
  lines.push("packages:");
  for (const pattern of c.localPackages) {
    lines.push(
      `  ${q(pattern)}:`,
      "    access: $all",
      "    publish: $all",
      "    unpublish: $all",
    );
  }
  lines.push(
    `  "**":`,
    "    access: $all",
    "    publish: $authenticated",
    "    unpublish: $authenticated",
  );
  if (c.upstream) lines.push("    proxy: npmjs");
  lines.push(
    "web:",
    "  enable: false",
    "publish:",
    "  allow_offline: true",
    "max_body_size: 100mb",
    "server:",
    "  keepAliveTimeout: 5",
    "log:",
    "  type: stdout",
    "  format: pretty",
    `  level: ${c.logLevel}`,
    "",
  );
  return lines.join("\n");
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitUntilUp(
  url: string,
  exited: Promise<Deno.CommandStatus>,
  timeoutMs: number,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitStatus: Deno.CommandStatus | undefined;
  exited.then((s) => exitStatus = s, () => {});
  while (Date.now() < deadline) {
    if (exitStatus) {
      throw new Error(`Verdaccio exited with code ${exitStatus.code} while starting:\n${log()}`);
    }
    try {
      const res = await fetch(`${url}-/ping`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Verdaccio did not answer on ${url} within ${timeoutMs} ms:\n${log()}`);
}

/** Register a throwaway user (htpasswd) and return its token. */
async function createUser(url: string): Promise<string> {
  const name = "nailgun-test";
  const res = await fetch(`${url}-/user/org.couchdb.user:${name}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, password: "nailgun-test-password", type: "user", roles: [] }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || typeof body.token !== "string") {
    throw new Error(`Verdaccio refused to create a user: ${res.status} ${JSON.stringify(body)}`);
  }
  return body.token;
}

async function stopProcess(child: Deno.ChildProcess): Promise<void> {
  const killAfter = async (signal: Deno.Signal, ms: number) => {
    try {
      child.kill(signal);
    } catch {
      return true; // already exited
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      child.status.then(() => true, () => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms)),
    ]);
    clearTimeout(timer);
    return done;
  };
  if (!(await killAfter("SIGTERM", 5_000))) await killAfter("SIGKILL", 5_000);
}

interface CommandResult {
  success: boolean;
  code: number;
  output: string;
}

async function runCommand(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs: number },
): Promise<CommandResult> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, options.timeoutMs);
  try {
    const out = await child.output();
    const d = new TextDecoder();
    return {
      success: out.success && !timedOut,
      code: out.code,
      output: d.decode(out.stdout) + d.decode(out.stderr) +
        (timedOut ? `\n[killed after ${options.timeoutMs} ms]` : ""),
    };
  } finally {
    clearTimeout(timer);
  }
}
