#!/usr/bin/env bash
# Runs the app on http://127.0.0.1:3000 with the Spin CLI: installs the wasm32-wasip2 target
# and Spin when missing (scripts/ensure-spin.sh), then `spin up --build` (which builds every
# component first). The identity-token secret comes from SPIN_VARIABLE_IDENTITY_TOKEN_SECRET,
# `dev-secret` when unset (local use only: mint tokens with it, see the README). Webhooks
# work locally: their sealing key is kept in .spin/webhook-dev-key (made on first run) unless
# SPIN_VARIABLE_WEBHOOK_ENCRYPTION_KEY is set, and while the app runs this script calls the
# dispatcher once a minute, as deploy/'s CronJob or systemd timer does in production. Extra
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
if [ -z "${SPIN_VARIABLE_WEBHOOK_ENCRYPTION_KEY:-}" ]; then
    mkdir -p .spin
    if [ ! -s .spin/webhook-dev-key ]; then
        (umask 077 && head -c 32 /dev/urandom | base64 > .spin/webhook-dev-key)
    fi
    SPIN_VARIABLE_WEBHOOK_ENCRYPTION_KEY=$(cat .spin/webhook-dev-key)
    export SPIN_VARIABLE_WEBHOOK_ENCRYPTION_KEY
fi
if [ -z "${SPIN_VARIABLE_WEBHOOK_DISPATCH_TOKEN:-}" ]; then
    SPIN_VARIABLE_WEBHOOK_DISPATCH_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    export SPIN_VARIABLE_WEBHOOK_DISPATCH_TOKEN
fi

# Where spin up listens: its --listen argument, if given.
listen=127.0.0.1:3000
previous=""
for arg in "$@"; do
    if [ "$previous" = "--listen" ]; then listen=$arg; fi
    case "$arg" in --listen=*) listen=${arg#--listen=} ;; esac
    previous=$arg
done

"$spin" up --build "$@" &
spin_pid=$!
(
    while kill -0 "$spin_pid" 2>/dev/null; do
        sleep 60
        curl --silent --output /dev/null --max-time 55 --request POST \
            --header "Authorization: Bearer $SPIN_VARIABLE_WEBHOOK_DISPATCH_TOKEN" \
            "http://$listen/api/v1/webhooks/dispatch" || true
    done
) &
dispatcher_pid=$!
trap 'kill "$spin_pid" "$dispatcher_pid" 2>/dev/null; wait "$spin_pid" 2>/dev/null' EXIT INT TERM
wait "$spin_pid"
