/**
 * `deno task extensions`: what the extension system sees, without starting
 * the service (the counterpart of `fuel2 extension list` and of Nailgun's
 * `manage.py` migrations commands).
 *
 * ```
 * deno task extensions [list] [--json] [--config FILE]   the load report
 * deno task extensions [list] [--json] --url URL   the report of a running service, health included
 * deno task extensions migrations [--json] [--config FILE]   applied and pending steps (DATABASE_URL)
 * deno task extensions migrate [--config FILE]   apply the core and extension migrations
 * ```
 *
 * `list` never writes to the database: extensions are loaded without their
 * migrations and without a database. With `--url` it loads nothing and asks
 * the running service (`GET /api/v1/extensions/status/`), as `fuel2
 * extension list` asks Nailgun's API. The exit code is 1 when an extension
 * failed to load (`--json` still prints the report).
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  createSandboxLauncher,
  describeError,
  loadExtensions,
  type LoadResult,
  type Logger,
} from "@nailgun/extensions";
import { CORE_ROUTES } from "./app.ts";
import { createLogger } from "./logger.ts";
import {
  formatLoadReport,
  formatMigrations,
  type MigrationStatus,
  type ReportToFormat,
} from "./report_table.ts";
import type { StatusReport } from "./routes/info.ts";
import { CORE_MIGRATIONS } from "./store/core_schema.ts";
import { openStore, parseDatabaseUrl } from "./store/open_store.ts";
import type { Store } from "./store/store.ts";
import { DELIVERY_USAGE, runDeliveryCommand } from "./delivery/cli_events.ts";

/** What the command line asked for. */
export interface CliOptions {
  /** The command. */
  command: "list" | "migrations" | "migrate" | "help";
  /** Print JSON instead of a table. */
  json: boolean;
  /** The `extensions.json` file. */
  config?: string;
  /** A running service to ask instead of loading the extensions (`list` only). */
  url?: string;
  /** Log what extensions log (on standard error). */
  verbose: boolean;
}

/** What a run of the CLI printed and its exit code. */
export interface CliResult {
  /** Exit code: 0 when every extension loaded, 1 otherwise. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

const USAGE = `Usage: deno task extensions [command] [options]

Commands:
  list         print the load report: loaded, failed and skipped extensions (default)
  migrations   print the applied and pending migration steps of the core and of each extension
  migrate      apply the core and extension migrations to the database, without serving
${DELIVERY_USAGE}

Options:
  --json           print JSON: for list, {loaded, failed, skipped, warnings} as GET /api/v1/extensions/status/
  --config FILE    the extensions config (default: ./extensions.json, or EXTENSIONS_CONFIG)
  --url URL        list: ask the service running at URL (e.g. http://127.0.0.1:8000), health included
  --verbose        log what the extensions log, on standard error
  -h, --help       print this help

The database is DATABASE_URL (default .nailgun/nailgun.db).`;

/**
 * Reads the command line.
 *
 * @param args The arguments after the script name.
 * @returns The options.
 * @throws {TypeError} For an unknown command or option.
 *
 * @example
 * ```ts
 * import { parseCliArgs } from "./cli.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseCliArgs(["--json", "--config", "x.json"]), {
 *   command: "list", json: true, config: "x.json", verbose: false,
 * });
 * ```
 */
export function parseCliArgs(args: readonly string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        verbose: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        config: { type: "string" },
        url: { type: "string" },
      },
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new TypeError(`Cannot read the options: ${message}: see --help`);
  }
  const { values, positionals } = parsed;
  const [command = "list", ...rest] = positionals;
  if (rest.length > 0) {
    throw new TypeError(`Cannot read the options: "${rest[0]}" is not an option: see --help`);
  }
  if (
    command !== "help" && command !== "list" && command !== "migrations" && command !== "migrate"
  ) {
    throw new TypeError(
      `Cannot run "${command}": it is not a command: commands are list, migrations, migrate`,
    );
  }
  if (values.url !== undefined && command !== "list") {
    throw new TypeError(
      `Cannot run "${command}" with --url: only list asks a running service: current value is "${values.url}"`,
    );
  }
  const options: CliOptions = {
    command: values.help ? "help" : command,
    json: values.json,
    verbose: values.verbose,
  };
  if (values.config !== undefined) options.config = values.config;
  if (values.url !== undefined) options.url = values.url;
  return options;
}

/**
 * Runs the CLI and answers what it printed.
 *
 * @param args The arguments after the script name.
 * @param env Reads an environment variable (`DATABASE_URL`, `EXTENSIONS_CONFIG`).
 * @returns The exit code and the output.
 */
