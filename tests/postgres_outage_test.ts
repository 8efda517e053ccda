// PostgreSQL outages under load: the service (a real process) keeps running
// while its database restarts, its connections are killed, or the database
// is down for two seconds; it answers only 2xx or 503 (with Retry-After)
// meanwhile, promptly while the database is down, serves again within
// seconds, and every creation it acknowledged is there afterwards.
//
// The test runs a PostgreSQL server of its own (initdb in a temporary
// directory, a free port), so that restarting it cannot disturb the tests
// that share the machine's server; starting it as the `postgres` user needs
// root, so the test is skipped otherwise.
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "npm:postgres@3.4.9";
import { spawnService } from "./_reliability/process.ts";
import { mac } from "./_service/harness.ts";

const BIN = "/usr/lib/postgresql/15/bin";
const IS_ROOT = Deno.uid() === 0;
const HAS_BIN = (() => {
  try {
    return Deno.statSync(join(BIN, "pg_ctl")).isFile;
  } catch {
    return false;
  }
})();

/** How long the load runs, and when the outages happen in it. */
const LOAD_MS = 13_000;
const CLIENTS = 4;
const RESTART_AT_MS = 2_500;
const TERMINATE_AT_MS = 5_500;
const STOP_AT_MS = 8_000;
const DOWN_MS = 2_000;
/** Longest a request may take while the database is down: it answers 503 at once. */
const DOWN_ANSWER_LIMIT_MS = 1_000;
/** Longest a request may take, outage or not: the store must answer promptly. */
const REQUEST_LIMIT_MS = 8_000;
/** Longest the service may take to create a node again after an outage ended. */
const RECOVERY_LIMIT_MS = 5_000;

/**
 * Runs a command as the `postgres` user, its output to `log` (a server that
 * pg_ctl starts keeps the inherited descriptors open: never a pipe); throws
 * with the log when it fails or takes longer than `ms`.
 */
async function asPostgres(args: string[], log: string, ms = 30_000): Promise<void> {
  const quoted = args.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", "sh", "-c", `${quoted} >>'${log}' 2>&1`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    child.status,
    new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms)),
  ]).finally(() => clearTimeout(timer));
  if (status === "timeout") {
    child.kill("SIGKILL");
    await child.status;
  }
  if (status === "timeout" || !status.success) {
    throw new Error(
      `${args.join(" ")} ${status === "timeout" ? `took over ${ms} ms` : "failed"}:\n${await Deno
        .readTextFile(log).catch(() => "")}`,
    );
  }
}

