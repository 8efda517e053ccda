/**
 * The version of this library, checked against an extension's `hostVersion`.
 *
 * @module
 */

/** Version of `@nailgun/extensions`; `deno.json` holds the same value. */
export const VERSION = "0.1.0";
