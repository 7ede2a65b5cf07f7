#!/usr/bin/env bash
# Real-Spin benchmark of the identity check on an admin route, all on 127.0.0.1: `GET
# /api/v1/keys` with one connection, in alternating rounds of one run, for an HS256 token
# (checked in manage-keys) and for RS256, ES256 and EdDSA tokens of a provider (checked by the
# `identity` component through service chaining, its JWKS fetched from a local server once
# and then read from the key-value store). Prints wrk's median and p99 per token kind.
# Starts its own Spin and JWKS server and stops them by the PIDs it started. Not part of
# scripts/test.sh or CI (figures mean something only on an idle machine). Usage:
#   scripts/bench-identity.sh [--rounds N] [--secs S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

rounds=3 secs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift ;;
        --secs) secs=$2; shift ;;
        *) echo "usage: $0 [--rounds N] [--secs S]" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v wrk >/dev/null 2>&1; then
    echo "==> installing wrk (apt-get)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
spin=$(scripts/ensure-spin.sh)
scripts/build-components.sh >/dev/null 2>&1

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 1200); do curl -sf -o /dev/null "$1" && return; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
mint() { cargo run -q --locked -p keys-domain --example mint_token -- "$@"; }

issuer=https://sso.bench.example audience=api-keys secret=bench-identity-secret
kinds=(HS256 RS256 ES256 EdDSA)
jwks='{"keys":['
for alg in RS256 ES256 EdDSA; do
    published=$(mint --new-key "$alg" "$work/$alg.json")
    jwks+="${published#'{"keys":['}"
    jwks=${jwks%']}'}
    jwks+=','
done
jwks="${jwks%,}]}"
mkdir -p "$work/provider"
printf '%s' "$jwks" >"$work/provider/certs"
provider_port=$(free_port)
(cd "$work/provider" && exec setsid python3 -m http.server "$provider_port" --bind 127.0.0.1) >"$work/provider.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$provider_port/"

port=$(free_port)
setsid "$spin" up --from spin.toml --listen "127.0.0.1:$port" --state-dir "$work/state" \
    --variable "identity_token_secret=$secret" \
    --variable "identity_jwks_url=http://127.0.0.1:$provider_port/certs" \
    --variable "identity_jwks_origin=http://127.0.0.1:$provider_port" \
    --variable "identity_token_issuer=$issuer" --variable "identity_token_audience=$audience" \
    >"$work/spin.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$port/.well-known/spin/health"

declare -A token
token[HS256]=$(mint "$secret" --iss "$issuer" --aud "$audience" bench-admin Bench 600)
for alg in RS256 ES256 EdDSA; do
    token[$alg]=$(mint --key "$work/$alg.json" --iss "$issuer" --aud "$audience" bench-admin Bench 600)
done
for kind in "${kinds[@]}"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/keys" -H "authorization: Bearer ${token[$kind]}")
    [ "$status" = 200 ] || { echo "$kind token: GET /keys answered $status" >&2; exit 1; }
done

# wrk's latency distribution lines: "50%  1.23ms" ... "99%  4.56ms".
to_ms() { awk '{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f", v}'; }
declare -A p50 p99 rps
for round in $(seq 1 "$rounds"); do
    for kind in "${kinds[@]}"; do
        out=$(wrk -t1 -c1 -d"${secs}s" --latency -H "authorization: Bearer ${token[$kind]}" \
            "http://127.0.0.1:$port/api/v1/keys")
        p50[$kind]+="$(grep -E '^ +50%' <<<"$out" | to_ms) "
        p99[$kind]+="$(grep -E '^ +99%' <<<"$out" | to_ms) "
        rps[$kind]+="$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out") "
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "GET /api/v1/keys, 1 connection, ${rounds} rounds of ${secs} s (median of rounds)"
printf '%-6s %10s %10s %10s\n' token p50_ms p99_ms req/s
for kind in "${kinds[@]}"; do
    printf '%-6s %10s %10s %10s\n' "$kind" "$(median <<<"${p50[$kind]}")" \
        "$(median <<<"${p99[$kind]}")" "$(median <<<"${rps[$kind]}")"
done
echo "JWKS fetches: $(grep -c 'GET /certs' "$work/provider.log")"
