// In-process fixture: provides a call that sandboxed extensions may make.
export default {
  name: "greeter",
  version: "1.0.0",
  description: "Greets.",
  provides: ["greet"],
  greet(who: string): string {
    return `hello ${who}`;
  },
};
