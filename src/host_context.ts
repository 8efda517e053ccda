/**
 * The context the host gives each extension: a logger prefixed with its name,
 * its settings, the database and calls to other extensions.
 *
 * @module
 */
import type { ExtensionContext, ExtensionDatabase, Logger } from "./extension.ts";
import { VERSION } from "./version.ts";

/** What the host shares with every extension. */
export interface HostServices {
  /** The host's log; each extension's lines are prefixed with its name. */
  logger?: Logger;
  /** The database the extensions' routes and migrations use. */
  database?: ExtensionDatabase;
  /** Settings of each extension, keyed by its name. */
  settings?: Record<string, Record<string, unknown>>;
  /** Calls a provided call; the loader binds it to the manager it builds. */
  call?: (name: string, ...args: unknown[]) => Promise<unknown>;
}

/**
 * A context whose name is learnt once the extension has been instantiated:
 * its logger prefix and settings follow the name.
 */
export class BoundContext implements ExtensionContext {
  #name: string | undefined;
  readonly #source: string;
  readonly #services: HostServices;
  readonly logger: Logger;

  /**
   * Makes the context of one extension.
   *
   * @param source Where the extension comes from, the log prefix until its name is known.
   * @param services What the host shares.
   */
  constructor(source: string, services: HostServices) {
    this.#source = source;
    this.#services = services;
    const base = services.logger ?? console;
    const prefix = () => `[${this.#name ?? this.#source}]`;
    this.logger = {
      debug: (message) => base.debug(`${prefix()} ${message}`),
      info: (message) => base.info(`${prefix()} ${message}`),
      warn: (message) => base.warn(`${prefix()} ${message}`),
      error: (message) => base.error(`${prefix()} ${message}`),
    };
  }

  /** Tells the context the name of its extension. */
  bind(name: string): void {
    this.#name = name;
  }

  /** The extension's settings from `extensions.json`. */
  get settings(): Readonly<Record<string, unknown>> {
    return Object.freeze({ ...(this.#name ? this.#services.settings?.[this.#name] : undefined) });
  }

  /** Version of `@nailgun/extensions` the host runs. */
  get hostVersion(): string {
    return VERSION;
  }

  /** The database, when the host has one. */
  get database(): ExtensionDatabase | undefined {
    return this.#services.database;
  }

  /** Calls a function another extension provides. */
  call(name: string, ...args: unknown[]): Promise<unknown> {
    const call = this.#services.call;
    if (!call) {
      return Promise.reject(
        new Error(
          `Cannot call "${name}": extensions are still loading; call it from setup() or later`,
        ),
      );
    }
    return call(name, ...args);
  }
}
