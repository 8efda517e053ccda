// What the service is and runs: its version, the loaded extensions, the load report.
import {
  describeLoaded,
  type ExtensionHealth,
  type ExtensionManager,
  type LoadReport,
  type LoadWarning,
  VERSION,
} from "@nailgun/extensions";
import { json } from "../http.ts";
import type { CoreRoute } from "./_route.ts";

/** The Nailgun release the reference service answers as. */
export const NAILGUN_RELEASE = "9.0";

/** The load report as `GET /api/v1/extensions/status/` answers it. */
export interface StatusReport {
  /** The loaded extensions, each with its `health` when the manager keeps one. */
  loaded: (LoadReport["loaded"][number] & { health?: ExtensionHealth })[];
  /** The sources that failed, with the phase. */
  failed: LoadReport["failed"];
  /** The sources passed over, with the reason. */
  skipped: LoadReport["skipped"];
  /** Hints about loadable but suspicious extensions. */
  warnings: LoadWarning[];
}

/**
 * The status of the extensions: the load report, with the health of each
 * loaded extension.
 *
 * @param report What loading did.
 * @param manager The loaded extensions.
 * @returns The report the status API answers and the CLI prints.
 */
export function statusReport(report: LoadReport, manager: ExtensionManager): StatusReport {
  const loaded = report.loaded.map((info) =>
    manager.has(info.name) ? { ...info, health: manager.health(info.name) } : { ...info }
  );
  return { loaded, failed: report.failed, skipped: report.skipped, warnings: report.warnings };
}

/** The service routes that describe it. */
export const INFO_ROUTES: readonly CoreRoute[] = [
  {
    method: "GET",
    path: "/",
    handle: () =>
      Promise.resolve(json({
        name: "Nailgun (reference service of @nailgun/extensions)",
        release: NAILGUN_RELEASE,
        api: "1",
        links: {
          version: "/api/v1/version/",
          extensions: "/api/v1/extensions/",
          status: "/api/v1/extensions/status/",
          clusters: "/api/v1/clusters/",
          nodes: "/api/v1/nodes/",
          nodegroups: "/api/v1/nodegroups/",
        },
      })),
  },
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
      const status = statusReport(call.state.report, call.state.manager);
      const delivery = await call.state.delivery?.status();
      if (delivery) {
        status.loaded = status.loaded.map((info) => ({
          ...info,
          delivery: delivery.get(info.name),
        }));
      }
      return json(status);
    },
  },
];
