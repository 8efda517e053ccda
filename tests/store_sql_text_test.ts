import assert from "node:assert/strict";
import { numberPlaceholders, splitStatements } from "../src/service/store/_sql_text.ts";

Deno.test("numberPlaceholders() numbers each ? outside literals, identifiers and comments", async (t) => {
  const cases: [string, string, string, number][] = [
    ["plain", "SELECT ? + ?", "SELECT $1 + $2", 2],
    ["none", "SELECT 1", "SELECT 1", 0],
    ["string literal", "SELECT '?', ?", "SELECT '?', $1", 1],
    ["doubled quote", "SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", 1],
    ["escape string", "SELECT E'\\' ?', ?", "SELECT E'\\' ?', $1", 1],
    [
      "quoted identifier",
      'SELECT "a?""b" FROM t WHERE x = ?',
      'SELECT "a?""b" FROM t WHERE x = $1',
      1,
    ],
    ["line comment", "SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2", 2],
    ["nested block comment", "SELECT /* a /* ? */ ? */ ?", "SELECT /* a /* ? */ ? */ $1", 1],
    ["dollar quote", "SELECT $$ ? $$, $f$ ? $$ ? $f$, ?", "SELECT $$ ? $$, $f$ ? $$ ? $f$, $1", 1],
    ["numbered already", "SELECT $1, $2", "SELECT $1, $2", 0],
    ["identifier with $", "SELECT a$b, ?", "SELECT a$b, $1", 1],
    ["unterminated literal", "SELECT ?, 'oops ?", "SELECT $1, 'oops ?", 1],
  ];
  for (const [name, sql, text, count] of cases) {
    await t.step(name, () => {
      assert.deepEqual(numberPlaceholders(sql), { text, count });
    });
  }
});

Deno.test("splitStatements() splits at each ; that is code and drops empty statements", async (t) => {
  const cases: [string, string, string[]][] = [
    ["one", "SELECT 1", ["SELECT 1"]],
    ["trailing semicolon", "SELECT 1;\n", ["SELECT 1"]],
    ["two", "CREATE TABLE a (x int); INSERT INTO a VALUES (1);", [
      "CREATE TABLE a (x int)",
      "INSERT INTO a VALUES (1)",
    ]],
    ["literal", "SELECT ';'; SELECT 2", ["SELECT ';'", "SELECT 2"]],
    ["identifier", 'SELECT 1 AS ";"', ['SELECT 1 AS ";"']],
    ["comments only", "SELECT 1; -- the end;\n/* ; */", ["SELECT 1"]],
    [
      "function body",
      "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT f()",
      [
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
        "SELECT f()",
      ],
    ],
    ["blank", "  ;; ", []],
  ];
  for (const [name, sql, statements] of cases) {
    await t.step(name, () => {
      assert.deepEqual(splitStatements(sql), statements);
    });
  }
});