/** A PostgreSQL server of the test's own, in a temporary directory. */
async function privateServer(): Promise<
  & { url: string; restart(): Promise<void>; stop(): Promise<void>; start(): Promise<void> }
  & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_pg_outage_" });
  await Deno.chown(dir, ...ids("postgres"));
  const data = join(dir, "data");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const log = join(dir, "log");
  const pgCtl = (...args: string[]) => asPostgres([`${BIN}/pg_ctl`, "-D", data, ...args], log);
  await asPostgres([`${BIN}/initdb`, "-D", data, "-A", "trust", "-U", "nailgun", "--no-sync"], log);
  await pgCtl("-o", options, "-l", log, "-w", "start");
  return {
    url: `postgres://nailgun@127.0.0.1:${port}/postgres`,
    restart: () => pgCtl("-o", options, "-l", log, "-m", "fast", "-w", "restart"),
    stop: () => pgCtl("-m", "fast", "-w", "stop"),
    start: () => pgCtl("-o", options, "-l", log, "-w", "start"),
    [Symbol.asyncDispose]: async () => {
      await pgCtl("-m", "immediate", "-w", "stop").catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The uid and gid of a user, from /etc/passwd. */
function ids(user: string): [number, number] {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((entry) =>
    entry.startsWith(`${user}:`)
  );
  assert.ok(line, `no user ${user}`);
  const [, , uid, gid] = line.split(":");
  return [Number(uid), Number(gid)];
}

/** What one request of the load answered (a GET answered 200 is counted as 201). */
interface Outcome {
  at: number;
  took: number;
  status: number | string;
  mac: string;
  retryAfter: string | null;
}

Deno.test({
  name:
    "openPostgresStore() keeps the service up through a restart, pg_terminate_backend and two seconds down under load: only 2xx or 503 (at once while down), serving again within seconds, no acknowledged node lost",
  ignore: !IS_ROOT || !HAS_BIN,
  async fn() {
    await using server = await privateServer();
    const dir = await Deno.makeTempDir({ prefix: "nailgun_outage_" });
    const config = join(dir, "extensions.json");
    await Deno.writeTextFile(
      config,
      JSON.stringify({ "nailgun.extensions": { load: [], discover: false } }),
    );
    const service = spawnService({ config, database: server.url });
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    try {
      const url = await service.ready(30_000);
      const started = performance.now();
      const elapsed = () => performance.now() - started;
      const outcomes: Outcome[] = [];
      let next = 0;
      // Each client creates a node, then reads the node list back (a plain read).
      const request = async (method: "POST" | "GET", address: string) => {
        const at = elapsed();
        try {
          const response = await fetch(`${url}/api/v1/nodes/`, {
            method,
            body: method === "POST" ? JSON.stringify({ mac: address }) : undefined,
            signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
          });
          await response.body?.cancel();
          const status = method === "GET" && response.status === 200 ? 201 : response.status;
          outcomes.push({
            at,
            took: elapsed() - at,
            status,
            mac: method === "POST" ? address : "",
            retryAfter: response.headers.get("retry-after"),
          });
          if (response.status === 503) await new Promise((resolve) => setTimeout(resolve, 50));
        } catch (error) {
          outcomes.push({
            at,
            took: elapsed() - at,
            status: String(error),
            mac: "",
            retryAfter: null,
          });
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      const client = async () => {
        while (elapsed() < LOAD_MS) {
          await request("POST", mac(700_000 + next++));
          if (next % 8 === 0) await request("GET", "");
        }
      };
      const outages = (async () => {
        await new Promise((resolve) => setTimeout(resolve, RESTART_AT_MS));
        await server.restart();
        const restarted = elapsed();
        await new Promise((resolve) => setTimeout(resolve, TERMINATE_AT_MS - elapsed()));
        const killed = await admin`
          SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`;
        const terminatedAt = elapsed();
        await new Promise((resolve) => setTimeout(resolve, STOP_AT_MS - elapsed()));
        await server.stop();
        const stopped = elapsed();
        await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
        const down = elapsed();
        await server.start();
        return { restarted, terminatedAt, terminated: killed.length, stopped, down, up: elapsed() };
      })();
      await Promise.all(Array.from({ length: CLIENTS }, client));
      const { restarted, terminatedAt, terminated, stopped, down, up } = await outages;

      const summary = {
        requests: outcomes.length,
        created: outcomes.filter((o) => o.status === 201 && o.mac !== "").length,
        listed: outcomes.filter((o) => o.status === 201 && o.mac === "").length,
        unavailable: outcomes.filter((o) => o.status === 503).length,
        restartedAtMs: Math.round(restarted),
        terminatedAtMs: Math.round(terminatedAt),
        terminatedBackends: terminated,
        downFromMs: Math.round(stopped),
        upAtMs: Math.round(up),
        slowestWhileDownMs: Math.round(
          Math.max(0, ...outcomes.filter((o) => o.at >= stopped && o.at < down).map((o) => o.took)),
        ),
      };
      console.log(JSON.stringify({ scenario: "postgres outage", ...summary }));

      // The process survived, and printed no uncaught error.
      const exited = await Promise.race([
        service.exited.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 200)),
      ]);
      assert.equal(exited, false, `the service exited during the outages\n${service.output()}`);
      assert.doesNotMatch(service.output(), /Uncaught|reading .write./);

      // Only 2xx or 503, and every 503 says when to retry.
      const others = outcomes.filter((o) => o.status !== 201 && o.status !== 503);
      assert.deepEqual(others.slice(0, 5), [], `${others.length} answers were neither 201 nor 503`);
      assert.ok(
        outcomes.filter((o) => o.status === 503).every((o) => o.retryAfter !== null),
        "every 503 has Retry-After",
      );
      assert.ok(summary.unavailable > 0, "the outages were seen (some 503)");

      // While the database was down, every request was answered 503, at once.
      const whileDown = outcomes.filter((o) => o.at >= stopped + 200 && o.at + o.took < down);
      assert.ok(whileDown.length > 0, "requests were made while the database was down");
      assert.deepEqual(whileDown.filter((o) => o.status !== 503).slice(0, 5), []);
      assert.ok(
        summary.slowestWhileDownMs < DOWN_ANSWER_LIMIT_MS,
        `a request took ${summary.slowestWhileDownMs} ms while the database was down`,
      );

      // Served again within seconds after each outage.
      for (const end of [restarted, terminatedAt, up]) {
        const firstCreated = outcomes.find((o) => o.at >= end && o.status === 201);
        assert.ok(firstCreated, `no node was created after the outage that ended at ${end} ms`);
        assert.ok(
          firstCreated.at - end < RECOVERY_LIMIT_MS,
          `the first creation after the outage came ${Math.round(firstCreated.at - end)} ms later`,
        );
      }

      // Every acknowledged node is there.
      const listed = await fetch(`${url}/api/v1/nodes/`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(listed.status, 200);
      const stored = new Set((await listed.json() as { mac: string }[]).map((node) => node.mac));
      const lost = outcomes.filter((o) => o.status === 201 && o.mac !== "" && !stored.has(o.mac));
      assert.deepEqual(lost.map((o) => o.mac), [], "acknowledged nodes are missing");
    } finally {
      await admin.end({ timeout: 1 });
      await service.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
