// Concurrent read-modify-writes over real HTTP (SPEC §4: "no acknowledged
// change is lost under concurrency, and the placement rules hold as they do
// one request at a time"), on the store NAILGUN_TEST_STORE chooses.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Answer, TestNailgun } from "./_service/harness.ts";
import { mac, withNailgun } from "./_service/harness.ts";

const CLIENTS = 20;
const ROUNDS = 3;
/** Every request of these tests has its own deadline: a stalled service fails, never hangs. */
const REQUEST_TIMEOUT_MS = 20_000;
/** How long after its headers a request body arrives. */
const BODY_DELAY_MS = 20;

/**
 * Calls the API with a deadline. The body is streamed and arrives a moment
 * after the headers, as from a client on a real network: a handler that reads
 * before the body has arrived and writes after it loses changes.
 */
async function call(
  nailgun: TestNailgun,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const init: RequestInit = { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    const bytes = new TextEncoder().encode(JSON.stringify(body));
    init.headers = { "content-type": "application/json" };
    init.body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, BODY_DELAY_MS));
        controller.enqueue(bytes);
        controller.close();
      },
    });
  }
  return await nailgun.api(method, path, undefined, init);
}

/** Writes `count` extensions that do nothing, and answers their paths and names. */
async function writeExtensions(
  dir: string,
  count: number,
): Promise<{ paths: string[]; names: string[] }> {
  const paths: string[] = [];
  const names: string[] = [];
  for (let index = 0; index < count; index++) {
    const name = `quiet_${String(index).padStart(2, "0")}`;
    const path = join(dir, `${name}.ts`);
    await Deno.writeTextFile(
      path,
      `export default { name: "${name}", version: "1.0.0", description: "Does nothing (${name})." };\n`,
    );
    paths.push(path);
    names.push(name);
  }
  return { paths, names };
}

