/**
 * A static JSR registry on loopback, for tests.
 *
 * Deno talks to it when `JSR_URL=<mirror.url>` is set in the environment of the
 * `deno` process (the URL must end with `/`). It serves the same layout as jsr.io:
 *
 *   GET /@scope/name/meta.json            package versions
 *   GET /@scope/name/<version>_meta.json  file manifest (size + sha256) and exports
 *   GET /@scope/name/<version>/<path>     the published files
 *
 * and the small part of the jsr.io publishing API that `deno publish --token …`
 * uses (`/api/scopes/<scope>/packages/<pkg>[/versions/<v>]`, `/api/publish_status/<id>`),
 * so that {@linkcode JsrMirror.publish} can run the real `deno publish`: Deno itself
 * collects the files (honouring `publish.include/exclude` and `.gitignore`), checks
 * the package and "unfurls" bare specifiers mapped by the package's own
 * `deno.json` `imports` (e.g. `"zod"` → `npm:zod@^4.1.0`) into the uploaded source,
 * exactly as it does for jsr.io. Deno never applies a JSR package's `deno.json`
 * import map when it later loads the package: the unfurling at publish time is what
 * makes bare imports work.
 *
 * Every version is given an old `createdAt` date, so Deno's minimum dependency age
 * (`--min-dep-age`, `"minimumDependencyAge"`) never hides a freshly published version.
 *
 * @module
 */

import { createHash } from "node:crypto";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Date reported as `createdAt` for every published version unless told otherwise. */
export const DEFAULT_CREATED_AT = "2020-01-01T00:00:00.000Z";

/** Exports of a JSR package, as in `deno.json`: one path or a map of subpaths. */
export type JsrExports = string | Record<string, string>;

/** A package version that the mirror serves. */
export interface PublishedJsrPackage {
  /** `@scope/name` */
  name: string;
  version: string;
}

export interface JsrPublishOptions {
  /** Publish under this version instead of `deno.json`'s (`deno publish --set-version`). */
  version?: string;
  /**
   * Extra environment for the `deno publish` process (e.g. `DENO_DIR`,
   * `NPM_CONFIG_REGISTRY`). `JSR_URL` is always set to the mirror.
   */
  env?: Record<string, string>;
  /** Type-check the package as `deno publish` does by default (default `true`). */
  check?: boolean;
  /** Pass `--allow-slow-types` (default `false`). */
  allowSlowTypes?: boolean;
  /** `createdAt` reported in meta.json (default {@linkcode DEFAULT_CREATED_AT}). */
  createdAt?: string;
  /** Bound on the `deno publish` run (default 60 000 ms). */
  timeoutMs?: number;
}

export interface JsrPublishFilesOptions {
  /** `createdAt` reported in meta.json (default {@linkcode DEFAULT_CREATED_AT}). */
  createdAt?: string;
  /** Mark the version as yanked in meta.json. */
  yanked?: boolean;
}

