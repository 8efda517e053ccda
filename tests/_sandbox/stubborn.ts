// Sandbox fixture: its teardown never settles.
export default {
  name: "stubborn",
  version: "1.0.0",
  description: "Never finishes tearing down.",
  teardown(): Promise<void> {
    return new Promise(() => {});
  },
};
