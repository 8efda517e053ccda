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
    handle: async (call) => {
      const { loaded, failed, skipped } = call.state.report;
      const delivery = await call.state.delivery?.status();
      return json({
        loaded: delivery
          ? loaded.map((entry) => ({ ...entry, delivery: delivery.get(entry.name) }))
          : loaded,
        failed,
        skipped,
      });
    },
  },
];
