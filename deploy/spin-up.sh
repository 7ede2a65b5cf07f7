#!/usr/bin/env bash
# Runs one node of the selective deployment on plain Spin (docs/deployment.md). Also the
# entrypoint of the container image (Containerfile), whose argument is the role.
#
#   deploy/spin-up.sh admin   # manage-keys, manage-permissions, key-usage, rebuild-records, identity, secret-scanning, webhooks, admin-ui, kv-proxy (the public leak report's counters)
#   deploy/spin-up.sh edge    # verify-key, kv-proxy (its counter increments), ext-authz (Envoy gRPC)
#
# Environment:
#   SPIN_APP         the app: a registry reference (ghcr.io/ingeneo/api-keys:0.1.0) or a
#                    spin.toml; default: the spin.toml of this checkout (built components)
#   RUNTIME_CONFIG   default: deploy/runtime-config/redis.toml (edit its Redis URL)
#   LISTEN           default: 127.0.0.1:3000
#   STATE_DIR        default: Spin's (.spin/ beside a local spin.toml); on the admin node it
#                    holds the SQLite database unless the runtime config puts it elsewhere
#   SPIN_VARIABLE_IDENTITY_JWKS_URL (with _ISSUER, _AUDIENCE and _JWKS_ORIGIN) or
#   SPIN_VARIABLE_IDENTITY_TOKEN_SECRET   one of them on the admin node (README.md,
#                    "Identity"); the edge never checks identity tokens
#   SPIN_VARIABLE_KV_BACKEND=redis, SPIN_VARIABLE_REDIS_HOST=host:port,
#   SPIN_VARIABLE_REDIS_PASSWORD   recommended with Redis on every node: the components then
#                    reach Redis themselves and recover at once after an outage (the same
#                    server as the runtime config's URL; docs/deployment.md, "Store outages")
#   SPIN_VARIABLE_VERIFY_CACHE_MS   optional, the same on every node: 0 (default) or 1..5000,
#                    how long an edge may answer from a record it read (docs/consistency.md,
#                    "Bounded staleness"); above 0 the edge runs with long-lived instances
#                    (INSTANCE_REUSE, default 1000000 requests; IDLE_INSTANCE_TIMEOUT, default
#                    10s) so that they keep their caches
#   SPIN_VARIABLE_MAX_KEY_LIFETIME_DAYS   optional, on the admin node (and the same on edges,
#                    whose health route reports it): 0 (default, no limit) or 1..3650, the
#                    longest a key may live (docs/lifecycle.md, "Expiry policy")
#   SPIN_VARIABLE_IDENTITY_TOKEN_ISSUER, SPIN_VARIABLE_IDENTITY_TOKEN_AUDIENCE,
#   SPIN_VARIABLE_DEVELOPER_DOCS_URL, SPIN_VARIABLE_SSO_DOCS_URL   optional (README.md)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN_BIN:-spin}
APP=${SPIN_APP:-$HERE/../spin.toml}
RUNTIME_CONFIG=${RUNTIME_CONFIG:-$HERE/runtime-config/redis.toml}
LISTEN=${LISTEN:-127.0.0.1:3000}

CACHE_MS=${SPIN_VARIABLE_VERIFY_CACHE_MS:-0}
if ! [[ "$CACHE_MS" =~ ^[0-9]{1,9}$ ]] || (( 10#$CACHE_MS > 5000 )); then
    echo "spin-up: SPIN_VARIABLE_VERIFY_CACHE_MS must be a whole number of milliseconds from 0 to 5000, not '$CACHE_MS'" >&2
    exit 1
fi
EXTRA=()

case "${1:-}" in
    admin)
        COMPONENTS=(-c manage-keys -c manage-permissions -c key-usage -c rebuild-records -c identity -c secret-scanning -c webhooks -c admin-ui -c kv-proxy)
        if [[ -z "${SPIN_VARIABLE_IDENTITY_JWKS_URL:-}${SPIN_VARIABLE_IDENTITY_JWKS:-}${SPIN_VARIABLE_IDENTITY_TOKEN_SECRET:-}" ]]; then
            echo "spin-up: set SPIN_VARIABLE_IDENTITY_JWKS_URL (the identity provider's JWKS) or SPIN_VARIABLE_IDENTITY_TOKEN_SECRET (HS256)" >&2
            exit 1
        fi
        ;;
    edge)
        COMPONENTS=(-c verify-key -c kv-proxy -c ext-authz)
        if (( 10#$CACHE_MS > 0 )); then
            EXTRA=(--max-instance-reuse-count "${INSTANCE_REUSE:-1000000}"
                   --idle-instance-timeout "${IDLE_INSTANCE_TIMEOUT:-10s}")
        fi
        ;;
    *)
        echo "usage: $0 admin|edge" >&2
        exit 2
        ;;
esac

ARGS=(up -f "$APP" "${COMPONENTS[@]}" --listen "$LISTEN" --runtime-config-file "$RUNTIME_CONFIG" "${EXTRA[@]}")
if [[ -n "${STATE_DIR:-}" ]]; then
    ARGS+=(--state-dir "$STATE_DIR")
fi
exec "$SPIN" "${ARGS[@]}"
