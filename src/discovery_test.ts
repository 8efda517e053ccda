import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findCandidatePackages, toFileUrl } from "./discovery.ts";

Deno.test("toFileUrl() keeps every character of a path, relative or absolute", () => {
  for (
    const path of [
      "/home/me/My Projects/nailgun/extensions.json",
      "/srv/#1/%20/100%/a?b/extensions.json",
      "/home/Ünïcødé/日本語/extensions.json",
    ]
  ) {
    assert.equal(fileURLToPath(toFileUrl(path)), path);
  }
  assert.equal(fileURLToPath(toFileUrl("a b/#c.json")), join(Deno.cwd(), "a b", "#c.json"));
  assert.equal(toFileUrl("/x/a b#%.json").href, "file:///x/a%20b%23%25.json");
});

Deno.test("findCandidatePackages() answers whole jsr: and npm: packages sorted by key, whatever the file's order", () => {
  const imports: Record<string, string> = {
    "zeta": "npm:zeta@1",
    "@acme/audit": "jsr:@acme/audit@^1",
    "Upper": "npm:upper@1",
    "module": "jsr:@acme/tools@^1/mod.ts",
    "prefix/": "jsr:@acme/prefix@^1/",
    "local": "./local/mod.ts",
    "remote": "https://example.com/mod.ts",
    "alpha": "jsr:@acme/alpha@^2",
    "excluded-by-name": "npm:unwanted@1",
  };
  const candidates = findCandidatePackages({ file: "deno.json", imports }, ["unwanted", "zeta"]);
  assert.deepEqual(candidates.map((candidate) => candidate.key), ["@acme/audit", "Upper", "alpha"]);
  assert.deepEqual(candidates[2]!.package, {
    registry: "jsr",
    name: "@acme/alpha",
    version: "^2",
    subpath: undefined,
  });
});
