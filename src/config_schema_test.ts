import assert from "node:assert/strict";
import { z } from "zod";
import { ExtensionConfigError, parseExtensionsConfig } from "../mod.ts";
import { _extensionsFileZodSchema } from "./config.ts";

const schemaFile = new URL("../extensions.schema.json", import.meta.url);

Deno.test("extensions.schema.json is generated from the config schema", async () => {
  const generated = z.toJSONSchema(_extensionsFileZodSchema, { io: "input" });
  const committed = JSON.parse(await Deno.readTextFile(schemaFile));
  assert.deepEqual(
    committed,
    { ...generated, title: "Nailgun extensions config (extensions.json)" },
    "run: deno run -A src/config_schema_test.ts --write",
  );
});

Deno.test("parseExtensionsConfig() names the JSON path, the expected form and the value", async (t) => {
  const cases: [unknown, string][] = [
    [
      { "nailgun.extensions": ["./a.ts", 42] },
      '$["nailgun.extensions"][1] must be a specifier string or an object {specifier, sandbox}: current value is 42',
    ],
    [
      { "nailgun.extensions": { load: [], discover: "yes" } },
      '$["nailgun.extensions"].discover must be true or false: current value is "yes"',
    ],
    [
      { "nailgun.extensions": { load: [], handlerTimeoutMs: -5 } },
      '$["nailgun.extensions"].handlerTimeoutMs must be positive: current value is -5',
    ],
    [
      { "nailgun.extensions": { lod: [] } },
      '$["nailgun.extensions"] has an unknown key "lod": known keys are load, discover, exclude, clusterDefaults, handlerTimeoutMs, strict, breaker, calls, delivery, settings: current value is {"lod":[]}',
    ],
    [
      { "nailgun.extensions": { load: [{ specifier: "./a.ts", sandbox: { net: "x" } }] } },
      '$["nailgun.extensions"].load[0].sandbox.net must be a list of strings: current value is "x"',
    ],
    [{ other: 1 }, 'it has no "nailgun.extensions" section: add { "nailgun.extensions": [] }'],
  ];
  for (const [input, expected] of cases) {
    await t.step(expected, () => {
      assert.throws(
        () => parseExtensionsConfig(input, "extensions.json"),
        (error: unknown) => {
          assert.ok(error instanceof ExtensionConfigError);
          assert.equal(error.file, "extensions.json");
          assert.equal(
            error.message,
            `Cannot read extensions config "extensions.json": ${expected}`,
          );
          return true;
        },
      );
    });
  }
});

Deno.test("parseExtensionsConfig() fills in every default", () => {
  assert.deepEqual(
    parseExtensionsConfig({ "nailgun.extensions": { load: ["jsr:@acme/audit@^1"] } }),
    {
      load: ["jsr:@acme/audit@^1"],
      discover: true,
      exclude: [],
      clusterDefaults: [],
      handlerTimeoutMs: 10_000,
      strict: false,
      breaker: { failures: 3, cooldownMs: 30_000 },
      calls: { maxDepth: 8, maxPending: 64 },
      delivery: { maxAttempts: 10, retryBaseMs: 1_000, retryMaxMs: 60_000 },
      settings: {},
    },
  );
});

if (import.meta.main && Deno.args.includes("--write")) {
  const generated = z.toJSONSchema(_extensionsFileZodSchema, { io: "input" });
  await Deno.writeTextFile(
    schemaFile,
    JSON.stringify(
      { ...generated, title: "Nailgun extensions config (extensions.json)" },
      null,
      2,
    ) +
      "\n",
  );
}
