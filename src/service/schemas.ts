/**
 * zod schemas of the request bodies and queries of the reference Nailgun.
 * Each rule carries the reason a 400 answer gives. Bodies of `POST` ignore
 * members they do not know (as Nailgun does, so that its clients work
 * unchanged); bodies of `PUT` refuse them, naming the member.
 *
 * @module
 */
import { z } from "zod";
import { EXTENSION_NAME_PATTERN, NODE_STATUSES } from "@nailgun/extensions";

const text = (rule: string) => z.string({ error: rule });

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A string stored in a text column: no control characters (SQLite cuts text at U+0000). */
const plain = (schema: z.ZodString) =>
  schema.refine((value) => !CONTROL.test(value), {
    error: "must not hold control characters such as U+0000 or a line break",
  });

const id = z.number({ error: "must be a positive whole number" })
  .int({ error: "must be a positive whole number" })
  .positive({ error: "must be a positive whole number" });

const title = plain(
  text("must be a string").trim()
    .min(1, { error: "must not be empty" })
    .max(100, { error: "must be 100 characters at most" }),
);

const label = plain(text("must be a string").min(1, { error: "must not be empty" }));

const hostname = text("must be a string").regex(
  /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/,
  { error: "must be a host name of letters, digits and '-' (63 at most)" },
);

const roles = z.array(
  text("must be a string").min(1, { error: "must not be empty" }),
  { error: "must be a list of role names" },
);

const jsonObject = z.record(z.string(), z.unknown(), { error: "must be a JSON object" });

const status = z.enum(NODE_STATUSES, {
  error: `must be one of ${NODE_STATUSES.join(", ")}`,
});

/** A MAC address, normalized to lowercase with `:`. */
export const MacSchema: z.ZodType<string, unknown> = text(
  'must be a MAC address such as "52:54:00:12:34:56"',
).regex(/^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$/, {
  error: 'must be a MAC address such as "52:54:00:12:34:56"',
}).transform((mac) => mac.toLowerCase().replaceAll("-", ":"));

/** An extension name as the contract defines it. */
export const ExtensionNameSchema: z.ZodString = text("must be an extension name").regex(
  EXTENSION_NAME_PATTERN,
  { error: `must be an extension name matching ${EXTENSION_NAME_PATTERN.source}` },
);

const extensionNames = z.array(ExtensionNameSchema, {
  error: "must be a JSON list of extension names",
});

/** `POST /clusters/`. */
export const ClusterCreateBody = z.object({
  name: title,
  mode: label.optional(),
  release: label.optional(),
  extensions: extensionNames.optional(),
  attributes: jsonObject.optional(),
}, { error: "must be a JSON object" });

/** `PUT /clusters/{id}/`. */
export const ClusterUpdateBody = z.strictObject({
  id: id.optional(),
  name: title.optional(),
  mode: label.optional(),
  release: label.optional(),
}, { error: "must be a JSON object" });

/** `PUT /clusters/{id}/extensions/`: a list of names to enable. */
export const ClusterExtensionsBody = extensionNames;

/** `PUT /clusters/{id}/attributes/`: `{"editable": {...}}` (Nailgun's form) or the attributes. */
export const ClusterAttributesBody = jsonObject;

/** `POST /nodes/`. */
export const NodeCreateBody = z.object({
  mac: MacSchema,
  name: title.optional(),
  hostname: hostname.optional(),
  cluster_id: id.nullable().optional(),
  group_id: id.nullable().optional(),
  roles: roles.optional(),
  pending_roles: roles.optional(),
  online: z.boolean({ error: "must be true or false" }).optional(),
  meta: jsonObject.optional(),
}, { error: "must be a JSON object" });

/** `PUT /nodes/{id}/`. */
export const NodeUpdateBody = z.strictObject({
  id: id.optional(),
  name: title.optional(),
  hostname: hostname.optional(),
  status: status.optional(),
  cluster_id: id.nullable().optional(),
  group_id: id.nullable().optional(),
  roles: roles.optional(),
  pending_roles: roles.optional(),
  pending_addition: z.boolean({ error: "must be true or false" }).optional(),
  pending_deletion: z.boolean({ error: "must be true or false" }).optional(),
  online: z.boolean({ error: "must be true or false" }).optional(),
  meta: jsonObject.optional(),
}, { error: "must be a JSON object" });

/** `POST /nodegroups/`. */
export const NodeGroupCreateBody = z.object({
  name: title,
  cluster_id: id,
}, { error: "must be a JSON object" });

const idText = text("must be a positive whole number")
  .regex(/^[1-9][0-9]{0,14}$/, { error: "must be a positive whole number" })
  .transform(Number);

const commaList = (rule: string) =>
  text(rule).transform((value) => value.split(",").map((part) => part.trim()));

/** `?cluster_id=` of the lists of nodes and node groups. */
export const ClusterFilterQuery = z.object({ cluster_id: idText.optional() });

/** `DELETE /nodes/?ids=1,2`. */
export const NodeIdsQuery = z.object({
  ids: commaList("must list node ids, e.g. ?ids=1,2").pipe(
    z.array(
      text("must be a node id").regex(/^[1-9][0-9]{0,14}$/, {
        error: "must list node ids separated by commas, e.g. ?ids=1,2",
      }).transform(Number),
    ),
  ),
});

/** `DELETE /clusters/{id}/extensions/?extension_names=a,b`. */
export const ExtensionNamesQuery = z.object({
  extension_names: commaList("must list extension names, e.g. ?extension_names=a,b").pipe(
    z.array(ExtensionNameSchema),
  ),
});
