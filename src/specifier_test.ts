import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  extensionModuleOf,
  isMissingExportError,
  isModuleNotFoundError,
  isPathSpecifier,
  parsePackageReference,
} from "./specifier.ts";

async function importError(specifier: string): Promise<unknown> {
  try {
    await import(specifier);
  } catch (error) {
    return error;
  }
  throw new Error(`importing ${specifier} did not fail`);
}

Deno.test("isModuleNotFoundError() tells a missing module from one that is there but fails", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun specifier #1 Ü " });
  const url = (name: string) => pathToFileURL(join(dir, name)).href;
  try {
    await Deno.writeTextFile(join(dir, "nested.ts"), 'import "./gone.ts";\nexport default 1;\n');
    await Deno.writeTextFile(
      join(dir, "throws.ts"),
      'throw new Error("GET /inventory answered 404: not found");\n',
    );
    await Deno.writeTextFile(
      join(dir, "dynamic.ts"),
      `await import(${JSON.stringify(url("elsewhere.ts"))});\n`,
    );
    await t.step("a missing file", async () => {
      const error = await importError(url("missing.ts"));
      assert.equal(isModuleNotFoundError(error), true);
      assert.equal(isModuleNotFoundError(error, url("missing.ts")), true);
    });
    await t.step("an unknown bare specifier", async () => {
      const error = await importError("@acme/surely-unknown/nailgun.extensions");
      assert.equal(isModuleNotFoundError(error, "@acme/surely-unknown/nailgun.extensions"), true);
    });
    await t.step("a module whose own static import is missing", async () => {
      assert.equal(isModuleNotFoundError(await importError(url("nested.ts"))), false);
    });
    await t.step("a module whose top-level code throws a 404", async () => {
      const error = await importError(url("throws.ts"));
      assert.equal(isModuleNotFoundError(error, url("throws.ts")), false);
    });
    await t.step("a module whose top-level dynamic import is missing", async () => {
      const error = await importError(url("dynamic.ts"));
      assert.equal(isModuleNotFoundError(error, url("dynamic.ts")), false);
    });
    await t.step("a plain Error that says Module not found", () => {
      assert.equal(isModuleNotFoundError(new TypeError('Module not found "x".')), false);
    });
    await t.step("the text of a Worker's error", () => {
      assert.equal(isModuleNotFoundError(`TypeError: Module not found "${url("x.ts")}".`), true);
      assert.equal(isModuleNotFoundError("Error: upstream answered 404: not found"), false);
      assert.equal(
        isModuleNotFoundError(
          `TypeError: Module not found "${url("x.ts")}".\n    at ${url("y.ts")}:1:8`,
        ),
        false,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("isMissingExportError() tells a package without ./nailgun.extensions from code that says so", async () => {
  // zod is a dependency of this library, so the npm cache holds it; it exports no such subpath.
  const error = await importError("npm:zod@^4.1.0/nailgun.extensions");
  assert.equal(isMissingExportError(error), true);
  assert.equal(isModuleNotFoundError(error, "npm:zod@^4.1.0/nailgun.extensions"), true);
  assert.equal(isMissingExportError(new Error('"./nailgun.extensions" is not exported')), false);
  assert.equal(isMissingExportError(new TypeError("x is not exported")), false);
  assert.equal(isMissingExportError("Unknown export './nailgun.extensions'"), false);
});

Deno.test("parsePackageReference() splits jsr: and npm: specifiers and refuses the rest", () => {
  assert.deepEqual(parsePackageReference("jsr:@acme/audit@^1/nailgun.extensions"), {
    registry: "jsr",
    name: "@acme/audit",
    version: "^1",
    subpath: "nailgun.extensions",
  });
  assert.deepEqual(parsePackageReference("npm:nailgun-audit"), {
    registry: "npm",
    name: "nailgun-audit",
    version: undefined,
    subpath: undefined,
  });
  assert.deepEqual(parsePackageReference("npm:/@scope/pkg@1.2.3/"), {
    registry: "npm",
    name: "@scope/pkg",
    version: "1.2.3",
    subpath: undefined,
  });
  assert.equal(parsePackageReference("jsr:unscoped"), undefined, "JSR packages have a scope");
  assert.equal(parsePackageReference("@acme/audit"), undefined);
  assert.equal(parsePackageReference("./jsr:x.ts"), undefined);
});

Deno.test("isPathSpecifier() accepts relative, absolute and file: paths only", () => {
  for (const path of ["./a.ts", "../a.ts", "/a.ts", "file:///a.ts", "C:\\a.ts", "C:/a.ts"]) {
    assert.equal(isPathSpecifier(path), true, path);
  }
  for (const other of ["a.ts", "examples/logging/mod.ts", "@acme/audit", "jsr:@a/b", ".a.ts"]) {
    assert.equal(isPathSpecifier(other), false, other);
  }
});

Deno.test("extensionModuleOf() appends the ./nailgun.extensions subpath once", () => {
  assert.equal(extensionModuleOf("@acme/audit", false), "@acme/audit/nailgun.extensions");
  assert.equal(extensionModuleOf("util/", false), "util/nailgun.extensions");
  assert.equal(extensionModuleOf("jsr:@acme/audit@^1/mod.ts", true), "jsr:@acme/audit@^1/mod.ts");
});
