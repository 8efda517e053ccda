// The HTTP layer over real loopback connections: the index of the API, the
// Host header, paths that would make a backtracking expression slow, what
// the database cannot store (on the store NAILGUN_TEST_STORE chooses), and
// bodies that arrive too slowly.
import assert from "node:assert/strict";
import { NoAnswerError, RawConnection } from "./_reliability/raw_http.ts";
import { mac, withNailgun } from "./_service/harness.ts";

Deno.test("GET /api/v1/ answers the index of the API, with or without its trailing slash", async () => {
  await withNailgun({}, async ({ service }) => {
    for (const path of ["/api/v1/", "/api/v1"]) {
      const response = await fetch(`${service.url}${path}`);
      assert.equal(response.status, 200, path);
      const body = await response.json();
      assert.equal(body.api, "1");
      assert.equal(body.links.nodes, "/api/v1/nodes/");
    }
  });
});

Deno.test("the Host header plays no part in routing: one with a path, a query or a fragment answers 400", async () => {
  await withNailgun({}, async ({ service, api }) => {
    const node = await api("POST", "/nodes/", { mac: mac(1) });
    assert.equal(node.status, 201);
    for (const host of [`x/api/v1/nodes/${node.body.id}#`, "x?y", "x#", "x\\api\\v1\\nodes\\1#"]) {
      const connection = await RawConnection.open(service.url);
      try {
        await connection.write(
          `DELETE /api/v1/version/ HTTP/1.1\r\nhost: ${host}\r\ncontent-length: 0\r\n\r\n`,
        );
        const answer = await connection.answer();
        assert.equal(answer.status, 400, host);
        assert.equal(JSON.parse(answer.body).field, "host");
      } finally {
        connection.close();
      }
    }
    assert.equal(
      (await api("GET", `/nodes/${node.body.id}/`)).status,
      200,
      "the node is still there",
    );
    // A plain Host with a port routes as usual.
    const connection = await RawConnection.open(service.url);
    try {
      await connection.write(`GET /api/v1/version/ HTTP/1.1\r\nhost: nailgun.example:80\r\n\r\n`);
      assert.equal((await connection.answer()).status, 200);
    } finally {
      connection.close();
    }
  });
});

Deno.test("a path with 64,000 slashes in a row answers 404 in under 100 ms, and ten of them do not stall other clients", async () => {
  await withNailgun({}, async ({ service, api }) => {
    const slashes = "/".repeat(64_000);
    const long = `${service.url}/api/v1/nodes${slashes}x`;
    await (await fetch(`${service.url}/api/v1/nowhere`)).body?.cancel(); // warm up the client
    for (const url of [long, `${service.url}/api/v1/nowhere${slashes}`]) {
      // The best of five tries: a loaded machine may delay one answer, never all five
      // (a backtracking expression takes seconds for each).
      const times: number[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        const started = performance.now();
        const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        times.push(performance.now() - started);
        assert.equal(response.status, 404);
        await response.body?.cancel();
      }
      const best = Math.min(...times);
      assert.ok(best < 100, `answered in ${times.map((ms) => ms.toFixed(1)).join(", ")} ms`);
    }
    // The same path below a real route is that route.
    const nodes = await fetch(`${service.url}/api/v1/nodes${"/".repeat(64_000)}`);
    assert.equal(nodes.status, 200);
    await nodes.body?.cancel();

    const slow = Array.from(
      { length: 10 },
      () => fetch(long, { signal: AbortSignal.timeout(5_000) }).then((r) => r.body?.cancel()),
    );
    const other = performance.now();
    const version = await api("GET", "/version/", undefined, {
      signal: AbortSignal.timeout(5_000),
    });
    const otherElapsed = performance.now() - other;
    await Promise.all(slow);
    assert.equal(version.status, 200);
    assert.ok(otherElapsed < 1_000, `another client waited ${otherElapsed.toFixed(1)} ms`);
  });
});

Deno.test("a body with U+0000 in any string, keys included, answers 400 naming the field and stores nothing", async () => {
  await withNailgun({}, async ({ api }) => {
    const cases: [string, string, unknown, string][] = [
      ["POST", "/clusters/", { name: "env\u0000" }, "name"],
      ["POST", "/nodes/", { mac: mac(1), roles: ["compute\u0000"] }, "roles[0]"],
      [
        "POST",
        "/nodes/",
        { mac: mac(2), meta: { disks: [{ name: "sda\u0000" }] } },
        "meta.disks[0].name",
      ],
      ["POST", "/nodes/", { mac: mac(3), meta: { "a\u0000b": 1 } }, "meta"],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await api(method, path, body);
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.field, field);
      assert.match(answer.body.message, /U\+0000/);
    }
    assert.deepEqual((await api("GET", "/nodes/")).body, []);
    assert.deepEqual((await api("GET", "/clusters/")).body, []);
    const cluster = await api("POST", "/clusters/", { name: "env" });
    const patched = await api("PUT", `/clusters/${cluster.body.id}/attributes/`, {
      editable: { "k\u0000": "v" },
    });
    assert.equal(patched.status, 400);
    assert.equal(patched.body.field, "editable");
    assert.deepEqual((await api("GET", `/clusters/${cluster.body.id}/attributes/`)).body, {
      editable: {},
    });
  });
});

Deno.test("a body sent byte by byte answers 408 after REQUEST_TIMEOUT_MS, and the service keeps serving", async () => {
  const timeout = 600;
  await withNailgun({ requestTimeoutMs: timeout }, async ({ service, api }) => {
    const connection = await RawConnection.open(service.url);
    const body = JSON.stringify({ mac: mac(1), name: "slowly sent" });
    const started = performance.now();
    let sent = 0;
    let stop = false;
    try {
      await connection.write(
        `POST /api/v1/nodes/ HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
          `content-length: ${body.length}\r\n\r\n`,
      );
      // One byte every 100 ms: the whole body would take seconds.
      const trickle = (async () => {
        while (!stop && sent < body.length) {
          await connection.write(body[sent]!).catch(() => stop = true);
          sent++;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      const answer = await Promise.race([
        connection.answer(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error("no answer within 5 s")), 5_000)
        ),
      ]);
      const elapsed = performance.now() - started;
      stop = true;
      await trickle;
      assert.equal(answer.status, 408, answer.body);
      assert.match(JSON.parse(answer.body).message, /REQUEST_TIMEOUT_MS/);
      assert.ok(elapsed >= timeout - 50 && elapsed < timeout + 3_000, `after ${elapsed} ms`);
      assert.ok(sent < body.length, "the answer came before the body was complete");
    } catch (error) {
      if (error instanceof NoAnswerError) assert.fail(`no answer: ${error.message}`);
      throw error;
    } finally {
      stop = true;
      connection.close();
    }
    assert.deepEqual((await api("GET", "/nodes/")).body, [], "nothing was stored");
    assert.equal((await api("POST", "/nodes/", { mac: mac(2) })).status, 201);
  });
});
