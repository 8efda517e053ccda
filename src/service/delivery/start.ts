/**
 * Durable delivery for the reference service: the outbox of the store, its
 * tables, and the delivery loops of the loaded durable extensions.
 *
 * @module
 */
import {
  type ExtensionManager,
  type Logger,
  NOTIFICATION_HOOKS,
  type NotificationHook,
} from "@nailgun/extensions";
import type { Store } from "../store/store.ts";
import { DeliveryEngine, type DeliveryOptions } from "./delivery_loop.ts";
import { Outbox } from "./outbox.ts";

/** Options of {@linkcode startDelivery}. */
export interface StartDeliveryOptions
  extends Partial<Omit<DeliveryOptions, "outbox" | "manager" | "logger">> {
  /** The `delivery` section of `nailgun.extensions`. */
  readonly delivery: { maxAttempts: number; retryBaseMs: number; retryMaxMs: number };
  /** The service log. */
  readonly logger: Logger;
}

/**
 * Makes the outbox of `store` (its tables, when a durable extension is
 * loaded), hands it to `store.write()`, and starts one delivery loop per
 * durable extension.
 *
 * @param store The service's store, core schema migrated.
 * @param manager The loaded extensions.
 * @param options The retry options and the log.
 * @returns The running loops; `stop()` them before the store closes.
 */
export async function startDelivery(
  store: Store,
  manager: ExtensionManager,
  options: StartDeliveryOptions,
): Promise<DeliveryEngine> {
  const durable: Record<string, ReadonlySet<NotificationHook>> = {};
  for (const { extension } of manager.entries) {
    if (extension.delivery !== "durable") continue;
    const members = extension as unknown as Record<string, unknown>;
    durable[extension.name] = new Set(
      NOTIFICATION_HOOKS.filter((hook) => typeof members[hook] === "function"),
    );
  }
  const outbox = new Outbox(
    { dialect: store.dialect, transaction: (fn) => store.write(fn) },
    durable,
  );
  if (outbox.extensions.length > 0) {
    await outbox.migrate();
    store.useOutbox(outbox);
    for (const [name, count] of await outbox.leftovers()) {
      options.logger.warn(
        `the outbox keeps ${count} event(s) of extension "${name}", which is not loaded as durable: they are delivered once it is again`,
      );
    }
  }
  const { delivery, ...rest } = options;
  const engine = new DeliveryEngine({ ...rest, ...delivery, outbox, manager });
  engine.start();
  return engine;
}
