#!/usr/bin/env bash
# Prints the path of a Python with the Standard Webhooks reference library (PyPI
# `standardwebhooks`, pinned), installing it into target/webhook-verifier-venv when missing.
# The end-to-end tests check every webhook signature they receive with it
# (tests/host/tests/e2e/verify_webhooks.py).
#
# Usage: PYTHON=$(scripts/ensure-webhook-verifier.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
STANDARDWEBHOOKS_VERSION=1.3.0
venv="$root/target/webhook-verifier-venv"
python="$venv/bin/python"
# Tests run at once call this at once: one installs, the others wait for it and reuse it.
mkdir -p "$root/target"
exec 9>"$root/target/webhook-verifier.lock"
flock 9
if ! "$python" -c "import standardwebhooks" >/dev/null 2>&1; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" >/dev/null 2>&1; then
        echo "==> installing Debian's python3-venv" >&2
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
        $SUDO apt-get update -qq >&2
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    fi
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "standardwebhooks==$STANDARDWEBHOOKS_VERSION" >&2
fi
echo "$python"
