// Sandbox fixture: the veto, in a Worker.
import { vetoExtension } from "./_veto.ts";

export default vetoExtension("veto_box");
