import assert from "node:assert/strict";
import { describeJsonPosition, jsonErrorOffset } from "./_json_position.ts";

Deno.test("jsonErrorOffset() finds the first syntax error, or the end for text that ends early", () => {
  const cases: [string, number][] = [
    ['{"a": 1,}', 8],
    ["[1, 2,, 3]", 6],
    ['{"a" 1}', 5],
    ['"tab\there"', 4],
    ['"\\x"', 2],
    ['"\\u12G4"', 2],
    ["01", 1],
    ["[1, 2", 5],
    ["", 0],
    ["nul", 0],
    ['{"a": 1} x', 9],
  ];
  for (const [text, offset] of cases) {
    assert.equal(jsonErrorOffset(text), offset, JSON.stringify(text));
    assert.throws(() => JSON.parse(text), SyntaxError, "each case is invalid JSON");
  }
  const valid = '{"a": [1, {"b": null}], "c": "\\u00e9"}';
  assert.equal(jsonErrorOffset(valid), valid.length, "valid JSON has no error offset");
});

Deno.test("describeJsonPosition() gives the 1-based line and column and what is found there", () => {
  assert.deepEqual(describeJsonPosition('{\n  "a": 1,,\n}', 11), {
    line: 2,
    column: 10,
    reason: 'unexpected ","',
  });
  assert.deepEqual(describeJsonPosition("[\n", 2), {
    line: 2,
    column: 1,
    reason: "the text ends too early",
  });
  assert.deepEqual(describeJsonPosition("[\u00a0]", 1), {
    line: 1,
    column: 2,
    reason: "unexpected U+00A0",
  });
  assert.deepEqual(describeJsonPosition("[]", 99), {
    line: 1,
    column: 3,
    reason: "the text ends too early",
  });
});