/** A running mirror. */
export interface JsrMirror extends AsyncDisposable {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:40123/`: the value for `JSR_URL`. */
  readonly url: string;
  /** Port on 127.0.0.1. */
  readonly port: number;
  /**
   * Publish the package in `packageDir` (which holds its `deno.json`/`jsr.json`
   * with `name`, `version`, `exports`) by running the real `deno publish` against
   * the mirror. Rejects with the output of `deno publish` if it fails, and if the
   * version was already published.
   */
  publish(packageDir: string, options?: JsrPublishOptions): Promise<PublishedJsrPackage>;
  /**
   * Serve the given files verbatim as `name@version` (no checks, no unfurling: use
   * fully qualified `jsr:`/`npm:` specifiers in them, as jsr.io would serve them).
   * File paths are relative to the package root (`"mod.ts"` or `"/mod.ts"`).
   * Replaces that version if it already exists.
   */
  publishFiles(
    name: string,
    version: string,
    files: Record<string, string | Uint8Array>,
    exports: JsrExports,
    options?: JsrPublishFilesOptions,
  ): PublishedJsrPackage;
  /** Files of a published version as the mirror serves them (after unfurling). */
  files(name: string, version: string): Record<string, string> | undefined;
  /** URLs requested so far, as paths (e.g. `/@test/hello/meta.json`), for assertions. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

interface StoredVersion {
  files: Map<string, Uint8Array>;
  exports: Record<string, string>;
  createdAt: string;
  yanked: boolean;
}

interface StoredPackage {
  scope: string;
  name: string;
  versions: Map<string, StoredVersion>;
}

/** Start a mirror on a free 127.0.0.1 port. Close it with `close()` or `await using`. */
export function startJsrMirror(): Promise<JsrMirror> {
  const packages = new Map<string, StoredPackage>();
  const requests: string[] = [];
  let nextTaskId = 1;

  function store(
    fullName: string,
    version: string,
    files: Map<string, Uint8Array>,
    exports: JsrExports,
    createdAt: string,
    yanked: boolean,
  ): PublishedJsrPackage {
    const { scope, name } = splitName(fullName);
    assertVersion(version);
    let pkg = packages.get(fullName);
    if (!pkg) {
      pkg = { scope, name, versions: new Map() };
      packages.set(fullName, pkg);
    }
    pkg.versions.set(version, {
      files,
      exports: normalizeExports(exports),
      createdAt,
      yanked,
    });
    return { name: fullName, version };
  }

  function handle(req: Request): Response | Promise<Response> {
    const url = new URL(req.url);
    const path = decodeURIComponent(url.pathname);
    requests.push(path);
    if (path.startsWith("/api/")) return handleApi(req, url, path);
    if (req.method !== "GET" && req.method !== "HEAD") return notFound();

    const m = /^\/(@[^/]+)\/([^/]+)\/(.+)$/.exec(path);
    if (!m) return notFound();
    const pkg = packages.get(`${m[1]}/${m[2]}`);
    if (!pkg) return notFound();
    const rest = m[3];
    if (rest === "meta.json") return json(packageMeta(pkg));
    const metaMatch = /^([^/]+)_meta\.json$/.exec(rest);
    if (metaMatch) {
      const v = pkg.versions.get(metaMatch[1]);
      return v ? json(versionMeta(v)) : notFound();
    }
    const slash = rest.indexOf("/");
    if (slash < 0) return notFound();
    const v = pkg.versions.get(rest.slice(0, slash));
    const file = v?.files.get(rest.slice(slash));
    if (!file) return notFound();
    return new Response(req.method === "HEAD" ? null : file.slice(), {
      headers: {
        "content-type": contentType(rest),
        "content-length": String(file.byteLength),
      },
    });
  }

  async function handleApi(req: Request, url: URL, path: string): Promise<Response> {
    // GET /api/scopes/<scope>/packages/<pkg>: publishing checks that it exists.
    let m = /^\/api\/scopes\/([^/]+)\/packages\/([^/]+)$/.exec(path);
    if (m && req.method === "GET") {
      return json({ scope: m[1], name: m[2], description: "", runtimeCompat: {} });
    }
    m = /^\/api\/scopes\/([^/]+)\/packages\/([^/]+)\/versions\/([^/]+)$/.exec(path);
    if (m && req.method === "GET") {
      const [, scope, name, version] = m;
      return packages.get(`@${scope}/${name}`)?.versions.has(version)
        ? json({ scope, package: name, version })
        : json({ code: "packageVersionNotFound", message: "version not found" }, 404);
    }
    if (m && req.method === "POST") {
      const [, scope, name, version] = m;
      const fullName = `@${scope}/${name}`;
      if (packages.get(fullName)?.versions.has(version)) {
        const task = { id: String(nextTaskId++), status: "success", error: null };
        return json({
          code: "duplicateVersionPublish",
          message: `${fullName}@${version} is already published`,
          data: { task },
        }, 409);
      }
      try {
        let body: Uint8Array = new Uint8Array(await req.arrayBuffer());
        if (isGzip(body)) body = await gunzip(body);
        const files = untar(body);
        const configPath = url.searchParams.get("config") ?? "/deno.json";
        const configBytes = files.get(configPath);
        if (!configBytes) throw new Error(`config file ${configPath} is not in the tarball`);
        const config = parseJsonc(decoder.decode(configBytes)) as { exports?: JsrExports };
        if (!config.exports) throw new Error(`${configPath} has no "exports"`);
        store(fullName, version, files, config.exports, pendingCreatedAt(fullName, version), false);
      } catch (e) {
        return json({ code: "invalidTarball", message: String(e) }, 400);
      }
      return json({ id: String(nextTaskId++), status: "success", error: null });
    }
    m = /^\/api\/publish_status\/([^/]+)$/.exec(path);
    if (m) return json({ id: m[1], status: "success", error: null });
    return json({ code: "notFound", message: `no such API route: ${req.method} ${path}` }, 404);
  }

  // createdAt for versions uploaded through the API, set by publish() beforehand.
  const createdAtOverride = new Map<string, string>();
  function pendingCreatedAt(fullName: string, version: string): string {
    return createdAtOverride.get(`${fullName}@${version}`) ?? DEFAULT_CREATED_AT;
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
  const port = server.addr.port;
  const baseUrl = `http://127.0.0.1:${port}/`;
  let closed = false;

