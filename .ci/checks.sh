#!/usr/bin/env bash
# Every check of the project: the README's test command (`deno task test`).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "format";       deno fmt --check
step "lint";         deno lint
step "type check";   deno check mod.ts src/ tests/ examples/ benchmarks/
step "doc lint";     deno doc --lint mod.ts
step "tests";        deno test -A --unstable-worker-options --doc --parallel README.md mod.ts src/ tests/ examples/
step "publish dry run"; deno publish --dry-run --allow-dirty
