import assert from "node:assert/strict";
import { ExtensionConfigError, parseExtensionsConfig } from "../mod.ts";

Deno.test("parseExtensionsConfig() lists the keys of the nested object that holds an unknown key", async (t) => {
  const cases: { what: string; section: unknown; reason: string }[] = [
    {
      what: "sandbox",
      section: { load: [{ specifier: "./a.ts", sandbox: { reed: ["/tmp"] } }] },
      reason:
        '$["nailgun.extensions"].load[0].sandbox has an unknown key "reed": known keys are net, env, read, write: current value is {"reed":["/tmp"]}',
    },
    {
      what: "a load entry object",
      section: { load: ["./b.ts", { specifier: "./a.ts", sandbx: {} }] },
      reason:
        '$["nailgun.extensions"].load[1] has an unknown key "sandbx": known keys are specifier, sandbox: current value is {"specifier":"./a.ts","sandbx":{}}',
    },
    {
      what: "a load entry object in a plain list",
      section: [{ specifier: "./a.ts", permissions: {} }],
      reason:
        '$["nailgun.extensions"][0] has an unknown key "permissions": known keys are specifier, sandbox: current value is {"specifier":"./a.ts","permissions":{}}',
    },
    {
      what: "breaker",
      section: { breaker: { failure: 3 } },
      reason:
        '$["nailgun.extensions"].breaker has an unknown key "failure": known keys are failures, cooldownMs: current value is {"failure":3}',
    },
    {
      what: "calls",
      section: { calls: { depth: 3 } },
      reason:
        '$["nailgun.extensions"].calls has an unknown key "depth": known keys are maxDepth, maxPending: current value is {"depth":3}',
    },
    {
      what: "delivery",
      section: { delivery: { attempts: 3 } },
      reason:
        '$["nailgun.extensions"].delivery has an unknown key "attempts": known keys are maxAttempts, retryBaseMs, retryMaxMs: current value is {"attempts":3}',
    },
  ];
  for (const { what, section, reason } of cases) {
    await t.step(what, () => {
      assert.throws(
        () => parseExtensionsConfig({ "nailgun.extensions": section }, "extensions.json"),
        (error: unknown) => {
          assert.ok(error instanceof ExtensionConfigError);
          assert.equal(error.message, `Cannot read extensions config "extensions.json": ${reason}`);
          return true;
        },
      );
    });
  }
});
