// Sandbox fixture: declares the permissions it needs.
export default {
  name: "declarer",
  version: "1.0.0",
  description: "Declares that it needs a host, a variable and a file.",
  permissions: {
    net: ["127.0.0.1:9"],
    env: ["NAILGUN_SANDBOX_TOKEN"],
    read: ["/etc/hostname"],
  },
  onNodeCreate(): void {},
};