export async function runCli(
  args: readonly string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<CliResult> {
  if (args[0] === "events" || args[0] === "retry") return await runDeliveryCommand(args, env);
  let options: CliOptions;
  try {
    options = parseCliArgs(args);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { code: 2, stdout: "", stderr: `${message}\n\n${USAGE}` };
  }
  if (options.command === "help") return { code: 0, stdout: USAGE, stderr: "" };
  const stderr: string[] = [];
  const logger = createLogger({
    level: options.verbose ? "debug" : "silent",
    write: (line) => stderr.push(line),
  });
  const configFile = options.config ?? (env("EXTENSIONS_CONFIG") || undefined);
  const done = (code: number, stdout: string): CliResult => ({
    code,
    stdout,
    stderr: stderr.join("\n"),
  });
  try {
    switch (options.command) {
      case "list": {
        if (options.url !== undefined) {
          const report = await fetchStatus(options.url);
          return done(report.failed.length > 0 ? 1 : 0, render(report, options.json));
        }
        const { manager, report } = await load(configFile, logger);
        await manager.teardown();
        // Health counts calls into a running service: a report loaded here has none.
        return done(report.failed.length > 0 ? 1 : 0, render(report, options.json));
      }
      case "migrations":
        return await listMigrations(configFile, logger, env("DATABASE_URL"), options.json, done);
      case "migrate":
        return await migrate(configFile, logger, env("DATABASE_URL"), options.json, done);
    }
  } catch (error) {
    stderr.push(describeError(error));
    return done(1, "");
  }
}

function render(report: ReportToFormat, asJson: boolean): string {
  if (!asJson) return formatLoadReport(report);
  const { loaded, failed, skipped, warnings = [] } = report;
  return JSON.stringify({ loaded, failed, skipped, warnings }, null, 2);
}

/** How long the CLI waits for a running service's answer, in milliseconds. */
const STATUS_TIMEOUT_MS = 10_000;

/**
 * Asks a running service for its load report, health included.
 *
 * @param base The service's URL, e.g. `http://127.0.0.1:8000` (a path up to `/api/v1/` may follow).
 * @returns The report.
 * @throws {Error} When the service cannot be reached or answers something else.
 */
async function fetchStatus(base: string): Promise<StatusReport> {
  let url: URL;
  try {
    url = new URL(
      base.replace(/\/api\/v1\/?$/, "").replace(/\/$/, "") + "/api/v1/extensions/status/",
    );
  } catch {
    throw new TypeError(
      `Cannot ask the service "${base}": --url must be its URL, e.g. http://127.0.0.1:8000`,
    );
  }
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
  } catch (error) {
    throw new Error(
      `Cannot ask the service "${url}": it does not answer: ${
        describeError(error)
      }: is it running (deno task run)?`,
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const report = body as Partial<StatusReport> | undefined;
  if (!response.ok || !Array.isArray(report?.loaded) || !Array.isArray(report?.failed)) {
    throw new Error(
      `Cannot read the load report of "${url}": it answered ${response.status} ${
        text.slice(0, 200)
      }`,
    );
  }
  return {
    loaded: report.loaded,
    failed: report.failed,
    skipped: report.skipped ?? [],
    warnings: report.warnings ?? [],
  };
}

function load(
  configFile: string | undefined,
  logger: Logger,
  store?: Store,
): Promise<LoadResult> {
  return loadExtensions({
    configFile,
    importModule: (specifier) => import(specifier),
    services: { logger, database: store?.database },
    reservedRoutes: CORE_ROUTES,
    migrate: store ? (extension, source) => store.migrateExtension(extension, source) : undefined,
    sandbox: createSandboxLauncher({ logger }),
    strict: false,
  });
}

async function existingStore(databaseUrl: string | undefined): Promise<Store> {
  const location = parseDatabaseUrl(databaseUrl);
  if (location.dialect === "sqlite" && location.path !== ":memory:") {
    try {
      await Deno.stat(location.path);
    } catch {
      throw new Error(
        `Cannot read the migrations of "${location.path}": the database does not exist: start the service or run "deno task extensions migrate" first`,
      );
    }
  }
  return await openStore(databaseUrl);
}

async function listMigrations(
  configFile: string | undefined,
  logger: Logger,
  databaseUrl: string | undefined,
  asJson: boolean,
  done: (code: number, stdout: string) => CliResult,
): Promise<CliResult> {
  const { manager, report } = await load(configFile, logger);
  await manager.teardown();
  const store = await existingStore(databaseUrl);
  try {
    const steps: MigrationStatus[] = [];
    const collect = async (owner: string, declared: readonly string[]) => {
      const applied = await store.appliedMigrations(owner);
      const at = new Map(applied.map((step) => [step.name, step.applied_at]));
      for (const step of applied) {
        steps.push({ owner, name: step.name, appliedAt: step.applied_at });
      }
      for (const name of declared) if (!at.has(name)) steps.push({ owner, name });
    };
    await collect("core", CORE_MIGRATIONS.map((step) => step.name));
    for (const extension of manager) {
      await collect(extension.name, (extension.migrations ?? []).map((step) => step.name));
    }
    const code = report.failed.length > 0 ? 1 : 0;
    if (!asJson) {
      const failed = report.failed.length > 0
        ? `\n\n${report.failed.length} extension(s) failed to load; their migrations are not listed: see "deno task extensions"`
        : "";
      return done(code, formatMigrations(steps) + failed);
    }
    return done(
      code,
      JSON.stringify(
        {
          migrations: steps.map((step) => ({
            extension: step.owner,
            name: step.name,
            applied: step.appliedAt !== undefined,
            applied_at: step.appliedAt ?? null,
          })),
          failed: report.failed,
        },
        null,
        2,
      ),
    );
  } finally {
    await store.close();
  }
}

async function migrate(
  configFile: string | undefined,
  logger: Logger,
  databaseUrl: string | undefined,
  asJson: boolean,
  done: (code: number, stdout: string) => CliResult,
): Promise<CliResult> {
  const store = await openStore(databaseUrl);
  try {
    await store.migrateCore();
    const { manager, report } = await load(configFile, logger, store);
    await manager.teardown();
    return done(report.failed.length > 0 ? 1 : 0, render(report, asJson));
  } finally {
    await store.close();
  }
}

if (import.meta.main) {
  const result = await runCli(Deno.args);
  if (result.stdout) console.log(result.stdout);
  if (result.stderr) console.error(result.stderr);
  Deno.exit(result.code);
}