  const mirror: JsrMirror = {
    url: baseUrl,
    port,
    requests,
    async publish(packageDir, options = {}) {
      const config = await readPackageConfig(packageDir);
      const version = options.version ?? config.version;
      if (!version) throw new Error(`${packageDir}: no "version" in its config, and none given`);
      const key = `${config.name}@${version}`;
      if (packages.get(config.name)?.versions.has(version)) {
        throw new Error(`${key} is already published on the mirror`);
      }
      createdAtOverride.set(key, options.createdAt ?? DEFAULT_CREATED_AT);
      const args = ["publish", "--token", "mirror-token", "--allow-dirty", "--no-provenance"];
      if (options.version) args.push("--set-version", options.version);
      if (options.check === false) args.push("--no-check");
      if (options.allowSlowTypes) args.push("--allow-slow-types");
      const out = await runDeno(args, {
        cwd: packageDir,
        env: {
          ...options.env,
          JSR_URL: baseUrl,
          DENO_NO_UPDATE_CHECK: "1",
          DISABLE_JSR_PROVENANCE: "1",
          NO_COLOR: "1",
        },
        timeoutMs: options.timeoutMs ?? 60_000,
      });
      if (!out.success || !packages.get(config.name)?.versions.has(version)) {
        throw new Error(
          `deno publish of ${key} to the JSR mirror failed (exit ${out.code}):\n${out.output}`,
        );
      }
      return { name: config.name, version };
    },
    publishFiles(name, version, files, exports, options = {}) {
      const map = new Map<string, Uint8Array>();
      for (const [p, content] of Object.entries(files)) {
        map.set(
          p.startsWith("/") ? p : `/${p.replace(/^\.\//, "")}`,
          typeof content === "string" ? encoder.encode(content) : content,
        );
      }
      return store(
        name,
        version,
        map,
        exports,
        options.createdAt ?? DEFAULT_CREATED_AT,
        options.yanked ?? false,
      );
    },
    files(name, version) {
      const v = packages.get(name)?.versions.get(version);
      if (!v) return undefined;
      const out: Record<string, string> = {};
      for (const [p, bytes] of v.files) out[p] = decoder.decode(bytes);
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.shutdown();
    },
    [Symbol.asyncDispose]() {
      return mirror.close();
    },
  };
  return Promise.resolve(mirror);
}

// ---------------------------------------------------------------------------
// Registry documents

function packageMeta(pkg: StoredPackage) {
  const versions: Record<string, { createdAt: string; yanked?: boolean }> = {};
  for (const [v, info] of pkg.versions) {
    versions[v] = info.yanked
      ? { createdAt: info.createdAt, yanked: true }
      : { createdAt: info.createdAt };
  }
  const candidates = [...pkg.versions].filter(([v, info]) => !info.yanked && !v.includes("-"))
    .map(([v]) => v).sort(compareSemver);
  return {
    scope: pkg.scope,
    name: pkg.name,
    latest: candidates.at(-1) ?? null,
    versions,
  };
}

function versionMeta(v: StoredVersion) {
  const manifest: Record<string, { size: number; checksum: string }> = {};
  for (const p of [...v.files.keys()].sort()) {
    const bytes = v.files.get(p)!;
    manifest[p] = { size: bytes.byteLength, checksum: `sha256-${sha256Hex(bytes)}` };
  }
  return { manifest, exports: v.exports };
}

function normalizeExports(exports: JsrExports): Record<string, string> {
  const map = typeof exports === "string" ? { ".": exports } : exports;
  const out: Record<string, string> = {};
  for (const [k, target] of Object.entries(map)) {
    out[k] = target.startsWith("./") || target.startsWith("/")
      ? target.replace(/^\//, "./")
      : `./${target}`;
  }
  return out;
}

function splitName(fullName: string): { scope: string; name: string } {
  const m = /^@([a-z0-9-]+)\/([a-z0-9-]+)$/.exec(fullName);
  if (!m) {
    throw new Error(`invalid JSR package name ${JSON.stringify(fullName)} (want @scope/name)`);
  }
  return { scope: m[1], name: m[2] };
}

function assertVersion(version: string): void {
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(version)) {
    throw new Error(`invalid version ${JSON.stringify(version)}`);
  }
}

