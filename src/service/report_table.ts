/**
 * Plain-text tables of the load report and of the applied migrations, as
 * `deno task extensions` and `deno task run` print them.
 *
 * @module
 */
import type { ExtensionHealth, LoadReport } from "@nailgun/extensions";

/**
 * Renders rows under headers, each column as wide as its widest cell.
 *
 * @param headers The column titles.
 * @param rows The cells, one list per row.
 * @returns The table, one line per row, without a trailing newline.
 *
 * @example
 * ```ts
 * import { renderTable } from "./report_table.ts";
 * import assert from "node:assert/strict";
 * assert.equal(renderTable(["NAME", "VERSION"], [["logging", "1.0.0"]]), "NAME     VERSION\nlogging  1.0.0");
 * ```
 */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const clean = (cell: string) => cell.replace(/\s+/g, " ");
  const table = [headers, ...rows].map((row) => row.map(clean));
  const widths = headers.map((_, column) =>
    Math.max(...table.map((row) => (row[column] ?? "").length))
  );
  return table.map((row) =>
    row.map((cell, column) => column === row.length - 1 ? cell : cell.padEnd(widths[column]!))
      .join("  ").trimEnd()
  ).join("\n");
}

/** A load report, with the loader's hints and each extension's health when there are any. */
export interface ReportToFormat {
  /** The loaded extensions, each with its `health` when the manager keeps one. */
  readonly loaded: readonly (LoadReport["loaded"][number] & { health?: unknown })[];
  /** The sources that failed, with the phase. */
  readonly failed: LoadReport["failed"];
  /** The sources passed over, with the reason. */
  readonly skipped: LoadReport["skipped"];
  /** Hints about loadable but suspicious extensions. */
  readonly warnings?: readonly { source: string; name?: string; message: string }[];
}

function isHealth(value: unknown): value is ExtensionHealth {
  return value !== null && typeof value === "object" &&
    typeof (value as { state?: unknown }).state === "string";
}

/**
 * Renders a load report: the loaded extensions (with their health, when the
 * report has it), then the failures, the warnings and the sources passed
 * over, when there are any.
 *
 * @param report The load report.
 * @returns The text to print.
 *
 * @example
 * ```ts
 * import { formatLoadReport } from "./report_table.ts";
 * import assert from "node:assert/strict";
 * const text = formatLoadReport({
 *   loaded: [{ name: "logging", version: "1.0.0", description: "Logs events.", provides: [], source: "./logging.ts" }],
 *   failed: [{ source: "./broken.ts", phase: "import", message: "it threw" }],
 *   skipped: [],
 * });
 * assert.match(text, /^NAME +VERSION +SOURCE +DESCRIPTION\nlogging +1\.0\.0 +\.\/logging\.ts +Logs events\./);
 * assert.match(text, /\.\/broken\.ts +import +it threw/);
 * const health = { state: "degraded", calls: 4, failures: 1, timeouts: 0, unhandled: 0, blocked: 0, skipped: 0, lastError: "boom" };
 * const withHealth = formatLoadReport({
 *   loaded: [{ name: "logging", version: "1.0.0", description: "Logs events.", provides: [], source: "./logging.ts", health }],
 *   failed: [],
 *   skipped: [],
 * });
 * assert.match(withHealth, /^NAME +VERSION +STATE +CALLS +FAILURES +TIMEOUTS +UNHANDLED +BLOCKED +SKIPPED +SOURCE +DESCRIPTION\nlogging +1\.0\.0 +degraded +4 +1 +0 +0 +0 +0 /);
 * assert.match(withHealth, /logging +boom/);
 * ```
 */
export function formatLoadReport(report: ReportToFormat): string {
  const sections: string[] = [];
  const withHealth = report.loaded.some((info) => isHealth(info.health));
  if (report.loaded.length === 0) sections.push("No extension loaded.");
  else if (!withHealth) {
    sections.push(renderTable(
      ["NAME", "VERSION", "SOURCE", "DESCRIPTION"],
      report.loaded.map((info) => [info.name, info.version, info.source, info.description]),
    ));
  } else {
    sections.push(renderTable(
      [
        "NAME",
        "VERSION",
        "STATE",
        "CALLS",
        "FAILURES",
        "TIMEOUTS",
        "UNHANDLED",
        "BLOCKED",
        "SKIPPED",
        "SOURCE",
        "DESCRIPTION",
      ],
      report.loaded.map((info) => {
        const health = isHealth(info.health) ? info.health : undefined;
        const count = (key: keyof Omit<ExtensionHealth, "state" | "lastError">) =>
          health ? String(health[key]) : "-";
        return [
          info.name,
          info.version,
          health?.state ?? "-",
          count("calls"),
          count("failures"),
          count("timeouts"),
          count("unhandled"),
          count("blocked"),
          count("skipped"),
          info.source,
          info.description,
        ];
      }),
    ));
    const errors = report.loaded.flatMap((info) =>
      isHealth(info.health) && info.health.lastError ? [[info.name, info.health.lastError]] : []
    );
    if (errors.length > 0) {
      sections.push(
        `Last errors (${errors.length}):\n${renderTable(["NAME", "LAST ERROR"], errors)}`,
      );
    }
  }
  if (report.failed.length > 0) {
    sections.push(
      `Failed to load (${report.failed.length}):\n${
        renderTable(
          ["SOURCE", "PHASE", "MESSAGE"],
          report.failed.map((failure) => [failure.source, failure.phase, failure.message]),
        )
      }`,
    );
  }
  const warnings = report.warnings ?? [];
  if (warnings.length > 0) {
    sections.push(
      `Warnings (${warnings.length}):\n${
        renderTable(
          ["SOURCE", "NAME", "MESSAGE"],
          warnings.map((warning) => [warning.source, warning.name ?? "", warning.message]),
        )
      }`,
    );
  }
  if (report.skipped.length > 0) {
    sections.push(
      `Skipped (${report.skipped.length}):\n${
        renderTable(
          ["SOURCE", "REASON"],
          report.skipped.map((skipped) => [skipped.source, skipped.reason]),
        )
      }`,
    );
  }
  return sections.join("\n\n");
}

/** The migration steps of one extension (or of the core), applied or not. */
export interface MigrationStatus {
  /** The extension's name, or `core`. */
  owner: string;
  /** The step's name. */
  name: string;
  /** When it was applied, or `undefined` when it is pending. */
  appliedAt?: string;
}

/**
 * Renders the migration steps per extension.
 *
 * @param steps The steps, in order.
 * @returns The text to print.
 *
 * @example
 * ```ts
 * import { formatMigrations } from "./report_table.ts";
 * import assert from "node:assert/strict";
 * const text = formatMigrations([{ owner: "core", name: "0001_create_clusters", appliedAt: "2025-01-01T00:00:00.000Z" }]);
 * assert.match(text, /core +0001_create_clusters +applied +2025-01-01/);
 * ```
 */
export function formatMigrations(steps: readonly MigrationStatus[]): string {
  if (steps.length === 0) return "No migration.";
  return renderTable(
    ["EXTENSION", "MIGRATION", "STATUS", "APPLIED AT"],
    steps.map((step) => [
      step.owner,
      step.name,
      step.appliedAt ? "applied" : "pending",
      step.appliedAt ?? "",
    ]),
  );
}