Deno.test("PUT /clusters/{id}/attributes/ keeps every acknowledged key when 20 clients change it at once", async () => {
  await withNailgun({}, async (nailgun) => {
    const cluster = await call(nailgun, "POST", "/clusters/", { name: "env-race" });
    assert.equal(cluster.status, 201);
    const acknowledged: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const answers = await Promise.all(
        Array.from({ length: CLIENTS }, (_, client) => {
          const key = `r${round}_c${client}`;
          return call(nailgun, "PUT", `/clusters/${cluster.body.id}/attributes/`, {
            editable: { [key]: { value: client } },
          }).then((answer) => ({ key, answer }));
        }),
      );
      for (const { key, answer } of answers) {
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        acknowledged.push(key);
      }
    }
    const stored = await call(nailgun, "GET", `/clusters/${cluster.body.id}/attributes/`);
    const lost = acknowledged.filter((key) => !(key in stored.body.editable));
    assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged keys lost`);
  });
});

Deno.test("PUT /clusters/{id}/extensions/ keeps every acknowledged name when 20 clients enable one each at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nailgun_races_" });
  try {
    const { paths, names } = await writeExtensions(dir, CLIENTS);
    await withNailgun({ load: paths }, async (nailgun) => {
      assert.deepEqual(nailgun.service.report.failed, []);
      for (let round = 0; round < ROUNDS; round++) {
        const cluster = await call(nailgun, "POST", "/clusters/", {
          name: `env-${round}`,
          extensions: [],
        });
        assert.equal(cluster.status, 201);
        const answers = await Promise.all(
          names.map((name) =>
            call(nailgun, "PUT", `/clusters/${cluster.body.id}/extensions/`, [name])
          ),
        );
        for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const stored = await call(nailgun, "GET", `/clusters/${cluster.body.id}/extensions/`);
        const lost = names.filter((name) => !stored.body.includes(name));
        assert.deepEqual(lost, [], `round ${round}: ${lost.length} acknowledged names lost`);
        assert.equal(stored.body.length, names.length, "no name is enabled twice");
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PUT /nodes/{id}/ never breaks a placement rule when several clients move one node at once", async () => {
  await withNailgun({ load: ["rec_a"] }, async (nailgun) => {
    const MOVERS = 6;
    const ATTEMPTS = 12;
    const clusters: number[] = [];
    const groupsOf = new Map<number, number[]>();
    const clusterOfGroup = new Map<number, number>();
    for (let index = 0; index < MOVERS; index++) {
      const cluster = await call(nailgun, "POST", "/clusters/", { name: `env-${index}` });
      assert.equal(cluster.status, 201);
      clusters.push(cluster.body.id);
      const groups: number[] = [];
      for (const name of ["a", "b"]) {
        const group = await call(nailgun, "POST", "/nodegroups/", {
          name: `group-${index}-${name}`,
          cluster_id: cluster.body.id,
        });
        assert.equal(group.status, 201);
        groups.push(group.body.id);
        clusterOfGroup.set(group.body.id, cluster.body.id);
      }
      groupsOf.set(cluster.body.id, groups);
    }
    const node = await call(nailgun, "POST", "/nodes/", { mac: mac(1) });
    assert.equal(node.status, 201);
    const path = `/nodes/${node.body.id}/`;
    const broken: string[] = [];
    const check = (
      what: string,
      placed: { cluster_id: number | null; group_id: number | null },
    ) => {
      if (placed.group_id !== null && clusterOfGroup.get(placed.group_id) !== placed.cluster_id) {
        broken.push(
          `${what}: node in cluster ${placed.cluster_id} but in group ${placed.group_id} of cluster ${
            clusterOfGroup.get(placed.group_id)
          }`,
        );
      }
    };
    let joins = 0;
    // Each mover joins its own cluster (in one of its groups), switches the
    // group while it is there, and sends the node back to the pool: only the
    // mover that joined removes the node, so with the rules kept every join
    // is followed by exactly one removal.
    const mover = async (index: number) => {
      const cluster = clusters[index]!;
      const [first, second] = groupsOf.get(cluster)!;
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const joined = await call(nailgun, "PUT", path, { cluster_id: cluster, group_id: first });
        check("join answer", joined.body);
        if (joined.status !== 200) {
          assert.equal(joined.status, 400, JSON.stringify(joined.body));
          continue;
        }
        joins++;
        const switched = await call(nailgun, "PUT", path, { group_id: second });
        if (switched.status === 200) check("group answer", switched.body);
        const left = await call(nailgun, "PUT", path, { cluster_id: null });
        assert.equal(left.status, 200, JSON.stringify(left.body));
        check("removal answer", left.body);
      }
    };
    // Meanwhile other clients try to put the node in any group, whatever its cluster.
    let stop = false;
    const grouper = async (seed: number) => {
      const groups = [...clusterOfGroup.keys()];
      for (let attempt = 0; !stop && attempt < 500; attempt++) {
        const group = groups[(seed + attempt * 7) % groups.length]!;
        const answer = await call(nailgun, "PUT", path, { group_id: group });
        if (answer.status === 200) check("grouper answer", answer.body);
        else assert.equal(answer.status, 400, JSON.stringify(answer.body));
      }
    };
    const groupers = [grouper(1), grouper(2), grouper(3)];
    await Promise.all(clusters.map((_, index) => mover(index)));
    stop = true;
    await Promise.all(groupers);
    const final = await call(nailgun, "GET", path);
    check("final state", final.body);
    assert.deepEqual(broken, []);
    assert.equal(final.body.cluster_id, null, "every mover sent the node back to the pool");
    assert.ok(joins > 0, "some joins succeeded");
    const events = await call(nailgun, "GET", "/recorder/events/");
    const removals = events.body.filter((event: { hook: string; args: { id: number }[] }) =>
      event.hook === "onRemoveNodeFromCluster" && event.args[0]!.id === node.body.id
    );
    assert.equal(
      removals.length,
      joins,
      `${joins} joins answered 200 but onRemoveNodeFromCluster fired ${removals.length} times: ` +
        "a node moved from one cluster to another without the pool",
    );
  });
});
