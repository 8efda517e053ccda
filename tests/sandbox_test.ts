// Sandboxed extensions (src/sandbox/): each runs in its own Worker with
// exactly the permissions of its entry in extensions.json, loaded through
// loadExtensions() and driven through the ExtensionManager, beside
// extensions that run in process. Fixtures are in tests/_sandbox/.
//
// Run: deno test -A --unstable-worker-options tests/sandbox_test.ts
import { makeCluster, makeNode, until } from "./_payloads.ts";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  ExtensionError,
  type ExtensionPermissions,
  ExtensionVetoError,
  type LoadEntry,
  loadExtensions,
  type LoadResult,
  type Logger,
} from "../mod.ts";
import { createSandboxLauncher, sandboxStatus } from "../src/sandbox/launcher.ts";
import { recorder } from "./_sandbox/recorder.ts";
import { call, startSandboxedNailgun } from "./_sandbox/_service.ts";
import type { Recorded } from "./_sandbox/_recording.ts";

const CONFIG_FILE = fileURLToPath(new URL("./_sandbox/extensions.json", import.meta.url));
const LIMIT_MS = 300;

interface Loaded extends LoadResult {
  lines: string[];
  /** What the launcher reported to `onFault`: extension name and error. */
  faults: [string, string][];
}

/** Loads `load` (paths relative to tests/_sandbox/) with a sandbox launcher and a captured log. */
async function load(
  load: (string | LoadEntry)[],
  settings: Record<string, Record<string, unknown>> = {},
  launcher: { maxRestarts?: number; handlerTimeoutMs?: number } = {},
): Promise<Loaded> {
  const lines: string[] = [];
  const faults: [string, string][] = [];
  const logger: Logger = {
    debug: (message) => lines.push(`debug: ${message}`),
    info: (message) => lines.push(`info: ${message}`),
    warn: (message) => lines.push(`warn: ${message}`),
    error: (message) => lines.push(`error: ${message}`),
  };
  const result = await loadExtensions({
    configFile: CONFIG_FILE,
    importMap: { file: "<none>", imports: {} },
    config: { load, discover: false, settings, handlerTimeoutMs: LIMIT_MS },
    sandbox: createSandboxLauncher({
      logger,
      handlerTimeoutMs: LIMIT_MS,
      onFault: (name, error) => faults.push([name, `${error.name}: ${error.message}`]),
      ...launcher,
    }),
    services: { logger },
  });
  return { ...result, lines, faults };
}

function sandboxed(specifier: string, sandbox: ExtensionPermissions = {}): LoadEntry {
  return { specifier, sandbox };
}

