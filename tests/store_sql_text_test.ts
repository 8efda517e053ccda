import assert from "node:assert/strict";
import {
  numberPlaceholders,
  refusedStatement,
  splitStatements,
} from "../src/service/store/_sql_text.ts";

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

Deno.test("splitStatements() keeps the body of an SQLite trigger in its statement", () => {
  const trigger = `CREATE TRIGGER volumes_touch AFTER UPDATE ON volumes_disks BEGIN
    UPDATE volumes_disks SET seen = 1 WHERE id = NEW.id;
    DELETE FROM volumes_log WHERE id < 0;
  END`;
  assert.deepEqual(splitStatements(`${trigger}; SELECT 1`), [trigger, "SELECT 1"]);
});

Deno.test("refusedStatement() refuses transaction control and connection settings, and nothing else", () => {
  const cases: [string, "transaction" | "connection" | undefined][] = [
    ["BEGIN", "transaction"],
    ["begin deferred transaction", "transaction"],
    ["START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "transaction"],
    ["COMMIT", "transaction"],
    ["end transaction", "transaction"],
    ["ROLLBACK TO SAVEPOINT a", "transaction"],
    ["ABORT", "transaction"],
    ["SAVEPOINT a", "transaction"],
    ["RELEASE SAVEPOINT a", "transaction"],
    ["PREPARE TRANSACTION 'x'", "transaction"],
    ["COMMIT PREPARED 'x'", "transaction"],
    ["-- a comment\n  /* and another */ Commit", "transaction"],
    ["PRAGMA journal_mode = DELETE", "connection"],
    ["PRAGMA main.journal_mode=MEMORY", "connection"],
    ["PRAGMA foreign_keys(0)", "connection"],
    ["PRAGMA synchronous = OFF", "connection"],
    ["ATTACH DATABASE 'x.db' AS x", "connection"],
    ["SET search_path = elsewhere", "connection"],
    ["SET SESSION statement_timeout = 0", "connection"],
    ["RESET ALL", "connection"],
    ["DISCARD ALL", "connection"],
    ["PRAGMA journal_mode", undefined],
    ["PRAGMA table_info(volumes_disks)", undefined],
    ["SET LOCAL statement_timeout = 1000", undefined],
    ["SELECT 'BEGIN; COMMIT'", undefined],
    ["UPDATE volumes_disks SET state = 'commit'", undefined],
    [
      "CREATE TRIGGER volumes_t AFTER INSERT ON volumes_disks BEGIN SELECT 1; END",
      undefined,
    ],
    ["CREATE TABLE volumes_end (id INTEGER)", undefined],
  ];
  for (const [statement, expected] of cases) {
    assert.equal(refusedStatement(statement), expected, statement);
  }
});
