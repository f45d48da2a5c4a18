#!/usr/bin/env bash
# Runs every browser test (tests/browser/*.test.mjs) in real headless Chromium with a fake camera
# and microphone against the real konsult binary. Installs Debian's chromium when it is missing.
# Screenshots and logs go to target/browser-artifacts/. cluster.test.mjs needs PostgreSQL and
# Redis (KONSULT_TEST_POSTGRES, KONSULT_TEST_REDIS; scripts/services starts them).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"

if [ -z "${CHROMIUM:-}" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests" >&2
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
  fi
  export CHROMIUM="$(command -v chromium)"
fi
{ [ -d node_modules/playwright-core ] && [ -d node_modules/ical.js ]; } || npm ci --no-audit --no-fund --silent

export KONSULT_BIN="${KONSULT_BIN:-$root/target/debug/konsult}"
[ -x "$KONSULT_BIN" ] || (cd "$root" && cargo build --locked --workspace --all-targets)
export ARTIFACTS="${ARTIFACTS:-$root/target/browser-artifacts}"
mkdir -p "$ARTIFACTS"

failed=0
for test in ${1:-*.test.mjs}; do
  echo "browser: $test"
  if ! timeout 300 node "$test"; then
    echo "browser: $test FAILED" >&2
    failed=1
  fi
done
exit "$failed"
