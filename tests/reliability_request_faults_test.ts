// Request faults through a real service: every route that takes a body,
// against every kind of bad body (invalid JSON, not UTF-8, none, the wrong
// type, too large with and without Content-Length, too deeply nested), and
// paths with unknown or malformed ids, and unknown routes. Each answers 4xx
// with a JSON message naming what to fix, changes nothing, and the service
// stays up.
import assert from "node:assert/strict";
import { type Answer, client, fixture, mac, withNailgun } from "./_service/harness.ts";

const LIMIT = 4096;

interface BodyRoute {
  method: string;
  /** The path below /api/v1 with `{cluster}`, `{node}` or `{group}` for the seeded ids. */
  path: string;
  /** A body of the wrong JSON type for this route. */
  wrongType: unknown;
}

/** Every core route that reads a JSON body. */
const BODY_ROUTES: BodyRoute[] = [
  { method: "POST", path: "/clusters/", wrongType: ["env"] },
  { method: "PUT", path: "/clusters/{cluster}/", wrongType: "env" },
  { method: "PUT", path: "/clusters/{cluster}/extensions/", wrongType: { names: ["rec_a"] } },
  { method: "PUT", path: "/clusters/{cluster}/attributes/", wrongType: [1, 2] },
  { method: "PATCH", path: "/clusters/{cluster}/attributes/", wrongType: 7 },
  { method: "POST", path: "/nodes/", wrongType: null },
  { method: "PUT", path: "/nodes/{node}/", wrongType: true },
  { method: "POST", path: "/nodegroups/", wrongType: "group" },
];

interface Seeded {
  cluster: number;
  node: number;
  group: number;
}

function pathOf(route: BodyRoute, ids: Seeded | Record<keyof Seeded, string>): string {
  return route.path.replace("{cluster}", String(ids.cluster)).replace("{node}", String(ids.node))
    .replace("{group}", String(ids.group));
}

async function seed(api: (method: string, path: string, body?: unknown) => Promise<Answer>) {
  const cluster = (await api("POST", "/clusters/", { name: "env", extensions: ["rec_a"] })).body;
  const group = (await api("POST", "/nodegroups/", { name: "rack", cluster_id: cluster.id })).body;
  const node = (await api("POST", "/nodes/", { mac: mac(1), cluster_id: cluster.id })).body;
  return { cluster: cluster.id, node: node.id, group: group.id } satisfies Seeded;
}

/** Everything the API holds, to compare before and after. */
async function snapshot(api: (method: string, path: string) => Promise<Answer>): Promise<unknown> {
  const [clusters, nodes, groups] = await Promise.all(
    ["/clusters/", "/nodes/", "/nodegroups/"].map((path) => api("GET", path)),
  );
  return { clusters: clusters!.body, nodes: nodes!.body, groups: groups!.body };
}

function assertRefused(answer: Answer, status: number, what: string): void {
  assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
  assert.match(answer.headers.get("content-type") ?? "", /application\/json/, what);
  assert.equal(typeof answer.body.message, "string", what);
  assert.match(answer.body.message, /^Cannot /, what);
}

