// The service and the CLI as processes: `deno task run` (src/service/main.ts)
// with SIGTERM during a request, a malformed config, and `deno task
// extensions` (src/service/cli.ts) with its JSON and table outputs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../src/service/cli.ts";
import { fixture, mac, withNailgun, writeConfig } from "./_service/harness.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = join(ROOT, "src/service/main.ts");
const CLI = join(ROOT, "src/service/cli.ts");

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "nailgun_process_" });
}

/** Reads a stream line by line until `pattern` matches a line; bounded by `ms`. */
async function waitForLine(
  lines: AsyncIterator<string>,
  pattern: RegExp,
  seen: string[],
  ms = 15_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const next = await lines.next();
    if (next.done) break;
    seen.push(next.value);
    const match = next.value.match(pattern);
    if (match) return match;
  }
  throw new Error(`no line matched ${pattern}; output was:\n${seen.join("\n")}`);
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered) yield buffered;
}

Deno.test("main.ts serves, and on SIGTERM finishes the request in flight, tears down in reverse order and exits 0", async () => {
  const dir = await tempDir();
  try {
    const teardownFile = join(dir, "teardown.txt");
    const settings = Object.fromEntries(
      ["rec_a", "rec_b", "rec_c"].map((name) => [name, { teardownFile }]),
    );
    const config = await writeConfig(dir, {
      load: ["rec_a", "rec_b", "rec_c"],
      section: { settings },
    });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-worker-options", MAIN],
      cwd: ROOT,
      env: {
        PORT: "0",
        HOST: "127.0.0.1",
        DATABASE_URL: `sqlite://${join(dir, "nailgun.db")}`,
        EXTENSIONS_CONFIG: config,
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const seen: string[] = [];
    const stdout = readLines(child.stdout);
    const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const errors: string[] = [];
    const drainErrors = (async () => {
      for (;;) {
        const { done, value } = await stderr.read();
        if (done) break;
        errors.push(value);
      }
    })();
    try {
      const [, url] = await waitForLine(
        stdout,
        /Nailgun listening on (http:\/\/127\.0\.0\.1:\d+)\/api\/v1\//,
        seen,
      );
      assert.ok(
        seen.some((line) => /^NAME +VERSION +SOURCE +DESCRIPTION$/.test(line)),
        seen.join("\n"),
      );
      assert.ok(
        seen.some((line) => /^rec_b +1\.0\.0 +\S+rec_b\.ts +Records every event/.test(line)),
      );
      const created = await fetch(`${url}/api/v1/nodes/`, {
        method: "POST",
        body: JSON.stringify({ mac: mac(1) }),
      });
      assert.equal(created.status, 201);
      await created.body?.cancel();

      const slow = fetch(`${url}/api/v1/recorder/slow/?ms=600`);
      await new Promise((resolve) => setTimeout(resolve, 150));
      child.kill("SIGTERM");
      const answer = await slow;
      assert.equal(answer.status, 200);
      assert.deepEqual(await answer.json(), { waited: 600 });
      const { code } = await child.status;
      assert.equal(code, 0, errors.join(""));
      for await (const line of { [Symbol.asyncIterator]: () => stdout }) seen.push(line);
      assert.ok(seen.some((line) => /INFO SIGTERM: shutting down$/.test(line)), seen.join("\n"));
      assert.ok(seen.some((line) => /INFO GET \/api\/v1\/recorder\/slow\/ 200 \d+/.test(line)));
      assert.equal(await Deno.readTextFile(teardownFile), "rec_c\nrec_b\nrec_a\n");
      await assert.rejects(() => fetch(`${url}/api/v1/version/`));
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status;
      await drainErrors;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts exits 1 with the file, line and column of a malformed extensions.json", async () => {
  const dir = await tempDir();
  try {
    const config = join(dir, "extensions.json");
    await Deno.writeTextFile(config, '{\n  "nailgun.extensions": [\n    "./a.ts",,\n  ]\n}\n');
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      cwd: ROOT,
      env: { PORT: "0", DATABASE_URL: join(dir, "n.db"), EXTENSIONS_CONFIG: config, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 1);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.match(
      stderr,
      /Cannot start Nailgun: .*Cannot read extensions config ".*extensions\.json": invalid JSON at line 3, column \d+/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli.ts --json prints {loaded, failed, skipped, warnings}, exits 1 on a failure and writes no database", async () => {
  const dir = await tempDir();
  try {
    const config = await writeConfig(dir, { load: ["rec_a", "counter", "collider"] });
    const database = join(dir, "never.db");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-worker-options", CLI, "--json", "--config", config],
      cwd: ROOT,
      env: { DATABASE_URL: database, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 1, new TextDecoder().decode(output.stderr));
    const report = JSON.parse(new TextDecoder().decode(output.stdout));
    assert.deepEqual(Object.keys(report), ["loaded", "failed", "skipped", "warnings"]);
    assert.deepEqual(report.loaded, [
      {
        name: "rec_a",
        version: "1.0.0",
        description: "Records every event it receives (rec_a).",
        provides: [],
        source: fixture("rec_a"),
      },
      {
        name: "counter",
        version: "1.0.0",
        description: "Stores items in its own table and counts how often its migrations ran.",
        provides: [],
        source: fixture("counter"),
      },
    ]);
    assert.equal(report.failed.length, 1);
    assert.deepEqual(Object.keys(report.failed[0]).sort(), ["message", "name", "phase", "source"]);
    assert.equal(report.failed[0].phase, "conflict");
    assert.deepEqual(report.skipped, []);
    await assert.rejects(() => Deno.stat(database), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli() prints the load report as a table and exits 0 when everything loaded", async () => {
  const dir = await tempDir();
  try {
    const config = await writeConfig(dir, { load: ["rec_a", "counter"] });
    const result = await runCli(["--config", config]);
    assert.equal(result.code, 0);
    const lines = result.stdout.split("\n");
    assert.match(lines[0]!, /^NAME +VERSION +SOURCE +DESCRIPTION$/);
    assert.match(
      lines[1]!,
      /^rec_a +1\.0\.0 +\S+rec_a\.ts +Records every event it receives \(rec_a\)\.$/,
    );
    assert.match(lines[2]!, /^counter +1\.0\.0 /);
    assert.equal(lines.length, 3);

    const failing = await writeConfig(dir, { load: ["rec_a", "collider"] });
    const failed = await runCli(["list", `--config=${failing}`]);
    assert.equal(failed.code, 1);
    assert.match(
      failed.stdout,
      /\n\nFailed to load \(1\):\nSOURCE +PHASE +MESSAGE\n\S+collider\.ts +conflict +Cannot load extension/,
    );

    const unknown = await runCli(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      /^Cannot run "frobnicate": it is not a command: commands are list, migrations, migrate/,
    );
    assert.match((await runCli(["--help"])).stdout, /^Usage: deno task extensions/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli.ts --url prints the report of a running service, as a table and with --json as the status API answers it", async () => {
  await withNailgun({ load: ["rec_a", "collider"] }, async ({ service, api }) => {
    assert.equal((await api("POST", "/nodes/", { mac: mac(1) })).status, 201);
    const status = (await api("GET", "/extensions/status/")).body;
    const run = async (...args: string[]) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, ...args],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
      return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
    };
    const json = await run("list", "--json", "--url", service.url);
    assert.equal(json.code, 1, "an extension failed to load: exit code 1");
    assert.deepEqual(JSON.parse(json.stdout), status);

    const table = await run("--url", `${service.url}/api/v1/`);
    assert.equal(table.code, 1, table.stderr);
    const lines = table.stdout.split("\n");
    // With the runtime's health in the report, the table shows it.
    const header = status.loaded[0].health === undefined
      ? /^NAME +VERSION +SOURCE +DESCRIPTION$/
      : /^NAME +VERSION +STATE +CALLS +FAILURES +TIMEOUTS +UNHANDLED +BLOCKED +SKIPPED +SOURCE +DESCRIPTION$/;
    assert.match(lines[0]!, header);
    assert.match(lines[1]!, /^rec_a +1\.0\.0 /);
    if (status.loaded[0].health !== undefined) {
      assert.match(lines[1]!, new RegExp(`^rec_a +1\\.0\\.0 +${status.loaded[0].health.state} `));
    }
    assert.match(
      table.stdout,
      /Failed to load \(1\):\nSOURCE +PHASE +MESSAGE\n\S+collider\.ts +conflict/,
    );

    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closed = `http://127.0.0.1:${listener.addr.port}`;
    listener.close();
    const down = await run("--url", closed);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /^Cannot ask the service "http:\/\/127\.0\.0\.1:\d+\/api\/v1\/extensions\/status\/": it does not answer/,
    );
    const misuse = await run("migrate", "--url", service.url);
    assert.equal(misuse.code, 2);
    assert.match(
      misuse.stderr,
      /^Cannot run "migrate" with --url: only list asks a running service/,
    );
  });
});

Deno.test("main.ts names the port and PORT when the port is taken", async () => {
  const dir = await tempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const config = await writeConfig(dir, {});
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-worker-options", MAIN],
      cwd: ROOT,
      env: {
        PORT: String(listener.addr.port),
        DATABASE_URL: join(dir, "nailgun.db"),
        EXTENSIONS_CONFIG: config,
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    assert.equal(output.code, 1);
    assert.match(
      new TextDecoder().decode(output.stderr),
      new RegExp(
        `Cannot start Nailgun: .*Cannot listen on 127\\.0\\.0\\.1:${listener.addr.port}: the port is in use by another process: stop it, or choose another port with PORT`,
      ),
    );
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli() migrations lists the applied and pending steps; migrate applies them", async () => {
  const dir = await tempDir();
  try {
    const database = join(dir, "nailgun.db");
    const env = (name: string) => name === "DATABASE_URL" ? database : undefined;
    const config = await writeConfig(dir, { load: ["counter"] });
    const missing = await runCli(["migrations", "--config", config], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /the database does not exist/);

    await withNailgun({ dir, load: [], databaseUrl: database }, async () => {});
    await writeConfig(dir, { load: ["counter"] });
    const pending = await runCli(["migrations", "--json", "--config", config], env);
    assert.equal(pending.code, 0, pending.stderr);
    const steps = JSON.parse(pending.stdout).migrations;
    assert.deepEqual(
      steps.map((step: { extension: string; name: string; applied: boolean }) =>
        `${step.extension} ${step.name} ${step.applied}`
      ),
      [
        "core 0001_create_clusters true",
        "core 0002_create_nodegroups true",
        "core 0003_create_nodes true",
        "counter 0001_create_tables false",
        "counter 0002_count_again false",
      ],
    );

    const migrated = await runCli(["migrate", "--config", config], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    const table = await runCli(["migrations", "--config", config], env);
    assert.match(table.stdout, /^EXTENSION +MIGRATION +STATUS +APPLIED AT\n/);
    assert.match(table.stdout, /\ncounter +0002_count_again +applied +\d{4}-/);
    assert.doesNotMatch(table.stdout, /pending/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
