/**
 * The service log: one line per message, `<time> <LEVEL> <message>`, on
 * standard output (errors and warnings on standard error).
 *
 * @module
 */
import type { Logger } from "@nailgun/extensions";

/** How much to log, from the most to the least. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/**
 * Whether a text names a log level, e.g. the value of `LOG_LEVEL`.
 *
 * @param value The text.
 * @returns `true` for debug, info, warn, error and silent.
 */
export function isLogLevel(value: string | undefined): value is LogLevel {
  return value !== undefined && Object.hasOwn(RANK, value);
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** The least severe level written; default `info`. */
  level?: LogLevel;
  /** Where a line goes; default the console. */
  write?: (line: string, level: Exclude<LogLevel, "silent">) => void;
  /** Whether to start lines with the time; default `true`. */
  timestamps?: boolean;
}

/**
 * Makes a logger.
 *
 * @param options Level, destination, timestamps.
 * @returns The logger.
 *
 * @example Collect the lines
 * ```ts
 * import { createLogger } from "./logger.ts";
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const logger = createLogger({ write: (line) => lines.push(line), timestamps: false });
 * logger.info("started");
 * logger.debug("hidden");
 * assert.deepEqual(lines, ["INFO started"]);
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const timestamps = options.timestamps ?? true;
  const write = options.write ?? ((line, level) => {
    if (level === "error" || level === "warn") console.error(line);
    else console.log(line);
  });
  const at = (level: Exclude<LogLevel, "silent">) => (message: string) => {
    if (RANK[level] < threshold) return;
    const prefix = timestamps ? `${new Date().toISOString()} ` : "";
    write(`${prefix}${level.toUpperCase()} ${message}`, level);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