function compareSemver(a: string, b: string): number {
  const pa = a.split(/[.+-]/).slice(0, 3).map(Number);
  const pb = b.split(/[.+-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

function contentType(path: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  switch (ext) {
    case "ts":
    case "mts":
    case "cts":
      return "application/typescript; charset=utf-8";
    case "tsx":
      return "text/tsx; charset=utf-8";
    case "js":
    case "mjs":
    case "cjs":
      return "application/javascript; charset=utf-8";
    case "jsx":
      return "text/jsx; charset=utf-8";
    case "json":
    case "jsonc":
      return "application/json; charset=utf-8";
    case "wasm":
      return "application/wasm";
    case "md":
      return "text/markdown; charset=utf-8";
    default:
      return "application/octet-stream";
  }
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function notFound(): Response {
  return new Response("Not Found", { status: 404 });
}

// ---------------------------------------------------------------------------
// Package config, tarballs, hashing

interface PackageConfig {
  name: string;
  version?: string;
  exports: JsrExports;
}

async function readPackageConfig(dir: string): Promise<PackageConfig> {
  for (const file of ["deno.json", "deno.jsonc", "jsr.json", "jsr.jsonc"]) {
    let text: string;
    try {
      text = await Deno.readTextFile(`${dir}/${file}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    const config = parseJsonc(text) as Partial<PackageConfig>;
    if (typeof config.name !== "string") throw new Error(`${dir}/${file}: no "name"`);
    splitName(config.name);
    if (!config.exports) throw new Error(`${dir}/${file}: no "exports"`);
    return config as PackageConfig;
  }
  throw new Error(`${dir}: no deno.json, deno.jsonc, jsr.json or jsr.jsonc`);
}

/** JSON with `//` and `/* *\/` comments and trailing commas. */
function parseJsonc(text: string): unknown {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, "$1"));
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Regular files of a (ustar/GNU/pax) tar archive, keyed by `/`-rooted path. */
export function untar(bytes: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const field = (block: Uint8Array, start: number, len: number) => {
    const raw = block.subarray(start, start + len);
    const nul = raw.indexOf(0);
    return decoder.decode(nul < 0 ? raw : raw.subarray(0, nul));
  };
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= bytes.length) {
    const header = bytes.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(field(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] || 0x30);
    const magic = field(header, 257, 6);
    const prefix = magic.startsWith("ustar") && magic !== "ustar " ? field(header, 345, 155) : "";
    let name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = undefined;
    const data = bytes.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = decoder.decode(data).replace(/\0+$/, "");
      continue;
    }
    if (type === "x") {
      const m = /\d+ path=([^\n]*)\n/.exec(decoder.decode(data));
      if (m) longName = m[1];
      continue;
    }
    if (type !== "0" && type !== "\0") continue;
    name = name.replace(/^\.\//, "").replace(/^\/+/, "");
    files.set(`/${name}`, data.slice());
  }
  return files;
}

/** Hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

// ---------------------------------------------------------------------------
// Running deno

export interface RunDenoOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Kill the process after this many ms (default 60 000). */
  timeoutMs?: number;
}

export interface RunDenoResult {
  success: boolean;
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for error messages. */
  output: string;
}

/**
 * Run `deno <args>` (the same binary as the current process), bounded in time;
 * the child is killed if it outlives `timeoutMs`.
 */
export async function runDeno(
  args: string[],
  options: RunDenoOptions = {},
): Promise<RunDenoResult> {
  // A child `deno task` must see the directory it runs in as a user's would:
  // `deno task` keeps an INIT_CWD it inherits (e.g. from `deno task test`).
  const env: Record<string, string> = {
    ...Deno.env.toObject(),
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    ...options.env,
  };
  if (options.env?.INIT_CWD === undefined) delete env.INIT_CWD;
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    const stdout = decoder.decode(out.stdout);
    const stderr = decoder.decode(out.stderr) +
      (timedOut ? `\n[killed after ${timeoutMs} ms: deno ${args.join(" ")}]` : "");
    return {
      success: out.success && !timedOut,
      code: out.code,
      stdout,
      stderr,
      output: `${stdout}${stdout && stderr ? "\n" : ""}${stderr}`,
    };
  } finally {
    clearTimeout(timer);
  }
}
