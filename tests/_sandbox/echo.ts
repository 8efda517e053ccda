// Sandbox fixture: records every notification; `echoReceived()` answers them.
import { recordingExtension } from "./_recording.ts";

export default recordingExtension("echo");
