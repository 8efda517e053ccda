import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { makeNode, until } from "../tests/_payloads.ts";
import type { Extension } from "./extension.ts";
import { ExtensionManager, type ManagerOptions } from "./manager.ts";

function ext(name: string, members: Record<string, unknown> = {}): Extension {
  return { name, version: "1.0.0", description: `The ${name} extension.`, ...members };
}

function recorded(lines: string[]) {
  const log = (line: string) => void lines.push(line);
  return { debug: log, info: log, warn: log, error: log };
}

/** A manager of `faulty` and a healthy neighbour, with the guard installed. */
function guarded(
  faulty: Record<string, unknown>,
  options: ManagerOptions = {},
  source = "./faulty.ts",
  healthyFirst = false,
) {
  const lines: string[] = [];
  const received: number[] = [];
  const entries = [
    { source, extension: ext("faulty", faulty) },
    {
      source: "./healthy.ts",
      extension: ext("healthy", { onNodeCreate: (n: { id: number }) => void received.push(n.id) }),
    },
  ];
  if (healthyFirst) entries.reverse();
  const manager = new ExtensionManager(entries, {
    handlerTimeoutMs: 1_000,
    logger: recorded(lines),
    ...options,
  });
  const guard = manager.guardFaults();
  return { manager, lines, received, guard };
}

Deno.test("ExtensionManager.guardFaults() blames a floating rejection on the extension that left it", async () => {
  const { manager, lines, received, guard } = guarded({
    onNodeCreate() {
      // A fetch to a closed loopback port, `.then()` without a catch.
      fetch("http://127.0.0.1:9/").then((response) => response.body?.cancel());
    },
  });
  try {
    await manager.notify("onNodeCreate", makeNode(1));
    await until(() => manager.health("faulty").unhandled === 1, "the rejection is counted");
    assert.equal(manager.health("healthy").unhandled, 0);
    assert.deepEqual(received, [1]);
    const faults = lines.filter((line) => line.includes("unhandled rejection"));
    assert.equal(faults.length, 1);
    assert.match(
      faults[0]!,
      /^extension "faulty" faulted with an unhandled rejection: TypeError: /,
    );
  } finally {
    guard[Symbol.dispose]();
  }
});

// Deno dispatches the `error` event of a timer's throw outside the timer's
// async context: that throw is blamed by the stack, whose top frame is the
// callback, in the extension's module (here this file).
Deno.test("ExtensionManager.guardFaults() blames a throw from a timer and from a microtask", async (t) => {
  for (
    const [label, schedule] of [
      ["setTimeout", (fn: () => void) => setTimeout(fn, 0)],
      ["queueMicrotask", (fn: () => void) => queueMicrotask(fn)],
    ] as const
  ) {
    await t.step(label, async () => {
      const { manager, lines, guard } = guarded(
        {
          onNodeCreate() {
            schedule(() => {
              throw new RangeError(`thrown from ${label}`);
            });
          },
        },
        {},
        fileURLToPath(import.meta.url),
      );
      try {
        await manager.notify("onNodeCreate", makeNode(1));
        await until(() => manager.health("faulty").unhandled === 1, "the error is counted");
        assert.equal(manager.health("healthy").unhandled, 0);
        assert.equal(manager.health("faulty").lastError, `RangeError: thrown from ${label}`);
        assert.ok(
          lines.includes(
            `extension "faulty" faulted with an uncaught error: RangeError: thrown from ${label}`,
          ),
          lines.join("\n"),
        );
      } finally {
        guard[Symbol.dispose]();
      }
    });
  }
});

Deno.test("ExtensionManager.guardFaults() with attribution off blames by the module URL in the stack", async () => {
  const lines: string[] = [];
  const manager = new ExtensionManager([
    { source: "./other.ts", extension: ext("other") },
    {
      // This test file is the extension's module: its frames are in the stack.
      source: fileURLToPath(import.meta.url),
      extension: ext("stacked", {
        onNodeCreate() {
          setTimeout(() => {
            throw new Error("from my own module");
          }, 0);
        },
      }),
    },
  ], { logger: recorded(lines), attribution: false });
  const guard = manager.guardFaults();
  try {
    await manager.notify("onNodeCreate", makeNode(1));
    await until(() => manager.health("stacked").unhandled === 1, "the error is blamed by stack");
    assert.equal(manager.health("other").unhandled, 0);
  } finally {
    guard[Symbol.dispose]();
  }
});

Deno.test("ExtensionManager.guardFaults() logs a fault nobody can be blamed for as the host's", async () => {
  const lines: string[] = [];
  const manager = new ExtensionManager(
    [{ source: "./elsewhere.ts", extension: ext("elsewhere") }],
    {
      logger: recorded(lines),
    },
  );
  const guard = manager.guardFaults();
  try {
    Promise.reject(new Error("host code forgot a catch"));
    await until(() => lines.length === 1, "the host's fault is logged");
    assert.equal(
      lines[0],
      "host faulted with an unhandled rejection (no extension to blame): host code forgot a catch",
    );
    assert.equal(manager.health("elsewhere").unhandled, 0);
  } finally {
    guard[Symbol.dispose]();
  }
});

Deno.test("ExtensionManager.guardFaults() detects a sync handler that blocks the loop past the limit, and blames it", async () => {
  const { manager, lines, received, guard } = guarded(
    {
      onNodeCreate() {
        const end = performance.now() + 400;
        while (performance.now() < end) {
          // blocks the event loop
        }
      },
    },
    { handlerTimeoutMs: 150 },
    "./faulty.ts",
    true,
  );
  try {
    // Let the clock's Worker start.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const result = manager.dispatch("onNodeCreate", makeNode(1));
    assert.ok(!(result instanceof Promise));
    assert.equal(result.handled, 2);
    assert.equal(manager.health("faulty").blocked, 1);
    assert.equal(manager.health("healthy").blocked, 0);
    assert.deepEqual(received, [1]);
    assert.match(
      lines.find((line) => line.includes("blocked"))!,
      /^extension "faulty" blocked the event loop for about \d+ ms in onNodeCreate \(the time limit is 150 ms\)/,
    );
  } finally {
    guard[Symbol.dispose]();
  }
});
