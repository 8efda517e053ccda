/**
 * `deno task extensions`: what the extension system sees, without starting
 * the service (the counterpart of `fuel2 extension list` and of Nailgun's
 * `manage.py` migrations commands).
 *
 * ```
 * deno task extensions [list] [--json] [--config FILE]   the load report
 * deno task extensions migrations [--json] [--config FILE]   applied and pending steps (DATABASE_URL)
 * deno task extensions migrate [--config FILE]   apply the core and extension migrations
 * ```
 *
 * `list` never writes to the database: extensions are loaded without their
 * migrations and without a database. The exit code is 1 when an extension
 * failed to load (`--json` still prints the report).
 *
 * @module
 */
import {
  createSandboxLauncher,
  describeError,
  loadExtensions,
  type LoadReport,
  type LoadResult,
  type Logger,
} from "@nailgun/extensions";
import { CORE_ROUTES } from "./app.ts";
import { createLogger } from "./logger.ts";
import { formatLoadReport, formatMigrations, type MigrationStatus } from "./report_table.ts";
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
  --json           print JSON: for list, {loaded, failed, skipped} as GET /api/v1/extensions/status/
  --config FILE    the extensions config (default: ./extensions.json, or EXTENSIONS_CONFIG)
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
  const options: CliOptions = { command: "list", json: false, verbose: false };
  let commandSeen = false;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--json") options.json = true;
    else if (arg === "--verbose") options.verbose = true;
    else if (arg === "-h" || arg === "--help" || arg === "help") options.command = "help";
    else if (arg === "--config") {
      const value = args[++index];
      if (value === undefined) {
        throw new TypeError("Cannot read the options: --config needs a file");
      }
      options.config = value;
    } else if (arg.startsWith("--config=")) options.config = arg.slice("--config=".length);
    else if (!arg.startsWith("-") && !commandSeen) {
      if (arg !== "list" && arg !== "migrations" && arg !== "migrate") {
        throw new TypeError(
          `Cannot run "${arg}": it is not a command: commands are list, migrations, migrate`,
        );
      }
      commandSeen = true;
      if (options.command !== "help") options.command = arg;
    } else {
      throw new TypeError(`Cannot read the options: "${arg}" is not an option: see --help`);
    }
  }
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
        const { manager, report } = await load(configFile, logger);
        await manager.teardown();
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

function render(report: LoadReport, asJson: boolean): string {
  if (!asJson) return formatLoadReport(report);
  const { loaded, failed, skipped } = report;
  return JSON.stringify({ loaded, failed, skipped }, null, 2);
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
