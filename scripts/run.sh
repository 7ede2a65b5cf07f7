#!/usr/bin/env bash
# Runs the app on http://127.0.0.1:3000 with the Spin CLI: installs the wasm32-wasip2 target
# and Spin when missing (scripts/ensure-spin.sh), then `spin up --build` (which builds every
# component first). The identity-token secret comes from SPIN_VARIABLE_IDENTITY_TOKEN_SECRET,
# `dev-secret` when unset (local use only: mint tokens with it, see the README). Extra
# arguments go to `spin up` (e.g. `--listen 127.0.0.1:8080`).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-wasip2 >/dev/null
fi
spin=$(scripts/ensure-spin.sh)
if [ -z "${SPIN_VARIABLE_IDENTITY_TOKEN_SECRET:-}" ]; then
    echo "run: identity_token_secret is 'dev-secret' (set SPIN_VARIABLE_IDENTITY_TOKEN_SECRET to change it)" >&2
    export SPIN_VARIABLE_IDENTITY_TOKEN_SECRET=dev-secret
fi
exec "$spin" up --build "$@"