Deno.test("every body route refuses invalid JSON, non-UTF-8, no body, the wrong type and too large a body, and changes nothing", async () => {
  await withNailgun({ load: ["rec_a"], bodyLimit: LIMIT }, async ({ api }) => {
    const ids = await seed(api);
    const before = await snapshot(api);
    let tried = 0;
    for (const route of BODY_ROUTES) {
      const path = pathOf(route, ids);
      const where = `${route.method} ${path}`;
      const send = (body: BodyInit | undefined) => api(route.method, path, undefined, { body });
      const checks: [string, () => Promise<Answer>, number, RegExp][] = [
        [
          "invalid JSON",
          () => send('{"name": "x",'),
          400,
          /^Cannot read the request body: it is not valid JSON: /,
        ],
        [
          "not UTF-8",
          () => send(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
          400,
          /^Cannot read the request body: it is not UTF-8 text$/,
        ],
        ["no body", () => send(undefined), 400, /: the request has no JSON body$/],
        ["only spaces", () => send("  \n "), 400, /: the request has no JSON body$/],
        [
          "the wrong type",
          () => api(route.method, path, route.wrongType),
          400,
          /"body" must be a JSON (object|list of extension names): current value is /,
        ],
        [
          "too large, with Content-Length",
          () => send(JSON.stringify({ name: "x".repeat(LIMIT) })),
          413,
          new RegExp(
            `^Cannot read the request body: it is larger than the limit of ${LIMIT} bytes$`,
          ),
        ],
        [
          "too large, streamed without Content-Length",
          () =>
            send(ReadableStream.from([
              new TextEncoder().encode(`{"name": "${"x".repeat(LIMIT / 2)}`),
              new TextEncoder().encode(`${"x".repeat(LIMIT)}"}`),
            ])),
          413,
          new RegExp(
            `^Cannot read the request body: it is larger than the limit of ${LIMIT} bytes$`,
          ),
        ],
      ];
      for (const [what, call, status, message] of checks) {
        const answer = await call();
        assertRefused(answer, status, `${where}: ${what}`);
        assert.match(answer.body.message, message, `${where}: ${what}`);
        assert.equal(answer.body.field, "body", `${where}: ${what}`);
        tried++;
      }
    }
    assert.deepEqual(await snapshot(api), before, "no bad request changed anything");
    assert.equal((await api("GET", "/version/")).status, 200);
    assert.equal(tried, BODY_ROUTES.length * 7);
  });
});

Deno.test("missing fields and wrong types answer 400 naming the field on every body route", async () => {
  await withNailgun({ load: ["rec_a"] }, async ({ api }) => {
    const ids = await seed(api);
    const before = await snapshot(api);
    const cases: [string, string, unknown, string, RegExp][] = [
      ["POST", "/clusters/", {}, "name", /"name" is required$/],
      ["POST", "/clusters/", { name: ["env"] }, "name", /"name" must be a string/],
      ["POST", "/clusters/", { name: "e", extensions: [1] }, "extensions[0]", /extension name/],
      ["PUT", "/clusters/{cluster}/", { name: null }, "name", /"name" must be a string/],
      ["PUT", "/clusters/{cluster}/", { status: "ready" }, "status", /is not a field that can/],
      ["PUT", "/clusters/{cluster}/extensions/", ["nope"], "[0]", /must name a loaded extension/],
      ["PUT", "/clusters/{cluster}/extensions/", [null], "[0]", /must be an extension name/],
      ["POST", "/nodes/", { name: "n" }, "mac", /"mac" is required$/],
      ["POST", "/nodes/", { mac: 525400123456 }, "mac", /must be a MAC address/],
      ["POST", "/nodes/", { mac: mac(9), online: "yes" }, "online", /must be true or false/],
      ["POST", "/nodes/", { mac: mac(9), cluster_id: 1.5 }, "cluster_id", /positive whole/],
      ["POST", "/nodes/", { mac: mac(9), cluster_id: -1 }, "cluster_id", /positive whole/],
      ["POST", "/nodes/", { mac: mac(9), meta: "{}" }, "meta", /must be a JSON object/],
      ["PUT", "/nodes/{node}/", { pending_roles: [3] }, "pending_roles[0]", /must be a string/],
      ["PUT", "/nodes/{node}/", { cluster_id: 0 }, "cluster_id", /positive whole/],
      ["POST", "/nodegroups/", { name: "g" }, "cluster_id", /"cluster_id" is required$/],
      ["POST", "/nodegroups/", { cluster_id: ids.cluster }, "name", /"name" is required$/],
      ["POST", "/nodegroups/", { name: "g", cluster_id: 999 }, "cluster_id", /existing cluster/],
    ];
    for (const [method, template, body, field, message] of cases) {
      const path = pathOf({ method, path: template, wrongType: null }, ids);
      const answer = await api(method, path, body);
      const what = `${method} ${path} ${JSON.stringify(body)}`;
      assertRefused(answer, 400, what);
      assert.equal(answer.body.field, field, what);
      assert.match(answer.body.message, message, what);
    }
    assert.deepEqual(await snapshot(api), before, "no bad request changed anything");
    assert.equal((await api("GET", "/version/")).status, 200);
  });
});

Deno.test("unknown and malformed ids answer 404, unknown routes 404 and wrong methods 405, each with a JSON message", async () => {
  await withNailgun({ load: ["rec_a"] }, async ({ api, service }) => {
    const ids = await seed(api);
    const before = await snapshot(api);
    const badIds = ["999999", "0", "-1", "1.5", "abc", "1e3", "%00", "%F0%28", "9".repeat(40)];
    let tried = 0;
    for (const route of BODY_ROUTES.filter((route) => route.path.includes("{"))) {
      for (const bad of badIds) {
        const path = pathOf(route, { cluster: bad, node: bad, group: bad });
        const answer = await api(route.method, path, { name: "x" });
        assertRefused(answer, 404, `${route.method} ${path}`);
        assert.match(answer.body.message, /^Cannot find (cluster|node|node group) /);
        tried++;
      }
    }
    for (const bad of badIds) {
      for (const path of [`/nodes/${bad}/`, `/clusters/${bad}/`, `/nodegroups/${bad}/`]) {
        for (const method of ["GET", "DELETE"]) {
          assertRefused(await api(method, path), 404, `${method} ${path}`);
          tried++;
        }
      }
      assertRefused(await api("POST", `/nodes/${bad}/reset/`), 404, `reset ${bad}`);
      assertRefused(await api("PUT", `/clusters/${bad}/changes/`), 404, `changes ${bad}`);
      tried += 2;
    }
    const missing = await api("DELETE", `/nodes/?ids=${ids.node},999999`);
    assertRefused(missing, 404, "DELETE /nodes/?ids= with an unknown id");
    assert.deepEqual(missing.body.missing, [999999]);
    for (const path of ["/nowhere/", "/nodes/1/2/3/", "/clusters/1/volumes/", "//nowhere///"]) {
      const answer = await api("GET", path);
      assertRefused(answer, 404, path);
      assert.match(answer.body.message, /: no such route$/);
      tried++;
    }
    const outside = await fetch(`${service.url}/admin/`);
    assert.equal(outside.status, 404);
    assert.match((await outside.json()).message, /the API is under \/api\/v1\//);
    for (
      const [method, path, allow] of [
        ["PATCH", "/nodes/", "GET, POST, DELETE"],
        ["POST", "/version/", "GET"],
        ["PUT", "/nodegroups/", "GET, POST"],
      ]
    ) {
      const answer = await api(method!, path!, {});
      assertRefused(answer, 405, `${method} ${path}`);
      assert.equal(answer.headers.get("allow"), allow);
      tried++;
    }
    assert.deepEqual(await snapshot(api), before, "no bad request changed anything");
    assert.equal((await api("GET", "/version/")).status, 200);
    assert.ok(tried > 100);
  });
});

Deno.test("a body nested too deeply answers 400 and stores nothing", async () => {
  await withNailgun({ load: ["rec_a"] }, async ({ api }) => {
    const ids = await seed(api);
    const before = await snapshot(api);
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    const attacks: [string, string, string][] = [
      ["POST", "/nodes/", `{"mac": "${mac(77)}", "meta": {"disks": ${nested(20_000)}}}`],
      ["PUT", `/nodes/${ids.node}/`, `{"meta": {"disks": ${nested(20_000)}}}`],
      ["POST", "/clusters/", `{"name": "deep", "attributes": {"a": ${nested(20_000)}}}`],
      ["PUT", `/clusters/${ids.cluster}/attributes/`, `{"a": ${nested(20_000)}}`],
    ];
    for (const [method, path, body] of attacks) {
      const answer = await api(method, path, undefined, { body });
      assert.ok(
        answer.status >= 400 && answer.status < 500,
        `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`,
      );
      assert.equal(typeof answer.body.message, "string");
    }
    assert.deepEqual(await snapshot(api), before, "nothing was stored");
    const events = (await api("GET", "/recorder/events/")).body as { hook: string }[];
    assert.deepEqual(events.map((event) => event.hook), [
      "onClusterCreate",
      "onNodegroupCreate",
      "onNodeCreate",
    ]);
    assert.equal((await api("GET", "/version/")).status, 200);
  });
});

Deno.test("text is stored as sent or refused with 400, never silently changed", async () => {
  await withNailgun({ load: ["rec_a"] }, async ({ api }) => {
    const ids = await seed(api);
    const sent: [string, string, string, (body: Record<string, unknown>) => unknown, unknown][] = [
      ["POST", "/clusters/", '{"name": "before\\u0000after"}', (b) => b.name, "before\u0000after"],
      ["POST", "/clusters/", '{"name": "half \\ud800 pair"}', (b) => b.name, "half \ud800 pair"],
      ["POST", "/nodes/", `{"mac": "${mac(50)}", "name": "n\\u0000m"}`, (b) => b.name, "n\u0000m"],
      [
        "POST",
        "/clusters/",
        '{"name": "proto", "attributes": {"__proto__": {"polluted": true}}}',
        (b) => Object.hasOwn(b.attributes as object, "__proto__"),
        true,
      ],
      [
        "PUT",
        `/clusters/${ids.cluster}/attributes/`,
        '{"__proto__": {"polluted": true}}',
        (b) => Object.hasOwn((b as { editable: object }).editable, "__proto__"),
        true,
      ],
      [
        "POST",
        "/nodes/",
        `{"mac": "${mac(51)}", "meta": {"__proto__": {"polluted": true}}}`,
        (b) => Object.hasOwn(b.meta as object, "__proto__"),
        true,
      ],
    ];
    for (const [method, path, body, pick, expected] of sent) {
      const answer = await api(method, path, undefined, { body });
      const what = `${method} ${path} ${body}`;
      if (answer.status === 400) {
        assert.equal(typeof answer.body.field, "string", what);
        continue;
      }
      assert.ok(answer.status === 200 || answer.status === 201, `${what}: ${answer.status}`);
      assert.deepEqual(pick(answer.body), expected, `${what}: the answer holds what was sent`);
      const id = answer.body.id ?? ids.cluster;
      const kind = path.startsWith("/nodes/") ? "nodes" : "clusters";
      const stored = (await api(
        "GET",
        `/${kind}/${id}/${kind === "clusters" && method === "PUT" ? "attributes/" : ""}`,
      )).body;
      assert.deepEqual(pick(stored), expected, `${what}: the stored value is what was sent`);
    }
    assert.equal((await api("GET", "/version/")).status, 200);
  });
});

Deno.test("an extension route refuses a body over the limit even when it is streamed without Content-Length", async () => {
  await withNailgun({ load: ["counter"], bodyLimit: LIMIT }, async ({ service }) => {
    const api = client(service.url);
    const label = "x".repeat(LIMIT * 2);
    const streamed = await api("POST", "/counter/items/", undefined, {
      body: ReadableStream.from([new TextEncoder().encode(JSON.stringify({ label }))]),
    });
    assert.equal(streamed.status, 413, JSON.stringify(streamed.body).slice(0, 200));
    assert.deepEqual((await api("GET", "/counter/items/")).body, [], "nothing was stored");
    assert.equal((await api("GET", "/version/")).status, 200);
  });
  void fixture;
});
