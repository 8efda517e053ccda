// Sandbox fixture: provided calls, pipelines, a call to a provider in the
// host, settings and the logger, across the sandbox boundary.
import { BaseExtension, type Cluster, type ExtensionContext, type Node } from "../../mod.ts";

export default class Calculator extends BaseExtension {
  readonly name = "calculator";
  readonly version = "1.0.0";
  readonly description = "Doubles numbers and marks deployment data.";
  override readonly provides = ["double", "askHost", "factor"];
  override readonly pipelines = [{
    processDeploymentForCluster(cluster: Cluster, data: Record<string, unknown>): void {
      data.sandboxed = cluster.name; // changes the copy it was given and returns nothing
    },
    processDeploymentForNode(node: Node, data: Record<string, unknown>) {
      return { ...data, disk: node.id * 100 };
    },
  }];

  override setup(context: ExtensionContext): void {
    context.logger.info(`set up with factor ${context.settings.factor}`);
  }

  double(value: number): number {
    return value * 2;
  }

  factor(): unknown {
    return this.context.settings.factor;
  }

  askHost(who: string): Promise<unknown> {
    return this.context.call("greet", who);
  }
}
