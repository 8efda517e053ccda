/**
 * `Store.write()` on both stores: the read and the write of a callback form
 * one transaction that serializes with every other writer. SQLite always;
 * PostgreSQL when `NAILGUN_TEST_POSTGRES_URL` is set.
 */
import assert from "node:assert/strict";
import { STORES, writes } from "./_postgres/stores.ts";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const { kind, ignore, open } of STORES) {
  Deno.test({
    name:
      `Store.write() keeps every key of 20 concurrent read-modify-writes of one cluster × 3 rounds (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const cluster = await writes(store).createCluster({
        name: "env",
        mode: "ha_compact",
        release: "r",
        extensions: [],
        attributes: {},
      });
      for (let round = 0; round < 3; round++) {
        await Promise.all(Array.from({ length: 20 }, (_, i) =>
          store.write(async (tx) => {
            const current = await tx.getCluster(cluster.id);
            assert.ok(current);
            await tick(2); // the window in which a lost update happens
            await tx.updateCluster(cluster.id, {
              attributes: { ...current.attributes, [`k${round}_${i}`]: i },
            });
          })));
      }
      const keys = Object.keys((await store.getCluster(cluster.id))!.attributes);
      assert.equal(keys.length, 60, `kept ${keys.length} of 60 keys: ${keys.join(", ")}`);
    },
  });

  Deno.test({
    name: `Store.write() commits nothing of a callback that throws (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      await assert.rejects(
        () =>
          store.write(async (tx) => {
            await tx.createNode({ mac: "52:54:00:00:00:01" });
            await tx.createCluster({
              name: "half",
              mode: "ha_compact",
              release: "r",
              extensions: [],
              attributes: {},
            });
            throw new Error("changed my mind");
          }),
        /changed my mind/,
      );
      assert.deepEqual(await store.listNodes(), []);
      assert.deepEqual(await store.listClusters(), []);
    },
  });

  Deno.test({
    name:
      `Store.write() lets only one of six concurrent claims of the last free slot succeed (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const cluster = await writes(store).createCluster({
        name: "env",
        mode: "ha_compact",
        release: "r",
        extensions: [],
        attributes: { slots: 1 },
      });
      // A rule checked on what was read: a cluster takes at most `slots` nodes.
      const claim = (mac: string) =>
        store.write(async (tx) => {
          const current = await tx.getCluster(cluster.id);
          const members = await tx.listNodes({ cluster_id: cluster.id });
          await tick(10);
          if (members.length >= Number(current!.attributes.slots)) return false;
          await tx.createNode({ mac, cluster_id: cluster.id });
          return true;
        });
      // Six connections open first, so that the claims overlap (a first connection is slow).
      await Promise.all(Array.from({ length: 6 }, () => store.write(() => tick(20))));
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => claim(`52:54:00:00:00:0${i + 1}`)),
      );
      assert.equal(results.filter(Boolean).length, 1, `claims: ${results.join(", ")}`);
      assert.equal((await store.listNodes({ cluster_id: cluster.id })).length, 1);
    },
  });

  Deno.test({
    name:
      `Store.write() completes two writers that lock the same two nodes in opposite orders (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const a = await writes(store).createNode({ mac: "52:54:00:00:00:0a" });
      const b = await writes(store).createNode({ mac: "52:54:00:00:00:0b" });
      const swap = (first: number, second: number, name: string) =>
        store.write(async (tx) => {
          await tx.getNode(first);
          await tick(30); // both hold their first row now
          await tx.getNode(second);
          await tx.updateNode(first, { name });
          await tx.updateNode(second, { name });
        });
      await Promise.all([swap(a.id, b.id, "ab"), swap(b.id, a.id, "ba")]);
      const names = [(await store.getNode(a.id))!.name, (await store.getNode(b.id))!.name];
      assert.ok(
        names[0] === names[1] && ["ab", "ba"].includes(names[0]),
        `one writer's names, whole: ${names}`,
      );
    },
  });

  Deno.test({
    name:
      `Store.write() refuses a plain store call or a second write() from inside its callback, at once (${kind})`,
    ignore,
    async fn() {
      await using store = await open();
      const node = await writes(store).createNode({ mac: "52:54:00:00:00:01" });
      const outside =
        /Cannot use the store ".*" outside the transaction that is open here: inside store\.write\(\) use its tx/;
      await assert.rejects(() => store.write(() => store.getNode(node.id)), outside);
      await assert.rejects(
        () => store.write(() => store.write((tx) => tx.getNode(node.id))),
        outside,
      );
      await assert.rejects(
        () => store.database.transaction(() => store.database.query("SELECT 1")),
        outside,
      );
      // The store is free again afterwards.
      assert.deepEqual(await store.getNode(node.id), node);
    },
  });
}
