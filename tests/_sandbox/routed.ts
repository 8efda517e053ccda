// Sandbox fixture: has a route, which cannot cross the sandbox boundary.
export default {
  name: "routed",
  version: "1.0.0",
  description: "Serves a route.",
  routes: [{ method: "GET", path: "/routed/", handler: () => new Response("routed") }],
};
