#!/usr/bin/env bash
# Browser tests of the admin UI: headless Debian Chromium driven by playwright-core against
# the app served by `spin up` (which the tests start and stop themselves). Installs Chromium
# (apt), Spin (scripts/ensure-spin.sh) and the npm packages when missing. Needs the
# components built (scripts/build-components.sh or `spin build`).
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ]; then
    echo "==> installing Debian's chromium"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM_PATH

SPIN_BIN=$(scripts/ensure-spin.sh)
export SPIN_BIN
cd tests/ui
npm ci --no-audit --no-fund --silent
npm test
