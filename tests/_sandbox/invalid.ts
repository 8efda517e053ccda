// Sandbox fixture: not a valid extension (the version is not semantic).
export default { name: "invalid", version: "one", description: "Has a bad version." };
