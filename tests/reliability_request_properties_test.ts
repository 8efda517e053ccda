// Property-based request faults (fast-check): for every route that takes a
// body or a query, arbitrary JSON bodies, bodies shaped like the request
// schema with arbitrary values, raw text, arbitrary path ids and arbitrary
// query strings. Whatever is sent, the service never answers 5xx, every 4xx
// carries a JSON `message`, and it still serves afterwards.
import assert from "node:assert/strict";
import * as fc from "npm:fast-check@4.10.2";
import { NODE_STATUSES } from "../mod.ts";
import { mac, withNailgun } from "./_service/harness.ts";

/** Runs per route. */
const RUNS = Number(Deno.env.get("RELIABILITY_RUNS") ?? "200");

type Field =
  | "title"
  | "text"
  | "mac"
  | "hostname"
  | "id"
  | "roles"
  | "object"
  | "flag"
  | "status"
  | "extensions";

interface RouteUnderTest {
  method: string;
  /** Below /api/v1, with `{id}` for a path id. */
  path: string;
  /** The body's schema as field kinds; `list` for a JSON list of extension names; none for no body. */
  body?: Record<string, Field> | "list";
  /** Query parameters the route reads, with the kind of their values. */
  query?: Record<string, "ids" | "names" | "id">;
}

const ROUTES: RouteUnderTest[] = [
  {
    method: "POST",
    path: "/clusters/",
    body: {
      name: "title",
      mode: "text",
      release: "text",
      extensions: "extensions",
      attributes: "object",
    },
  },
  {
    method: "PUT",
    path: "/clusters/{id}/",
    body: { id: "id", name: "title", mode: "text", release: "text" },
  },
  { method: "PUT", path: "/clusters/{id}/extensions/", body: "list" },
  { method: "PUT", path: "/clusters/{id}/attributes/", body: { editable: "object", tier: "text" } },
  { method: "PATCH", path: "/clusters/{id}/attributes/", body: { editable: "object" } },
  {
    method: "POST",
    path: "/nodes/",
    body: {
      mac: "mac",
      name: "title",
      hostname: "hostname",
      cluster_id: "id",
      group_id: "id",
      roles: "roles",
      pending_roles: "roles",
      online: "flag",
      meta: "object",
    },
  },
  {
    method: "PUT",
    path: "/nodes/{id}/",
    body: {
      id: "id",
      name: "title",
      hostname: "hostname",
      status: "status",
      cluster_id: "id",
      group_id: "id",
      roles: "roles",
      pending_roles: "roles",
      pending_addition: "flag",
      pending_deletion: "flag",
      online: "flag",
      meta: "object",
    },
  },
  { method: "POST", path: "/nodegroups/", body: { name: "title", cluster_id: "id" } },
  { method: "GET", path: "/nodes/", query: { cluster_id: "id" } },
  { method: "GET", path: "/nodegroups/", query: { cluster_id: "id" } },
  { method: "DELETE", path: "/nodes/", query: { ids: "ids" } },
  { method: "DELETE", path: "/clusters/{id}/extensions/", query: { extension_names: "names" } },
];

/** Ids that exist (seeded), so that generated requests reach past the 404s. */
const KNOWN_IDS = [1, 2];

const anyText = fc.string({ unit: "binary", maxLength: 40 });

function idValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...KNOWN_IDS) },
    fc.integer(),
    fc.double(),
    fc.constant(null),
    fc.jsonValue({ maxDepth: 1 }),
  );
}

function macValue(): fc.Arbitrary<unknown> {
  const byte = fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, "0"));
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.tuple(fc.array(byte, { minLength: 6, maxLength: 6 }), fc.constantFrom(":", "-"))
        .map(
          ([bytes, separator]) => bytes.join(separator),
        ),
    },
    anyText,
    fc.jsonValue({ maxDepth: 1 }),
  );
}

function fieldValue(kind: Field): fc.Arbitrary<unknown> {
  switch (kind) {
    case "title":
    case "text":
      return fc.oneof(
        { weight: 3, arbitrary: anyText },
        fc.constantFrom("", "  ", "env"),
        fc.jsonValue({ maxDepth: 1 }),
      );
    case "mac":
      return macValue();
    case "hostname":
      return fc.oneof(
        fc.stringMatching(/^[A-Za-z0-9-]{1,70}$/),
        anyText,
        fc.jsonValue({ maxDepth: 1 }),
      );
    case "id":
      return idValue();
    case "roles":
      return fc.oneof(
        { weight: 3, arbitrary: fc.array(anyText, { maxLength: 4 }) },
        fc.jsonValue({ maxDepth: 2 }),
      );
    case "object":
      return fc.oneof(
        {
          weight: 3,
          arbitrary: fc.dictionary(anyText, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
        },
        fc.jsonValue({ maxDepth: 3 }),
      );
    case "flag":
      return fc.oneof({ weight: 3, arbitrary: fc.boolean() }, fc.jsonValue({ maxDepth: 1 }));
    case "status":
      return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...NODE_STATUSES) }, anyText);
    case "extensions":
      return extensionNames();
  }
}

