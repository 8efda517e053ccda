// Sandbox fixture: its setup spins forever.
export default {
  name: "spin_setup",
  version: "1.0.0",
  description: "Never finishes setting up.",
  setup(): void {
    while (true) {
      // never yields
    }
  },
};
