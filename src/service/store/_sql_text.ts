/**
 * The SQL that extensions write, read as far as the store needs: a script
 * becomes its statements, `?` placeholders (the same in both dialects)
 * become `$1..$n` for PostgreSQL, and a statement that would take the
 * connection's transaction or settings away from the host is recognised.
 * Anything inside a string literal, a quoted identifier, a dollar-quoted
 * body or a comment is left alone. Kysely compiles the host's own queries;
 * this is only for the SQL text extensions send.
 *
 * @module
 */

/** A statement with numbered placeholders, and how many it has. */
export interface NumberedStatement {
  /** The statement with `$1..$n` in place of each `?`. */
  text: string;
  /** How many placeholders were translated. */
  count: number;
}

/** A run of SQL text: code, or something quoted or commented out. */
interface Token {
  kind: "code" | "quoted" | "comment";
  text: string;
}

const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * Replaces each `?` placeholder of a statement by `$1`, `$2`, … in order.
 * A `?` inside `'…'` (with `''` escapes, and `\'` in `E'…'`), `"…"`,
 * `$tag$…$tag$`, `-- …` or a (nested) block comment is text, not a
 * placeholder. PostgreSQL's jsonb operators `?`, `?|` and `?&` cannot be
 * written where placeholders are used: use `jsonb_exists`,
 * `jsonb_exists_any` and `jsonb_exists_all`.
 *
 * @param sql A statement with `?` placeholders.
 * @returns The statement with numbered placeholders and their count.
 *
 * @example
 * ```ts
 * import { numberPlaceholders } from "./_sql_text.ts";
 * import assert from "node:assert/strict";
 * const { text, count } = numberPlaceholders("SELECT '?' AS q, a FROM t WHERE a = ? AND b = ?");
 * assert.equal(text, "SELECT '?' AS q, a FROM t WHERE a = $1 AND b = $2");
 * assert.equal(count, 2);
 * ```
 */
export function numberPlaceholders(sql: string): NumberedStatement {
  let count = 0;
  let text = "";
  for (const token of tokenize(sql)) {
    text += token.kind === "code" ? token.text.replace(/\?/g, () => `$${++count}`) : token.text;
  }
  return { text, count };
}

/**
 * Splits a script into its statements at each `;` that is code, dropping
 * statements that hold nothing but blanks and comments.
 *
 * @param sql One statement or several separated by `;`.
 * @returns The statements, without their `;`.
 *
 * @example
 * ```ts
 * import { splitStatements } from "./_sql_text.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   splitStatements("CREATE TABLE a (s text DEFAULT ';'); -- done;\n"),
 *   ["CREATE TABLE a (s text DEFAULT ';')"],
 * );
 * ```
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = "";
  let hasCode = false;
  const flush = () => {
    if (hasCode) statements.push(current.trim());
    current = "";
    hasCode = false;
  };
  let code = ""; // the code of the current statement, without quoted runs and comments
  for (const token of tokenize(sql)) {
    if (token.kind !== "code") {
      current += token.text;
      if (token.kind === "quoted") {
        hasCode = true;
        code += " '' ";
      }
      continue;
    }
    const parts = token.text.split(";");
    parts.forEach((part, index) => {
      if (index > 0) {
        // The body of an SQLite trigger (BEGIN … END) holds statements of its own.
        if (TRIGGER_BODY.test(code) && !/\bEND\s*$/i.test(code)) {
          current += ";";
          code += ";";
        } else {
          flush();
          code = "";
        }
      }
      current += part;
      code += part;
      if (part.trim() !== "") hasCode = true;
    });
  }
  flush();
  return statements;
}

/** A statement that opens an SQLite trigger body (`CREATE TRIGGER … BEGIN`). */
const TRIGGER_BODY = /^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b[\s\S]*\bBEGIN\b/i;

/** Statements that end, open or split the connection's transaction. */
const TRANSACTION_CONTROL = new Set([
  "BEGIN",
  "START",
  "COMMIT",
  "END",
  "ROLLBACK",
  "ABORT",
  "SAVEPOINT",
  "RELEASE",
]);

/** SQLite pragmas that change how the shared connection journals, locks or checks. */
const CONNECTION_PRAGMAS = new Set([
  "journal_mode",
  "locking_mode",
  "synchronous",
  "foreign_keys",
  "defer_foreign_keys",
  "busy_timeout",
  "query_only",
  "writable_schema",
  "recursive_triggers",
  "ignore_check_constraints",
  "legacy_alter_table",
  "trusted_schema",
  "cell_size_check",
  "secure_delete",
  "auto_vacuum",
  "temp_store",
  "cache_size",
  "mmap_size",
  "wal_autocheckpoint",
  "journal_size_limit",
]);

