// What the service is and runs: its version, the loaded extensions, the load report.
import { describeLoaded } from "../../loader.ts";
import { VERSION } from "../../version.ts";
import { json } from "../http.ts";
import type { CoreRoute } from "./_route.ts";

/** The Nailgun release the reference service answers as. */
export const NAILGUN_RELEASE = "9.0";

/** The service routes that describe it. */
export const INFO_ROUTES: readonly CoreRoute[] = [
  {
    method: "GET",
    path: "/version/",
    handle: () =>
      Promise.resolve(json({
        release: NAILGUN_RELEASE,
        api: "1",
        auth_required: false,
        feature_groups: [],
        openstack_version: `mitaka-${NAILGUN_RELEASE}`,
        extensions_version: VERSION,
      })),
  },
  {
    method: "GET",
    path: "/extensions/",
    handle: (call) =>
      Promise.resolve(json(
        call.state.manager.entries.map(({ extension, source }) =>
          describeLoaded(extension, source)
        ),
      )),
  },
  {
    method: "GET",
    path: "/extensions/status/",
    handle: (call) => {
      const { report, manager } = call.state;
      const loaded = report.loaded.map((entry) =>
        manager.has(entry.name) ? { ...entry, health: manager.health(entry.name) } : entry
      );
      return Promise.resolve(json({ loaded, failed: report.failed, skipped: report.skipped }));
    },
  },
];
