/**
 * Plain-text tables of the load report and of the applied migrations, as
 * `deno task extensions` and `deno task run` print them.
 *
 * @module
 */
import type { LoadReport } from "@nailgun/extensions";

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

/**
 * Renders a load report: the loaded extensions, then the failures and the
 * sources passed over, when there are any.
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
 * ```
 */
export function formatLoadReport(report: LoadReport): string {
  const sections: string[] = [];
  sections.push(
    report.loaded.length === 0 ? "No extension loaded." : renderTable(
      ["NAME", "VERSION", "SOURCE", "DESCRIPTION"],
      report.loaded.map((info) => [info.name, info.version, info.source, info.description]),
    ),
  );
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
