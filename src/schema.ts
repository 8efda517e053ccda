/**
 * `Schema<T>`: what this library's exported schemas promise, a check of an
 * unknown value that answers it typed as `T`, or the issues found. The
 * schemas are zod schemas; this interface keeps zod's internal types out of
 * the public API.
 *
 * @module
 */

/** One thing wrong with a checked value. */
export interface SchemaIssue {
  /** Where in the value, e.g. `["roles", 0]`. */
  readonly path: readonly PropertyKey[];
  /** What is wrong. */
  readonly message: string;
}

/** The outcome of {@linkcode Schema.safeParse}. */
export type SchemaCheck<T> =
  | { readonly success: true; readonly data: T }
  | { readonly success: false; readonly error: { readonly issues: readonly SchemaIssue[] } };

/**
 * A runtime check of values of type `T`.
 *
 * @example Check a node
 * ```ts
 * import { NodeSchema } from "@nailgun/extensions";
 * import assert from "node:assert/strict";
 * const check = NodeSchema.safeParse({ id: "one" });
 * assert.equal(check.success, false);
 * ```
 */
export interface Schema<T> {
  /**
   * Checks a value.
   *
   * @param value Anything.
   * @returns The value typed as `T`, or the issues found.
   */
  safeParse(value: unknown): SchemaCheck<T>;
}

/**
 * `true` when `A` and `B` are assignable to each other: used at compile time
 * to prove that a documented interface is exactly what its schema checks.
 */
export type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
