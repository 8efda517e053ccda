// In-process fixture: records every notification (read `recorder.received`).
import { recordingExtension } from "./_recording.ts";

export const recorder = recordingExtension("recorder");
export default recorder;
