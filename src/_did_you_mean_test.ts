import assert from "node:assert/strict";
import { closestName, editDistance } from "./_did_you_mean.ts";

Deno.test("editDistance() counts insertions, deletions, substitutions and swaps of neighbours", () => {
  assert.equal(editDistance("", ""), 0);
  assert.equal(editDistance("abc", ""), 3);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("onNodeCreate", "onNodeCreated"), 1);
  assert.equal(editDistance("onNodeCreate", "onNodeCraete"), 1);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("onNodeCreate", "onNodeCreate"), 0);
});

Deno.test("closestName() suggests a close known name, ignoring case, and nothing for a far one", () => {
  const hooks = ["onNodeCreate", "onNodeUpdate", "onNodeDelete", "onClusterDelete"];
  assert.equal(closestName("onNodeCreated", hooks), "onNodeCreate");
  assert.equal(closestName("onnodedelete", hooks), "onNodeDelete");
  assert.equal(closestName("onClusterDeleted", hooks), "onClusterDelete");
  assert.equal(closestName("onMessage", hooks), undefined);
  assert.equal(closestName("onNodeCreate", hooks), undefined, "a known name is no misspelling");
  assert.equal(closestName("abc", ["xyz"]), undefined);
});
