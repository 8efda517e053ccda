import assert from "node:assert/strict";
import {
  formatPermissions,
  isEmptyPermissions,
  missingPermissions,
  toWorkerPermissions,
  widenGrant,
} from "./permissions.ts";

Deno.test("toWorkerPermissions() grants exactly the lists and denies everything else", () => {
  assert.deepEqual(toWorkerPermissions({}), {
    net: false,
    env: false,
    read: false,
    write: false,
    run: false,
    ffi: false,
    sys: false,
    import: false,
  });
  assert.deepEqual(
    toWorkerPermissions(
      { env: ["TOKEN"], read: ["./data", "/etc/hosts"], write: ["out"], net: [] },
      { baseDir: "/srv/app" },
    ),
    {
      net: false,
      env: ["TOKEN"],
      read: ["/srv/app/data", "/etc/hosts"],
      write: ["/srv/app/out"],
      run: false,
      ffi: false,
      sys: false,
      import: false,
    },
  );
});

Deno.test("missingPermissions() covers hosts, ports, variable prefixes and directories as Deno does", async (t) => {
  const cases: [
    string,
    Parameters<typeof missingPermissions>,
    ReturnType<typeof missingPermissions>,
  ][] = [
    ["nothing declared", [undefined, {}], {}],
    [
      "exact host and port",
      [{ net: ["api.example.com:443"] }, { net: ["api.example.com:443"] }],
      {},
    ],
    [
      "a host covers its ports",
      [{ net: ["api.example.com:443"] }, { net: ["API.example.com"] }],
      {},
    ],
    ["another port is missing", [{ net: ["db.local:5432"] }, { net: ["db.local:5433"] }], {
      net: ["db.local:5432"],
    }],
    ["a port does not cover the host", [{ net: ["db.local"] }, { net: ["db.local:5432"] }], {
      net: ["db.local"],
    }],
    ["IPv6 with a port", [{ net: ["[::1]:8080"] }, { net: ["[::1]"] }], {}],
    ["exact variable", [{ env: ["TOKEN"] }, { env: ["TOKEN"] }], {}],
    ["a prefix wildcard", [{ env: ["AWS_REGION"] }, { env: ["AWS_*"] }], {}],
    ["a variable not granted", [{ env: ["HOME", "TOKEN"] }, { env: ["TOKEN"] }], { env: ["HOME"] }],
    ["a directory covers what is below", [{ read: ["/etc/hostname"] }, { read: ["/etc"] }], {}],
    ["a sibling with a common prefix is not below", [{ read: ["/etcetera"] }, { read: ["/etc"] }], {
      read: ["/etcetera"],
    }],
    ["relative paths from the base directory", [{ write: ["./out/log"] }, { write: ["/srv/out"] }, {
      baseDir: "/srv",
    }], {}],
    ["write is not read", [{ write: ["/tmp/x"] }, { read: ["/tmp"] }], { write: ["/tmp/x"] }],
    ["duplicates are listed once", [{ env: ["A", "A"] }, {}], { env: ["A"] }],
  ];
  for (const [name, args, expected] of cases) {
    await t.step(name, () => assert.deepEqual(missingPermissions(...args), expected));
  }
});

Deno.test("widenGrant() appends what is missing in the order net, env, read, write", () => {
  assert.deepEqual(
    widenGrant({ read: ["/data"], env: ["TOKEN"] }, { net: ["api:443"], read: ["/etc/hosts"] }),
    { net: ["api:443"], env: ["TOKEN"], read: ["/data", "/etc/hosts"] },
  );
  assert.deepEqual(widenGrant({}, {}), {});
});

Deno.test("formatPermissions() renders each kind with its quoted entries", () => {
  assert.equal(
    formatPermissions({ env: ["A", "B"], net: ["h:1"] }),
    'net "h:1"; env "A", "B"',
  );
  assert.equal(formatPermissions({ read: [] }), "nothing");
  assert.equal(isEmptyPermissions({ read: [] }), true);
  assert.equal(isEmptyPermissions({ write: ["/x"] }), false);
});
