// In-process fixture: a provided call that answers after 200 ms.
export default {
  name: "slow",
  version: "1.0.0",
  description: "Answers slowly.",
  provides: ["slow"],
  async slow(): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return "slow answer";
  },
};
