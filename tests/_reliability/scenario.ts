// The service under load, shared by the load, crash and shutdown tests: five
// extensions (three healthy tallies, one slow, one failing) and the checks
// that nothing acknowledged was lost.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Node } from "../../mod.ts";
import type { Sent } from "./load.ts";
import { makeProject, type Project } from "./process.ts";
import type { TallyRow } from "./fixtures/_tally.ts";

/** The directory of the reliability fixtures. */
export const FIXTURES: string = new URL("./fixtures/", import.meta.url).pathname;

/** The path of a reliability fixture, e.g. `fixture("tally_a")`. */
export function fixture(name: string): string {
  return join(FIXTURES, `${name}.ts`);
}

/** The extensions loaded under load, in load order. */
export const LOADED = ["tally_a", "sluggish", "faulty", "tally_b", "tally_c"] as const;

/** The healthy extensions that count what they receive. */
export const TALLIES = ["tally_a", "tally_b", "tally_c"] as const;

/** Requests of the load scenarios, clients, and their time limit. */
export const LOAD = { total: 2_000, concurrency: 32, deadlineMs: 60_000 } as const;

/** A project that loads the five extensions; each appends its name to `teardownFile` in teardown. */
export async function makeLoadProject(): Promise<Project & { teardownFile: string }> {
  const project = await makeProject((dir) => ({
    load: LOADED.map(fixture),
    discover: false,
    settings: Object.fromEntries(
      LOADED.map((name) => [name, { teardownFile: join(dir, "teardown.txt") }]),
    ),
  }));
  return { ...project, teardownFile: join(project.dir, "teardown.txt") };
}

/** GETs a JSON document below /api/v1 and asserts a 200. */
export async function getJson<T>(url: string, path: string): Promise<T> {
  const response = await fetch(`${url}/api/v1${path}`);
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Asserts that the service answers GET /api/v1/version/ with 200. */
export async function assertServing(url: string): Promise<void> {
  const version = await getJson<{ api: string }>(url, "/version/");
  assert.equal(version.api, "1");
}

/** The requests of a load that were acknowledged, by MAC. */
export function acknowledgedOf(sent: readonly Sent[]): Map<string, Sent> {
  return new Map(sent.filter((s) => s.outcome === "acknowledged").map((s) => [s.mac, s]));
}

/**
 * Asserts that every acknowledged creation is stored with the id it was
 * acknowledged with, and that each tally received onNodeCreate for each of
 * them exactly once.
 *
 * @param url The service.
 * @param sent The requests of the load.
 * @returns The stored nodes and how many events each tally holds.
 */
export async function assertNothingLost(
  url: string,
  sent: readonly Sent[],
): Promise<{ stored: number; acknowledged: number; events: Record<string, number> }> {
  const acknowledged = acknowledgedOf(sent);
  const nodes = await getJson<Node[]>(url, "/nodes/");
  const byMac = new Map(nodes.map((node) => [node.mac, node]));
  const missing = [...acknowledged.values()].filter((s) => byMac.get(s.mac)?.id !== s.id);
  assert.deepEqual(
    missing.map((s) => `${s.mac} (id ${s.id})`),
    [],
    `acknowledged creations are missing from GET /nodes/: ${missing.length} of ${acknowledged.size}`,
  );
  const events: Record<string, number> = {};
  for (const name of TALLIES) {
    const rows = await getJson<TallyRow[]>(url, `/${name}/tally/`);
    const created = new Map(
      rows.filter((row) => row.hook === "onNodeCreate").map((row) => [row.node_id, row.events]),
    );
    const wrong = [...acknowledged.values()].filter((s) => created.get(s.id!) !== 1).map((s) =>
      `node ${s.id}: ${created.get(s.id!) ?? 0} events`
    );
    assert.deepEqual(
      wrong.slice(0, 10),
      [],
      `${name} did not receive onNodeCreate exactly once for ${wrong.length} acknowledged nodes`,
    );
    const twice = rows.filter((row) => row.events !== 1);
    assert.deepEqual(twice, [], `${name} received an event more than once`);
    events[name] = rows.reduce((sum, row) => sum + row.events, 0);
  }
  return { stored: nodes.length, acknowledged: acknowledged.size, events };
}
