#!/usr/bin/env bash
# Prints the path of a Spin CLI 4.1 or newer, installing one when none is on PATH.
#
# Order: `$SPIN_BIN` if set; `spin` on PATH if it is 4.1+; else the prebuilt Spin from the
# tools directory beside the checkout (`$SPIN_TOOLS_DIR`, default `../shared/tools`, which
# holds `install-spin.sh`), installed into `.tools/bin` of this checkout. Without any of
# them it fails and says where to get Spin (https://spinframework.dev/install).
#
# Usage: SPIN=$(scripts/ensure-spin.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usable() {
    local version
    version=$("$1" --version 2>/dev/null | awk '{print $2}') || return 1
    local major=${version%%.*} rest=${version#*.}
    local minor=${rest%%.*}
    [ -n "$major" ] && { [ "$major" -gt 4 ] || { [ "$major" -eq 4 ] && [ "${minor:-0}" -ge 1 ]; }; }
}

if [ -n "${SPIN_BIN:-}" ]; then
    usable "$SPIN_BIN" || { echo "ensure-spin: SPIN_BIN=$SPIN_BIN is not Spin 4.1+" >&2; exit 1; }
    echo "$SPIN_BIN"; exit 0
fi
if command -v spin >/dev/null 2>&1 && usable "$(command -v spin)"; then
    command -v spin; exit 0
fi
local_spin="$root/.tools/bin/spin"
if [ -x "$local_spin" ] && usable "$local_spin"; then
    echo "$local_spin"; exit 0
fi
tools=${SPIN_TOOLS_DIR:-$root/../shared/tools}
if [ -x "$tools/install-spin.sh" ]; then
    echo "ensure-spin: installing Spin from $tools into $root/.tools/bin" >&2
    "$tools/install-spin.sh" "$root/.tools/bin" >&2
    usable "$local_spin" || { echo "ensure-spin: the installed Spin does not run" >&2; exit 1; }
    echo "$local_spin"; exit 0
fi
cat >&2 <<MSG
ensure-spin: no Spin CLI 4.1 or newer found.
  Install it from https://spinframework.dev/install (then make sure \`spin --version\` works),
  or point SPIN_BIN at a spin binary, or SPIN_TOOLS_DIR at a directory with install-spin.sh.
MSG
exit 1
