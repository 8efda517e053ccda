// Sandbox fixture: has a migration, which cannot cross the sandbox boundary.
export default {
  name: "migrating",
  version: "1.0.0",
  description: "Creates a table.",
  migrations: [{ name: "0001_create", up() {} }],
};
