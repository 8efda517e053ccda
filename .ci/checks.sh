#!/usr/bin/env bash
# Every check of the project: the README's test command (`deno task test`).
# It brings up what the tests need (a loopback Verdaccio, the local PostgreSQL)
# and runs the REST suite on both stores.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "format";          deno fmt --check
step "lint";            deno lint
step "type check";      deno check mod.ts src/ tests/ examples/ benchmarks/
step "doc lint";        deno doc --lint mod.ts

step "test services"
bash tests/_registry/install_verdaccio.sh
if [ -z "${NAILGUN_TEST_POSTGRES_URL:-}" ]; then
  NAILGUN_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"
fi
export NAILGUN_TEST_POSTGRES_URL

step "tests (REST suite on SQLite)"
deno test -A --unstable-worker-options --doc --parallel README.md mod.ts src/ tests/ examples/
step "REST suite on PostgreSQL"
NAILGUN_TEST_STORE=postgres deno test -A --unstable-worker-options --parallel tests/service_*_test.ts tests/reliability_*_test.ts tests/store_reserved_names_test.ts
step "publish dry run"
# The library's package ships the library alone (the service is a workspace
# member with "publish": false) and the dry run prints no warning.
publish_log="$(NO_COLOR=1 deno publish --dry-run --allow-dirty 2>&1)" || {
  printf '%s\n' "$publish_log"
  exit 1
}
printf '%s\n' "$publish_log"
if grep -E "file://.*/(src/service/|extensions\.json )" <<<"$publish_log"; then
  echo "the package of @nailgun/extensions lists files of the service or of this clone" >&2
  exit 1
fi
warnings="$(grep -c '^warning\[' <<<"$publish_log" || true)"
if [ "$warnings" -gt 0 ]; then
  echo "deno publish --dry-run printed $warnings warnings: it must print none" >&2
  exit 1
fi