/** A TCP listener on loopback that greets each connection and closes it. */
function greetingListener(greeting: string): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const connection of listener) {
      await connection.write(new TextEncoder().encode(greeting)).catch(() => {});
      connection.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: async () => {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("createSandboxLauncher() refuses what is not granted and reports it with the extension's name", async (t) => {
  const file = await Deno.makeTempFile({ prefix: "nailgun-sandbox-" });
  await Deno.writeTextFile(file, "secret file");
  const listener = greetingListener("hello from the listener");
  const variable = "NAILGUN_SANDBOX_TEST_SECRET";
  Deno.env.set(variable, "secret value");
  const { manager, report, lines, faults } = await load(
    [sandboxed("./prober.ts"), "./recorder.ts"],
    { prober: { file, port: listener.port, variable } },
  );
  recorder.received.length = 0;
  try {
    assert.deepEqual(report.failed, []);
    assert.deepEqual(manager.names, ["prober", "recorder"]);
    const cases = [
      { hook: "onNodeCreate", denied: `read access to "${file}"` },
      { hook: "onNodeUpdate", denied: `net access to "127.0.0.1:${listener.port}"` },
      { hook: "onNodeReset", denied: `env access to "${variable}"` },
    ] as const;
    for (const [index, { hook, denied }] of cases.entries()) {
      await t.step(`${hook}: ${denied.split(" ")[0]}`, async () => {
        const result = await manager.notify(hook, makeNode(index + 1));
        // Delivered to both; the sandboxed one's refusal is in the result, as in process.
        assert.equal(result.handled, 1);
        assert.deepEqual(
          result.failures.map(({ extension, hook, kind }) => ({ extension, hook, kind })),
          [{ extension: "prober", hook, kind: "rejected" }],
        );
        assert.match(
          result.failures[0]!.message,
          new RegExp(`^NotCapable: Requires ${escape(denied)}`),
        );
        assert.deepEqual(faults, [], "a caller saw it: it is not reported to onFault");
        assert.ok(
          lines.some((line) =>
            line.startsWith(`error: extension "prober" failed in ${hook} (rejected): NotCapable:`)
          ),
          lines.join("\n"),
        );
        assert.equal(recorder.received.at(-1)?.hook, hook);
      });
    }
    assert.deepEqual(await manager.call("results"), {});
    assert.equal(sandboxStatus(manager.get("prober"))?.restarts, 0);
  } finally {
    await manager.teardown();
    await listener.close();
    Deno.env.delete(variable);
    await Deno.remove(file);
  }
});

Deno.test("POST /api/v1/nodes/ creates the node when a sandboxed extension is refused a read; the others get the event", async () => {
  const file = await Deno.makeTempFile({ prefix: "nailgun-sandbox-" });
  const lines: string[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (message) => lines.push(`warn: ${message}`),
    error: (message) => lines.push(`error: ${message}`),
  };
  const nailgun = await startSandboxedNailgun({
    load: [sandboxed("./prober.ts"), "./recorder.ts"],
    settings: { prober: { file } },
    handlerTimeoutMs: LIMIT_MS,
    logger,
  });
  recorder.received.length = 0;
  try {
    const created = await call(`${nailgun.api}/nodes/`, "POST", { mac: "52:54:00:00:02:01" });
    assert.equal(created.status, 201);
    // Logged before the answer: the notification ran before the response.
    assert.ok(
      lines.some((line) =>
        line.startsWith(
          `error: extension "prober" failed in onNodeCreate (rejected): NotCapable: Requires read access to "${file}"`,
        )
      ),
      lines.join("\n"),
    );
    assert.deepEqual(recorder.received.map((event) => event.hook), ["onNodeCreate"]);
    assert.equal((await call(`${nailgun.api}/nodes/`, "GET")).status, 200);
  } finally {
    await nailgun.close();
    await Deno.remove(file);
  }
});

Deno.test("createSandboxLauncher() lets an extension read the file, host and variable it was granted", async () => {
  const file = await Deno.makeTempFile({ prefix: "nailgun-sandbox-" });
  await Deno.writeTextFile(file, "granted file");
  const listener = greetingListener("hello from the listener");
  const variable = "NAILGUN_SANDBOX_TEST_GRANTED";
  Deno.env.set(variable, "granted value");
  const { manager, report, faults } = await load(
    [sandboxed("./prober.ts", {
      read: [file],
      net: [`127.0.0.1:${listener.port}`],
      env: [variable],
    })],
    { prober: { file, port: listener.port, variable } },
  );
  try {
    assert.deepEqual(report.failed, []);
    for (const hook of ["onNodeCreate", "onNodeUpdate", "onNodeReset"] as const) {
      const result = await manager.notify(hook, makeNode(1));
      assert.deepEqual(result.failures.map((failure) => failure.message), [], hook);
    }
    assert.deepEqual(faults, []);
    assert.deepEqual(await manager.call("results"), {
      file: "granted file",
      net: "hello from the listener",
      env: "granted value",
    });
  } finally {
    await manager.teardown();
    await listener.close();
    Deno.env.delete(variable);
    await Deno.remove(file);
  }
});

Deno.test("createSandboxLauncher() refuses an extension that declares more than the grant, naming what is missing and the entry to write", async () => {
  const { manager, report } = await load([
    sandboxed("./declarer.ts", { env: ["NAILGUN_SANDBOX_TOKEN"] }),
    "./recorder.ts",
  ]);
  try {
    assert.deepEqual(manager.names, ["recorder"]);
    assert.deepEqual(report.failed, [{
      source: "./declarer.ts",
      name: "declarer",
      phase: "sandbox",
      message: 'Cannot load extension "./declarer.ts": "declarer" declares permissions that ' +
        'the sandbox does not grant: net "127.0.0.1:9"; read "/etc/hostname": grant them in ' +
        'extensions.json with {"specifier":"./declarer.ts","sandbox":{"net":["127.0.0.1:9"],' +
        '"env":["NAILGUN_SANDBOX_TOKEN"],"read":["/etc/hostname"]}}: current grant is ' +
        'env "NAILGUN_SANDBOX_TOKEN"',
    }]);
  } finally {
    await manager.teardown();
  }
});

Deno.test("createSandboxLauncher() loads an extension whose declared permissions the grant covers", async () => {
  const { manager, report } = await load([
    sandboxed("./declarer.ts", {
      net: ["127.0.0.1"],
      env: ["NAILGUN_SANDBOX_*"],
      read: ["/etc"],
    }),
  ]);
  try {
    assert.deepEqual(report.failed, []);
    assert.deepEqual(manager.get("declarer").permissions, {
      net: ["127.0.0.1:9"],
      env: ["NAILGUN_SANDBOX_TOKEN"],
      read: ["/etc/hostname"],
    });
  } finally {
    await manager.teardown();
  }
});

Deno.test("createSandboxLauncher() delivers the same payloads to a sandboxed extension as to one in process", async () => {
  const { manager, report } = await load([sandboxed("./echo.ts"), "./recorder.ts"]);
  recorder.received.length = 0;
  try {
    assert.deepEqual(report.failed, []);
    const prod = makeCluster(["echo"]);
    await manager.notify(
      "onNodeCreate",
      makeNode(1, { roles: ["controller"], meta: { disks: [1, 2] } }),
    );
    await manager.notify("onClusterCreate", prod, { name: "prod", extensions: ["echo"] });
    await manager.notify("onClusterPatchAttributes", prod, { debug: true, nested: { a: [1] } });
    await manager.notify("onNodeCollectionDelete", [1, 2, 3]);
    await manager.notify("onNodegroupCreate", { id: 4, name: "rack-1", cluster_id: 1 });
    const sandboxedCopy = await manager.call("echoReceived") as Recorded[];
    assert.equal(recorder.received.length, 5);
    assert.deepEqual(sandboxedCopy, recorder.received);
    assert.ok(
      sandboxedCopy.every((event) => event.frozen.every(Boolean)),
      "payloads are frozen in the sandbox too",
    );
  } finally {
    await manager.teardown();
  }
});

Deno.test("createSandboxLauncher() makes a sandboxed veto stop manager.check() as an in-process veto does", async () => {
  const { manager, report } = await load([sandboxed("./veto_box.ts"), "./veto_local.ts"]);
  try {
    assert.deepEqual(report.failed, []);
    const nodes = [makeNode(1), makeNode(2, { name: "bad", roles: ["forbidden"] })];
    const refusals: ExtensionVetoError[] = [];
    for (const name of ["veto_box", "veto_local"]) {
      const prod = makeCluster([name]);
      await manager.check("onBeforeDeploymentCheck", prod, [makeNode(1)]);
      const refusal = await manager.check("onBeforeDeploymentCheck", prod, nodes).then(
        () => assert.fail(`${name} did not veto`),
        (error) => error,
      );
      assert.ok(refusal instanceof ExtensionVetoError, String(refusal));
      refusals.push(refusal);
    }
    const [box, local] = refusals;
    assert.equal(
      box?.message,
      'Extension "veto_box" vetoed onBeforeDeploymentCheck: node "bad" of "prod" has a forbidden role',
    );
    assert.equal(local?.message, box?.message.replace("veto_box", "veto_local"));
    assert.equal(box?.extension, "veto_box");
    assert.equal(box?.hook, local?.hook);
    // A cluster that does not enable the sandboxed extension is not checked by it.
    await manager.check("onBeforeDeploymentCheck", makeCluster([]), nodes);
  } finally {
    await manager.teardown();
  }
});

Deno.test("PUT /api/v1/clusters/{id}/changes/ answers 409 for a sandboxed veto as for an in-process one, and deploys nothing", async () => {
  const nailgun = await startSandboxedNailgun({
    load: [sandboxed("./veto_box.ts"), "./veto_local.ts"],
    handlerTimeoutMs: LIMIT_MS,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const { api } = nailgun;
  try {
    const answers: { status: number; body: Record<string, unknown> }[] = [];
    for (const [index, name] of ["veto_box", "veto_local"].entries()) {
      const made = await call(`${api}/clusters/`, "POST", {
        name: `env-${name}`,
        extensions: [name],
      });
      assert.equal(made.status, 201);
      const id = (made.body as { id: number }).id;
      const node = await call(`${api}/nodes/`, "POST", {
        mac: `52:54:00:00:03:0${index}`,
        name: "bad",
        cluster_id: id,
        roles: ["forbidden"],
      });
      assert.equal(node.status, 201);
      const deploy = await call(`${api}/clusters/${id}/changes/`, "PUT");
      answers.push(deploy as { status: number; body: Record<string, unknown> });
      const after = await call(`${api}/clusters/${id}/`, "GET");
      assert.equal((after.body as { status: string }).status, "new", "nothing was deployed");
    }
    const [box, local] = answers;
    assert.deepEqual(box, {
      status: 409,
      body: {
        message:
          'Extension "veto_box" vetoed onBeforeDeploymentCheck: node "bad" of "env-veto_box" has a forbidden role',
        extension: "veto_box",
        hook: "onBeforeDeploymentCheck",
      },
    });
    assert.deepEqual(local, {
      status: 409,
      body: {
        message: String(box?.body.message).replaceAll("veto_box", "veto_local"),
        extension: "veto_local",
        hook: "onBeforeDeploymentCheck",
      },
    });
  } finally {
    await nailgun.close();
  }
});

Deno.test("createSandboxLauncher() carries provided calls, pipelines, settings, calls to the host and log lines across the boundary", async () => {
  const { manager, report, lines } = await load(
    [sandboxed("./calculator.ts"), "./greeter.ts"],
    { calculator: { factor: 3 } },
  );
  try {
    assert.deepEqual(report.failed, []);
    assert.ok(lines.includes("info: [calculator] set up with factor 3"), lines.join("\n"));
    assert.equal(await manager.call("double", 21), 42);
    assert.equal(await manager.call("factor"), 3);
    assert.equal(await manager.call("askHost", "sandbox"), "hello sandbox");
    const data = { cluster: { release: "9.0" }, nodes: [{ roles: ["compute"] }, { roles: [] }] };
    const result = await manager.runPipelines(
      "deployment",
      makeCluster(["calculator"]),
      [makeNode(1), makeNode(2)],
      data,
    );
    assert.deepEqual(result, {
      cluster: { release: "9.0", sandboxed: "prod" },
      nodes: [{ roles: ["compute"], disk: 100 }, { roles: [], disk: 200 }],
    });
    assert.deepEqual(data.cluster, { release: "9.0" }, "the input is not changed");
    await assert.rejects(
      () => manager.call("double", () => 1),
      (error: unknown) =>
        error instanceof ExtensionError &&
        /its call "double" .*cannot be copied to the Worker: DataCloneError/.test(error.message),
    );
  } finally {
    await manager.teardown();
  }
});

Deno.test("createSandboxLauncher() refuses routes and migrations at load, and reports import and contract failures", async () => {
  const { manager, report } = await load([
    sandboxed("./routed.ts"),
    sandboxed("./migrating.ts"),
    sandboxed("./top_throw.ts"),
    sandboxed("./invalid.ts"),
    "./recorder.ts",
  ]);
  try {
    assert.deepEqual(manager.names, ["recorder"]);
    assert.deepEqual(report.failed.map(({ source, phase }) => ({ source, phase })), [
      { source: "./routed.ts", phase: "sandbox" },
      { source: "./migrating.ts", phase: "sandbox" },
      { source: "./top_throw.ts", phase: "import" },
      { source: "./invalid.ts", phase: "validate" },
    ]);
    const [routed, migrating, thrown, invalid] = report.failed.map((failure) => failure.message);
    assert.equal(
      routed,
      'Cannot load extension "./routed.ts": "routes" cannot cross the sandbox boundary: a ' +
        "sandboxed extension has no access to the host's HTTP server and database: run " +
        '"routed" in process (remove "sandbox" from its entry in extensions.json) or use it ' +
        'without routes: current value is ["GET /routed/"]',
    );
    assert.match(
      migrating ?? "",
      /"migrations" cannot cross .*current value is \["0001_create"\]$/,
    );
    assert.equal(
      thrown,
      'Cannot load extension "./top_throw.ts": importing it in the sandbox threw: Error: ' +
        "cannot start: no configuration",
    );
    assert.equal(
      invalid,
      'Cannot load extension "./invalid.ts": "version" must be a semantic version such as ' +
        '"1.0.0": current value is "one"',
    );
  } finally {
    await manager.teardown();
  }
});

Deno.test("createSandboxLauncher() restarts a crashed Worker a bounded number of times, then keeps the extension down", async () => {
  const { manager, report, lines } = await load([sandboxed("./crasher.ts"), "./recorder.ts"], {}, {
    maxRestarts: 3,
  });
  recorder.received.length = 0;
  const crasher = manager.get("crasher");
  try {
    assert.deepEqual(report.failed, []);
    assert.deepEqual(await manager.call("status"), { setUp: true, events: 0 });
    const crashes = [
      ["throw", "crashed: uncaught Error: boom from a timer"],
      ["reject", "crashed: unhandled rejection: Error: nobody waits for this"],
      ["close", "crashed: the extension called close()"],
      ["exit", "crashed: the extension called Deno.exit(3)"],
    ] as const;
    for (const [index, [how, reason]] of crashes.entries()) {
      await manager.notify("onNodeCreate", makeNode(index + 1, { name: how }));
      await until(
        () => lines.some((line) => line.includes(`"crasher" ${reason}`)),
        `the ${how} crash is reported`,
      );
      if (index < 3) {
        await until(
          () => sandboxStatus(crasher)?.state === "running",
          `the restart after ${how}`,
        );
        assert.equal(sandboxStatus(crasher)?.restarts, index + 1);
        assert.ok(
          lines.includes(
            `error: sandboxed extension "crasher" ${reason}: its Worker was terminated and is restarted (restart ${
              index + 1
            } of 3)`,
          ),
          lines.join("\n"),
        );
        // A fresh instance, set up again.
        assert.deepEqual(await manager.call("status"), { setUp: true, events: 0 });
      }
    }
    assert.equal(sandboxStatus(crasher)?.state, "down");
    assert.ok(
      lines.includes(
        'error: sandboxed extension "crasher" crashed: the extension called Deno.exit(3): its ' +
          "Worker was terminated and stays down: it failed 4 times and the limit is 3 restarts",
      ),
      lines.join("\n"),
    );
    const result = await manager.notify("onNodeCreate", makeNode(9));
    assert.equal(result.handled, 1, "the extension in process still gets events");
    assert.equal(
      result.failures[0]?.message,
      'Cannot run onNodeCreate of sandboxed extension "crasher": it is down: its Worker failed ' +
        "4 times and the limit is 3 restarts: the last time it crashed: the extension called " +
        "Deno.exit(3)",
    );
    assert.equal(recorder.received.length, 5);
  } finally {
    await manager.teardown();
  }
  assert.equal(sandboxStatus(crasher)?.state, "closed");
});

Deno.test("createSandboxLauncher() abandons a slow handler at the time limit without terminating a Worker that still answers", async () => {
  const { manager, report, lines, faults } = await load([sandboxed("./sleeper.ts")]);
  try {
    assert.deepEqual(report.failed, []);
    const started = Date.now();
    const result = await manager.notify(
      "onNodeCreate",
      makeNode(1, { meta: { sleepMs: 4 * LIMIT_MS } }),
    );
    const took = Date.now() - started;
    assert.deepEqual(
      result.failures.map(({ extension, kind, message }) => ({ extension, kind, message })),
      [{ extension: "sleeper", kind: "timeout", message: `did not settle within ${LIMIT_MS} ms` }],
    );
    assert.ok(took >= LIMIT_MS && took < 2 * LIMIT_MS, `the dispatch took ${took} ms`);
    assert.equal(manager.health("sleeper").timeouts, 1);
    assert.deepEqual(faults, [], "a caller saw it: it is not reported to onFault");
    assert.ok(
      lines.includes(
        `error: extension "sleeper" failed in onNodeCreate (timeout): did not settle within ${LIMIT_MS} ms`,
      ),
      lines.join("\n"),
    );
    // Until the call ends in the Worker: longer than a probe of a stuck Worker would take.
    await new Promise((resolve) => setTimeout(resolve, 4 * LIMIT_MS + 1_000));
    assert.deepEqual(sandboxStatus(manager.get("sleeper")), { state: "running", restarts: 0 });
    assert.equal(await manager.call("ping"), "pong");
    assert.ok(!lines.some((line) => line.includes("terminated")), lines.join("\n"));
  } finally {
    await manager.teardown();
  }
});

Deno.test("createSandboxLauncher() stops the Worker at teardown; later calls reject", async () => {
  const { manager } = await load([sandboxed("./greeter.ts")]);
  const greeter = manager.get("greeter");
  assert.equal(await manager.call("greet", "you"), "hello you");
  assert.deepEqual(await manager.teardown(), []);
  assert.equal(sandboxStatus(greeter)?.state, "closed");
  await assert.rejects(
    () => manager.call("greet", "you"),
    (error: unknown) =>
      error instanceof ExtensionError &&
      error.message.endsWith(
        'Cannot run its call "greet" of sandboxed extension "greeter": it was torn down',
      ),
  );
});

Deno.test("createSandboxLauncher() stops the Worker of an extension whose teardown never settles", async () => {
  const { manager } = await load([sandboxed("./stubborn.ts")]);
  const stubborn = manager.get("stubborn");
  const failures = await manager.teardown();
  assert.deepEqual(failures.map(({ name, message }) => ({ name, message })), [
    { name: "stubborn", message: `did not settle within ${LIMIT_MS} ms` },
  ]);
  await until(() => sandboxStatus(stubborn)?.state === "closed", "the Worker is stopped");
});

Deno.test("loadExtensions() reports a sandboxed entry as failed when the host gives no launcher", async () => {
  const result = await loadExtensions({
    configFile: CONFIG_FILE,
    importMap: { file: "<none>", imports: {} },
    config: { load: [sandboxed("./greeter.ts")], discover: false },
    services: { logger: { debug() {}, info() {}, warn() {}, error() {} } },
  });
  assert.equal(result.report.failed[0]?.phase, "sandbox");
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