function extensionNames(): fc.Arbitrary<unknown> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.array(fc.constantFrom("rec_a", "rec_b", "nope", "Bad-Name", ""), {
        maxLength: 4,
      }),
    },
    fc.array(anyText, { maxLength: 3 }),
    fc.jsonValue({ maxDepth: 2 }),
  );
}

/** What a request sends as its body: JSON text, raw text, or nothing. */
function bodyOf(schema: RouteUnderTest["body"]): fc.Arbitrary<string | undefined> {
  if (schema === undefined) return fc.constant(undefined);
  const shaped = schema === "list" ? extensionNames() : fc.tuple(
    fc.record(
      Object.fromEntries(Object.entries(schema).map(([key, kind]) => [key, fieldValue(kind)])),
      { requiredKeys: [] },
    ),
    fc.dictionary(anyText, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }),
  ).map(([known, extra]) => ({ ...extra, ...known }));
  return fc.oneof(
    { weight: 5, arbitrary: shaped.map((value) => JSON.stringify(value)) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

function pathIdOf(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...KNOWN_IDS.map(String)) },
    fc.nat().map(String),
    fc.integer().map(String),
    fc.string({ unit: "binary", minLength: 1, maxLength: 20 }).map(encodeURIComponent),
    fc.constantFrom("0", "1.5", "1e3", "%00", "%F0%28", "..%2F1", "9".repeat(30)),
  );
}

/** A generated value as query text (fast-check's objects may have no prototype: no String()). */
function toText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? "undefined";
}

function queryOf(route: RouteUnderTest): fc.Arbitrary<string> {
  const known = Object.entries(route.query ?? {}).map(([key, kind]) => {
    const value = kind === "ids"
      ? fc.oneof(
        fc.array(idValue(), { maxLength: 4 }).map((ids) => ids.map(toText).join(",")),
        anyText,
      )
      : kind === "names"
      ? fc.oneof(
        extensionNames().map((names) =>
          Array.isArray(names) ? names.map(toText).join(",") : toText(names)
        ),
        anyText,
      )
      : fc.oneof(idValue().map(toText), anyText);
    return fc.option(value, { nil: undefined }).map((text) => [key, text] as const);
  });
  return fc.tuple(
    fc.tuple(...known),
    fc.dictionary(anyText, anyText, { maxKeys: 2 }),
  ).map(([pairs, extra]) => {
    const params = new URLSearchParams();
    for (const [key, text] of pairs) if (text !== undefined) params.append(key, text);
    for (const [key, text] of Object.entries(extra)) params.append(key, text);
    const query = params.toString();
    return query ? `?${query}` : "";
  });
}

Deno.test("no request to a route with a body or a query answers 5xx; every 4xx carries a JSON message", async (t) => {
  await withNailgun(
    { load: ["rec_a", "rec_b"], bodyLimit: 64 * 1024 },
    async ({ api, service }) => {
      for (const name of ["env-1", "env-2"]) {
        assert.equal(
          (await api("POST", "/clusters/", { name, extensions: ["rec_a"] })).status,
          201,
        );
      }
      for (const clusterId of KNOWN_IDS) {
        const group = await api("POST", "/nodegroups/", { name: "rack", cluster_id: clusterId });
        assert.equal(group.status, 201);
      }
      for (const n of KNOWN_IDS) {
        assert.equal((await api("POST", "/nodes/", { mac: mac(n), cluster_id: n })).status, 201);
      }
      const statuses = new Map<number, number>();
      let tried = 0;
      for (const route of ROUTES) {
        await t.step(`${route.method} ${route.path}`, async () => {
          await fc.assert(
            fc.asyncProperty(
              route.path.includes("{id}") ? pathIdOf() : fc.constant(""),
              queryOf(route),
              bodyOf(route.body),
              async (id, query, body) => {
                const path = `${route.path.replace("{id}", id)}${query}`;
                const response = await fetch(`${service.url}/api/v1${path}`, {
                  method: route.method,
                  body: route.method === "GET" ? undefined : body,
                  headers: { "content-type": "application/json" },
                });
                const text = await response.text();
                tried++;
                statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
                const what = `${route.method} ${path} ${
                  body?.slice(0, 300)
                } => ${response.status} ${text.slice(0, 300)}`;
                assert.ok(response.status < 500, what);
                if (response.status >= 400) {
                  assert.match(
                    response.headers.get("content-type") ?? "",
                    /application\/json/,
                    what,
                  );
                  const message = JSON.parse(text).message;
                  assert.equal(typeof message, "string", what);
                  assert.ok(message.length > 0, what);
                }
              },
            ),
            { numRuns: RUNS },
          );
        });
      }
      assert.equal((await api("GET", "/version/")).status, 200);
      assert.equal((await api("GET", "/nodes/")).status, 200);
      assert.equal(tried >= ROUTES.length * RUNS, true);
      console.log(JSON.stringify({
        scenario: "request-properties",
        routes: ROUTES.length,
        runsPerRoute: RUNS,
        requests: tried,
        statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
      }));
    },
  );
});
