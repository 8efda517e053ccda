// A throwaway host project for the sandbox escape tests: a directory with a
// deno.json, an extensions.json whose settings hold a secret, a live SQLite
// database holding it too, secret files, and one folder per extension under
// exts/. The reference service runs over it on a free loopback port, with the
// sandbox launcher told that this directory is the project.
import { join } from "node:path";
import {
  type ExtensionManager,
  type LoadEntry,
  loadExtensions,
  type LoadReport,
  type Logger,
} from "../../mod.ts";
import { createSandboxLauncher, type SandboxLauncherOptions } from "../../src/sandbox/launcher.ts";
import { CORE_ROUTES, createNailgun } from "../../src/service/app.ts";
import { openSqliteStore } from "../../src/service/store/sql_store.ts";

/** The library's entry, for the generated extensions to import. */
export const LIBRARY = new URL("../../mod.ts", import.meta.url).href;

/** A secret no sandboxed extension may learn. */
export const SECRET = `s3cret-${crypto.randomUUID()}`;

/** A host project on disk. */
export interface Project {
  dir: string;
  configFile: string;
  database: string;
  /** Writes `exts/<name>/<file>` (and more files of the same folder); answers the module's path. */
  extension(name: string, files: Record<string, string>, main?: string): string;
  remove(): Promise<void>;
}

/** Makes a project whose extensions.json, database and secret files hold {@linkcode SECRET}. */
export function makeProject(): Project {
  const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "nailgun_escape_" }));
  Deno.writeTextFileSync(join(dir, "deno.json"), "{}\n");
  Deno.writeTextFileSync(join(dir, "secret.json"), JSON.stringify({ secret: SECRET }));
  Deno.writeTextFileSync(join(dir, "secret.txt"), `${SECRET}\n`);
  const configFile = join(dir, "extensions.json");
  const database = join(dir, "nailgun.db");
  return {
    dir,
    configFile,
    database,
    extension(name, files, main = "mod.js") {
      for (const [file, text] of Object.entries(files)) {
        const path = join(dir, "exts", name, file);
        Deno.mkdirSync(join(path, ".."), { recursive: true });
        Deno.writeTextFileSync(path, text);
      }
      return join(dir, "exts", name, main);
    },
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A running service over a project. */
export interface ProjectService {
  api: string;
  manager: ExtensionManager;
  report: LoadReport;
  /** Every log line so far. */
  lines: string[];
  /** Every response body read through {@linkcode ProjectService.request} so far. */
  bodies: string[];
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

/**
 * Writes the project's extensions.json (`load`, and settings that give the
 * in-process extension "vault" the secret), stores the secret in the SQLite
 * database, and starts the service over both.
 */
export async function startProjectService(project: Project, options: {
  load: (string | LoadEntry)[];
  handlerTimeoutMs?: number;
  launcher?: SandboxLauncherOptions;
}): Promise<ProjectService> {
  const lines: string[] = [];
  const bodies: string[] = [];
  const logger: Logger = {
    debug: (message) => lines.push(`debug: ${message}`),
    info: (message) => lines.push(`info: ${message}`),
    warn: (message) => lines.push(`warn: ${message}`),
    error: (message) => lines.push(`error: ${message}`),
  };
  const handlerTimeoutMs = options.handlerTimeoutMs ?? 2_000;
  Deno.writeTextFileSync(
    project.configFile,
    JSON.stringify({
      "nailgun.extensions": {
        load: options.load,
        discover: false,
        handlerTimeoutMs,
        settings: { vault: { token: SECRET } },
      },
    }),
  );
  const store = await openSqliteStore(project.database);
  await store.migrateCore();
  const { manager, report, config } = await loadExtensions({
    configFile: project.configFile,
    importMap: { file: "<none>", imports: {} },
    sandbox: createSandboxLauncher({
      logger,
      handlerTimeoutMs,
      projectDir: project.dir,
      hostFiles: [project.configFile, project.database],
      ...options.launcher,
    }),
    services: { logger, database: store.database },
    reservedRoutes: CORE_ROUTES,
    migrate: (extension, source) => store.migrateExtension(extension, source),
  });
  const app = createNailgun({ store, manager, report, config, logger });
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    handler: app.handler,
  });
  const api = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/api/v1`;
  // The secret in the live database too (its answer is not kept: it holds the secret).
  const stored = await fetch(`${api}/clusters/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "vaulted", release: "2024.1", attributes: { token: SECRET } }),
  });
  await stored.body?.cancel();
  return {
    api,
    manager,
    report,
    lines,
    bodies,
    async request(method, path, body) {
      const response = await fetch(`${api}${path}`, {
        method,
        headers: body === undefined ? undefined : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      bodies.push(text);
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await server.shutdown();
      await manager.teardown();
      await store.close();
    },
  };
}
