// Bounded calls from sandboxed extensions: a chain of provided calls that
// comes back through the host is cut at calls.maxDepth, the calls one
// extension has pending at once at calls.maxPending, and a value a Worker
// sends at the message limit; each refusal is immediate, says which limit,
// is logged with the extension's name and reported as its fault. The last
// test runs the real service process over HTTP while a self-recursive call
// is started again and again.
//
// Run: deno test -A --unstable-worker-options tests/sandbox_calls_test.ts
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ExtensionError, loadExtensions, type LoadResult, type Logger } from "../mod.ts";
import { createSandboxLauncher, type SandboxLauncherOptions } from "../src/sandbox/launcher.ts";
import { spawnService } from "./_reliability/process.ts";

const CONFIG_FILE = fileURLToPath(new URL("./_sandbox/extensions.json", import.meta.url));
const PINGER = fileURLToPath(new URL("./_sandbox/pinger.ts", import.meta.url));

interface Loaded extends LoadResult {
  lines: string[];
  faults: [string, Error][];
}

async function load(launcher: SandboxLauncherOptions): Promise<Loaded> {
  const lines: string[] = [];
  const faults: [string, Error][] = [];
  const logger: Logger = {
    debug: (message) => lines.push(`debug: ${message}`),
    info: (message) => lines.push(`info: ${message}`),
    warn: (message) => lines.push(`warn: ${message}`),
    error: (message) => lines.push(`error: ${message}`),
  };
  const result = await loadExtensions({
    configFile: CONFIG_FILE,
    importMap: { file: "<none>", imports: {} },
    config: {
      load: [{ specifier: "./pinger.ts", sandbox: {} }, "./slow.ts"],
      discover: false,
      handlerTimeoutMs: 5_000,
    },
    sandbox: createSandboxLauncher({
      logger,
      handlerTimeoutMs: 5_000,
      onFault: (name, error) => faults.push([name, error]),
      ...launcher,
    }),
    services: { logger },
  });
  assert.deepEqual(result.report.failed, []);
  return { ...result, lines, faults };
}

Deno.test("createSandboxLauncher() cuts a self-recursive provided call off at calls.maxDepth, logs it with the extension's name and reports the fault", async () => {
  const { manager, lines, faults } = await load({ calls: { maxDepth: 5 } });
  try {
    const started = performance.now();
    await assert.rejects(
      manager.call("ping"),
      (error: Error) => {
        // Each level of the chain hands the refusal back to the one that called it.
        assert.ok(error instanceof ExtensionError);
        assert.ok(
          error.message.endsWith(
            'RangeError: Cannot call "ping" from sandboxed extension "pinger": the chain of provided calls is deeper than the limit calls.maxDepth (5), calls back through the host included: current value is 6',
          ),
          error.message,
        );
        return true;
      },
    );
    assert.ok(performance.now() - started < 2_000, "the chain is cut at once");
    // Depths 0 (the host's call) to 5 ran; the call at depth 6 was refused.
    assert.equal(((await manager.call("pings")) as { pings: number }).pings, 6);
    assert.equal(faults.length, 1);
    assert.equal(faults[0]![0], "pinger");
    assert.match(faults[0]![1].message, /calls\.maxDepth \(5\)/);
    assert.equal(
      lines.filter((line) =>
        line.startsWith('error: Cannot call "ping" from sandboxed extension "pinger"')
      ).length,
      1,
      lines.join("\n"),
    );
  } finally {
    await manager.teardown();
  }
});

Deno.test("createSandboxLauncher() refuses at once the calls over calls.maxPending of one extension", async () => {
  const { manager, faults } = await load({ calls: { maxPending: 4 } });
  try {
    const answers = await manager.call("flood", 10) as string[];
    assert.deepEqual(answers.slice(0, 4), Array(4).fill("slow answer"));
    for (const [index, answer] of answers.slice(4).entries()) {
      assert.equal(
        answer,
        `Cannot call "slow" from sandboxed extension "pinger": it has more provided calls pending at once than the limit calls.maxPending (4): current value is 5`,
        `call ${index + 4}`,
      );
    }
    assert.equal(faults.length, 6);
    // Once they are answered, calls go through again.
    assert.deepEqual(await manager.call("flood", 4), Array(4).fill("slow answer"));
  } finally {
    await manager.teardown();
  }
});

Deno.test("createSandboxLauncher() refuses a value from a Worker larger than the message limit", async () => {
  const { manager, faults } = await load({ maxMessageBytes: 10_000 });
  try {
    assert.equal(await manager.call("big", 9_000), "x".repeat(9_000));
    await assert.rejects(
      manager.call("big", 20_000),
      (error: Error) => {
        assert.ok(error instanceof ExtensionError);
        assert.ok(error.cause instanceof RangeError);
        assert.equal(
          error.cause.message,
          'Cannot take the result of its call "big" of sandboxed extension "pinger": it is larger than the message limit of 10000 bytes: current value is at least 20000 bytes',
        );
        return true;
      },
    );
    assert.equal(faults.length, 1);
    assert.equal(faults[0]![0], "pinger");
  } finally {
    await manager.teardown();
  }
});

/** The resident memory of a process, in bytes (Linux). */
function residentBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`Cannot read the memory of process ${pid}: no VmRSS line`);
  return Number(match[1]) * 1024;
}

Deno.test("POST /api/v1/nodes/ with a self-recursive sandboxed call: the chain is cut, GET /version/ stays under 100 ms and the host grows by less than 100 MB", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_calls_" });
  const config = join(dir, "extensions.json");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      "nailgun.extensions": { load: [{ specifier: PINGER, sandbox: {} }], discover: false },
    }),
  );
  const service = spawnService({ config, database: join(dir, "nailgun.db") });
  try {
    const url = await service.ready();
    const version = async (): Promise<number> => {
      const started = performance.now();
      const response = await fetch(`${url}/api/v1/version/`, {
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(response.status, 200);
      await response.body?.cancel();
      return performance.now() - started;
    };
    await version(); // the first request warms the connection up
    const before = residentBytes(service.child.pid);
    const latencies: number[] = [];
    let creating = true;
    const polling = (async () => {
      while (creating) {
        latencies.push(await version());
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    // For 3 seconds (at most 255 nodes), a node a time: each one starts the recursion again.
    const until = Date.now() + 3_000;
    for (let index = 0; index < 255 && Date.now() < until; index++) {
      const response = await fetch(`${url}/api/v1/nodes/`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ mac: `52:54:00:00:0a:${index.toString(16).padStart(2, "0")}` }),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      assert.equal(response.status, 201, text);
    }
    creating = false;
    await polling;
    const grown = residentBytes(service.child.pid) - before;
    assert.ok(latencies.length >= 10, `GET /version/ was asked ${latencies.length} times`);
    assert.ok(
      Math.max(...latencies) < 100,
      `GET /version/ took up to ${Math.max(...latencies).toFixed(1)} ms`,
    );
    assert.ok(grown < 100 * 1024 * 1024, `the host grew by ${(grown / 1024 / 1024).toFixed(1)} MB`);
    assert.match(
      service.output(),
      /ERROR Cannot call "ping" from sandboxed extension "pinger": the chain of provided calls is deeper than the limit calls\.maxDepth \(8\)/,
    );
  } finally {
    await service.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
