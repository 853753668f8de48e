#!/usr/bin/env bash
# Runs every test, doing its own setup: the real tools the tests talk to are built or installed first (cached
# outside the repository), then lint, type check and the whole vitest suite (unit, and e2e against a local
# kube-apiserver + etcd that the e2e project starts and stops itself).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
npx biome ci .
npx tsc --noEmit -p tsconfig.json
mkdir -p .kustodian
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.kustodian/vitest-report.json "$@" || status=$?
# One plain closing line, whatever the reporter printed above it.
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(".kustodian/vitest-report.json", "utf8"))
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)
' || true
exit "$status"