/**
 * Why a statement may not be sent by an extension, or `undefined` when it
 * may: transaction control (`BEGIN`, `START TRANSACTION`, `COMMIT`, `END`,
 * `ROLLBACK`, `ABORT`, `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`), or a
 * change of the shared connection (`PRAGMA journal_mode = …` and the other
 * pragmas that journal, lock or check, `ATTACH`, `DETACH`; on PostgreSQL a
 * session `SET`, `RESET`, `DISCARD`). Reading a pragma is allowed.
 *
 * @param statement One statement (see {@linkcode splitStatements}).
 * @returns `"transaction"`, `"connection"`, or `undefined`.
 *
 * @example
 * ```ts
 * import { refusedStatement } from "./_sql_text.ts";
 * import assert from "node:assert/strict";
 * assert.equal(refusedStatement("/* go *\/ commit"), "transaction");
 * assert.equal(refusedStatement("PRAGMA main.journal_mode = DELETE"), "connection");
 * assert.equal(refusedStatement("PRAGMA journal_mode"), undefined);
 * assert.equal(refusedStatement("SELECT 'BEGIN'"), undefined);
 * ```
 */
export function refusedStatement(statement: string): "transaction" | "connection" | undefined {
  const code = tokenize(statement)
    .map((token) => token.kind === "code" ? token.text : token.kind === "quoted" ? " '' " : " ")
    .join("")
    .trim();
  const words = code.split(/[\s(=;]+/).filter((word) => word !== "");
  const first = (words[0] ?? "").toUpperCase();
  const second = (words[1] ?? "").toUpperCase();
  if (TRANSACTION_CONTROL.has(first)) return "transaction";
  if (first === "PREPARE" && second === "TRANSACTION") return "transaction";
  if (first === "COMMIT" || (first === "ROLLBACK" && second === "PREPARED")) return "transaction";
  if (first === "ATTACH" || first === "DETACH" || first === "RESET" || first === "DISCARD") {
    return "connection";
  }
  if (first === "SET" && second !== "LOCAL" && second !== "CONSTRAINTS") return "connection";
  if (first === "PRAGMA") {
    const name = (words[1] ?? "").split(".").pop()!.toLowerCase();
    const assigns = /^PRAGMA\s+[\w."]+\s*[=(]/i.test(code);
    if (assigns && CONNECTION_PRAGMAS.has(name)) return "connection";
  }
  return undefined;
}

/**
 * Where a value holds a NUL character (`\u0000`), which PostgreSQL cannot
 * store in text or JSON: the store refuses such a value on both dialects.
 *
 * @param value A parameter (strings, and the strings inside arrays and objects, are searched).
 * @returns The path of the first string holding a NUL (`""` for the value itself, `"a.b"`, `"[2]"`), or `undefined`.
 *
 * @example
 * ```ts
 * import { nulPath } from "./_sql_text.ts";
 * import assert from "node:assert/strict";
 * assert.equal(nulPath({ disks: [{ label: "a\u0000" }] }), "disks[0].label");
 * assert.equal(nulPath("fine"), undefined);
 * ```
 */
export function nulPath(value: unknown, path = ""): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return undefined;
  if (value instanceof Date) return undefined;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = nulPath(item, `${path}[${index}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key.includes("\u0000")) return path === "" ? key : `${path}.${key}`;
    const found = nulPath(item, path === "" ? key : `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Cuts SQL text into code, quoted runs and comments. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let code = "";
  const push = (kind: Token["kind"], text: string) => {
    if (code !== "") tokens.push({ kind: "code", text: code });
    code = "";
    tokens.push({ kind, text });
  };
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]) && !/[A-Za-z0-9_$]/.test(sql[i - 2] ?? "");
      const end = endOfQuoted(sql, i, "'", escapes);
      push("quoted", sql.slice(i, end));
      i = end;
    } else if (c === '"') {
      const end = endOfQuoted(sql, i, '"', false);
      push("quoted", sql.slice(i, end));
      i = end;
    } else if (c === "-" && next === "-") {
      const newline = sql.indexOf("\n", i);
      const end = newline === -1 ? n : newline;
      push("comment", sql.slice(i, end));
      i = end;
    } else if (c === "/" && next === "*") {
      const end = endOfBlockComment(sql, i);
      push("comment", sql.slice(i, end));
      i = end;
    } else if (c === "$" && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? "")) {
      const tag = DOLLAR_TAG.exec(sql.slice(i))?.[0];
      if (tag === undefined) {
        code += c;
        i++;
      } else {
        const close = sql.indexOf(tag, i + tag.length);
        const end = close === -1 ? n : close + tag.length;
        push("quoted", sql.slice(i, end));
        i = end;
      }
    } else {
      code += c;
      i++;
    }
  }
  if (code !== "") tokens.push({ kind: "code", text: code });
  return tokens;
}

/** Index just past the quoted run that starts at `start` (or the end of the text). */
function endOfQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === "\\") {
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** Index just past the (possibly nested) block comment that starts at `start`. */
function endOfBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql[i] === "/" && sql[i + 1] === "*") {
      depth++;
      i += 2;
    } else if (sql[i] === "*" && sql[i + 1] === "/") {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return sql.length;
}
