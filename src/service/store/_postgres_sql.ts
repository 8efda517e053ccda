/**
 * The SQL that extensions write, made ready for PostgreSQL: `?` placeholders
 * (the same in both dialects) become `$1..$n`, and a script becomes its
 * statements. Anything inside a string literal, a quoted identifier, a
 * dollar-quoted body or a comment is left alone.
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
 * import { numberPlaceholders } from "./_postgres_sql.ts";
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
 * import { splitStatements } from "./_postgres_sql.ts";
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
  for (const token of tokenize(sql)) {
    if (token.kind !== "code") {
      current += token.text;
      if (token.kind === "quoted") hasCode = true;
      continue;
    }
    const parts = token.text.split(";");
    parts.forEach((part, index) => {
      if (index > 0) flush();
      current += part;
      if (part.trim() !== "") hasCode = true;
    });
  }
  flush();
  return statements;
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
