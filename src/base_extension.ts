/**
 * `BaseExtension`, the class Nailgun extensions extend.
 *
 * @module
 */
import type { Extension, ExtensionContext, ExtensionFeatures, Logger } from "./extension.ts";
import type { ExtensionHooks } from "./hooks.ts";
import { VERSION } from "./version.ts";

/**
 * The base class of Nailgun extensions. A subclass sets `name`, `version` and
 * `description`, and implements any of the hooks (`onNodeCreate`, …) and
 * features (`routes`, `migrations`, `pipelines`, `provides`, `setup`,
 * `teardown`, `delivery`) it needs. The loader creates one instance with the host
 * context; the instance reads it as `this.context`.
 *
 * Hooks and features are declared on this class, so a subclass marks them
 * `override` (Deno checks `noImplicitOverride`): a misspelt hook name is then
 * a type error rather than a handler that never runs.
 *
 * Extending this class is a convenience, not a requirement: the loader checks
 * the shape of what a module exports, never its class.
 *
 * @example The minimal extension
 * ```ts
 * import { BaseExtension, type Node } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 *
 * class Hello extends BaseExtension {
 *   readonly name = "hello";
 *   readonly version = "1.0.0";
 *   readonly description = "Greets every new node.";
 *   greeted: string[] = [];
 *   override onNodeCreate(node: Node): void {
 *     this.greeted.push(node.name);
 *   }
 * }
 *
 * const hello = new Hello();
 * assert.equal(hello.name, "hello");
 * ```
 */
export abstract class BaseExtension implements Extension {
  /** Matches `^[a-z][a-z0-9_]{0,63}$`; unique; the prefix of the extension's tables. */
  abstract readonly name: string;
  /** A semantic version, e.g. `1.2.0`. */
  abstract readonly version: string;
  /** A sentence that says what the extension does. */
  abstract readonly description: string;

  /** What the host gives the extension: logger, settings, database, calls. */
  readonly context: ExtensionContext;

  /**
   * Called by the loader with the host context. Tests may construct an
   * extension without one; it then logs to the console and has no database.
   *
   * @param context What the host gives the extension.
   */
  constructor(context?: ExtensionContext) {
    this.context = context ?? standaloneContext();
  }
}

// Optional members are declared on the merged interface, not as class fields:
// a field would shadow the methods a subclass defines on its prototype.
/** The hooks and features a `BaseExtension` subclass may override. */
export interface BaseExtension extends ExtensionFeatures, ExtensionHooks {}

function standaloneContext(): ExtensionContext {
  const logger: Logger = console;
  return {
    logger,
    settings: {},
    hostVersion: VERSION,
    database: undefined,
    call(name: string): Promise<unknown> {
      return Promise.reject(
        new Error(`Cannot call "${name}": this extension was not loaded by a host`),
      );
    },
  };
}
