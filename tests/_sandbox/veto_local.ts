// In-process fixture: the same veto, in process.
import { vetoExtension } from "./_veto.ts";

export default vetoExtension("veto_local");
