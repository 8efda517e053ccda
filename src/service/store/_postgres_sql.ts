/**
 * Translation of the `?` placeholders that extensions write (in both
 * dialects) into PostgreSQL's numbered `$1..$n`, leaving alone every `?`
 * inside a string literal, a quoted identifier, a dollar-quoted body or a
 * comment.
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

const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * Replaces each `?` placeholder of a statement by `$1`, `$2`, … in order.
 * A `?` inside `'…'` (with `''` escapes, and `\'` in `E'…'`), `"…"`,
 * `$tag$…$tag$`, `-- …` or `/* … *\/` (nested) is text, not a placeholder.
 * PostgreSQL's jsonb operators `?`, `?|` and `?&` cannot be written with
 * placeholders: use `jsonb_exists`, `jsonb_exists_any`, `jsonb_exists_all`.
 *
 * @param sql A statement with `?` placeholders.
 * @returns The statement with numbered placeholders and their count.
 *
 * @example
 * ```ts
 * import { numberPlaceholders } from "./_postgres_placeholders.ts";
 * import assert from "node:assert/strict";
 * const { text, count } = numberPlaceholders("SELECT '?' AS q, a FROM t WHERE a = ? AND b = ?");
 * assert.equal(text, "SELECT '?' AS q, a FROM t WHERE a = $1 AND b = $2");
 * assert.equal(count, 2);
 * ```
 */
export function numberPlaceholders(sql: string): NumberedStatement {
  let text = "";
  let count = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === "?") {
      text += `$${++count}`;
      i++;
    } else if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]) && !/[A-Za-z0-9_$]/.test(sql[i - 2] ?? "");
      const end = endOfQuoted(sql, i, "'", escapes);
      text += sql.slice(i, end);
      i = end;
    } else if (c === '"') {
      const end = endOfQuoted(sql, i, '"', false);
      text += sql.slice(i, end);
      i = end;
    } else if (c === "-" && next === "-") {
      const newline = sql.indexOf("\n", i);
      const end = newline === -1 ? n : newline;
      text += sql.slice(i, end);
      i = end;
    } else if (c === "/" && next === "*") {
      const end = endOfBlockComment(sql, i);
      text += sql.slice(i, end);
      i = end;
    } else if (c === "$" && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? "")) {
      const tag = DOLLAR_TAG.exec(sql.slice(i))?.[0];
      if (tag === undefined) {
        text += c;
        i++;
      } else {
        const close = sql.indexOf(tag, i + tag.length);
        const end = close === -1 ? n : close + tag.length;
        text += sql.slice(i, end);
        i = end;
      }
    } else {
      text += c;
      i++;
    }
  }
  return { text, count };
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
