#!/usr/bin/env bash
# Runs every test, doing its own setup: the real tools the tests talk to are built or installed first (cached
# outside the repository), then lint, type check and the whole vitest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
npx biome ci .
npx tsc --noEmit -p tsconfig.json
npx vitest run "$@"
