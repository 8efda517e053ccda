#!/usr/bin/env bash
# Install the pinned Verdaccio used by tests/_registry/verdaccio.ts into
# .nailgun/tools/verdaccio (gitignored, outside the trees that deno fmt/lint scan).
# Idempotent: does nothing when the installed lockfile already matches.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src="$here/verdaccio"
dest="$root/.nailgun/tools/verdaccio"

if [[ -f "$dest/node_modules/verdaccio/bin/verdaccio" ]] &&
  cmp -s "$src/package-lock.json" "$dest/package-lock.json" &&
  cmp -s "$src/package.json" "$dest/package.json"; then
  echo "verdaccio: already installed in $dest"
  exit 0
fi

mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
cd "$dest"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
node node_modules/verdaccio/bin/verdaccio --version >/dev/null
echo "verdaccio: installed $(node node_modules/verdaccio/bin/verdaccio --version) in $dest"
