// Semantic versions and ranges, as npm reads them (the rules JSR and npm users know).
// @ts-types="npm:@types/semver@^7.7.0"
import semver from "semver";

/** Whether `value` is a semantic version such as `1.2.3` or `1.0.0-rc.1`. */
export function isSemver(value: string): boolean {
  return semver.valid(value) !== null && !value.startsWith("v") && !value.startsWith("=");
}

/** Whether `value` is a semver range such as `^1.2`, `>=1 <3` or `1.x`. */
export function isSemverRange(value: string): boolean {
  return value.trim() !== "" && semver.validRange(value) !== null;
}

/** Whether `version` is in `range` (prereleases count when the range names one). */
export function satisfiesRange(version: string, range: string): boolean {
  return semver.satisfies(version, range, { includePrerelease: true });
}
