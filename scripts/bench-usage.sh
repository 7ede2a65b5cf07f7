#!/usr/bin/env bash
# Real-Spin benchmark of the cost of usage counting and limits on `/verify`: the app as it
# was before them (BASE_REV, built from git into target/bench-base) and the app as it is,
# each on its own `spin up` (selective deployment: manage-keys, identity, which manage-keys
# chains to, and verify-key), measured in
# alternating rounds with Debian's wrk over 16 keep-alive connections on 127.0.0.1, so that
# every ratio compares figures of the same run and the same Spin:
#   before      the previous build's /verify for a valid key (one record read, and the
#               last-use bookkeeping);
#   counting    this build, a key without limits (usage counted in the instance's batch);
#   limited     this build, a key with a rate limit and a quota (two increments), limits
#               high enough that every answer is VALID;
#   allowlist   this build, a key with a 100-entry IP allowlist, the address matching last;
#   before-limited  when BASE_REV has limits: the previous build's /verify for the limited key.
# Budgets (issue "Usage"): counting ≥ 0.85 × before, limited ≥ 0.75 × before.
#
# With --redis both apps keep the key-value store in one redis-server (started here, stopped
# by its PID), reached through Spin's key-value API.
#
# Not part of scripts/test.sh or CI (a few minutes, plus the first build of BASE_REV; figures
# mean something only on an otherwise idle machine). Usage:
#   scripts/bench-usage.sh [--redis] [--rounds N] [--secs S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The last commit before rate limits, quotas, allowlists and usage counting.
BASE_REV=${BASE_REV:-fab3cf2}

rounds=5 secs=5 redis=0
while [ $# -gt 0 ]; do
    case "$1" in
        --redis) redis=1 ;;
        --rounds) rounds=$2; shift ;;
        --secs) secs=$2; shift ;;
        *) echo "usage: $0 [--redis] [--rounds N] [--secs S]" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v wrk >/dev/null 2>&1; then
    echo "==> installing wrk (apt-get)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
spin=$(scripts/ensure-spin.sh)
scripts/build-components.sh >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    git worktree remove --force "$work/base" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> building $BASE_REV (manage-keys, identity, verify-key) into target/bench-base"
git worktree add -q --detach "$work/base" "$BASE_REV"
(cd "$work/base" && CARGO_TARGET_DIR="$root/target/bench-base" \
    cargo build -q --locked --target wasm32-wasip2 --release -p manage-keys -p identity -p verify-key)
sed "s#^source = \"target/#source = \"$root/target/bench-base/#" "$work/base/spin.toml" > "$work/before.toml"
sed "s#^source = \"target/#source = \"$root/target/#" spin.toml > "$work/now.toml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

config_args=()
if [ "$redis" = 1 ]; then
    redis_server=$(scripts/ensure-redis.sh)
    redis_port=$(free_port)
    setsid "$redis_server" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        >"$work/redis.log" 2>&1 &
    pids+=($!)
    printf '[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n' "$redis_port" \
        > "$work/redis.toml"
    config_args=(--runtime-config-file "$work/redis.toml")
fi

secret=bench-identity-secret
token=$(cargo run -q --locked -p keys-domain --example mint_token -- "$secret" bench-admin "Bench" 600)

start_app() { # name manifest -> sets port_<name>
    local port proxy=()
    # Builds since the edge hang fix chain verify-key's increments to kv-proxy.
    if grep -q '^\[component.kv-proxy\]' "$2"; then proxy=(-c kv-proxy); fi
    port=$(free_port)
    mkdir -p "$work/$1-state"
    setsid "$spin" up --from "$2" --listen "127.0.0.1:$port" --state-dir "$work/$1-state" \
        -c manage-keys -c identity -c verify-key "${proxy[@]}" "${config_args[@]}" \
        --variable "identity_token_secret=$secret" >"$work/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 1200); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/.well-known/spin/health" && break
        sleep 0.1
    done
    eval "port_$1=$port"
}
start_app before "$work/before.toml"
start_app now "$work/now.toml"

create_key() { # port body -> the secret
    curl -sf -X POST "http://127.0.0.1:$1/api/v1/keys" -H "authorization: Bearer $token" \
        -H 'content-type: application/json' -d "$2" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}
plain='{"label":"Bench","methods":["employees.read"]}'
before_key=$(create_key "$port_before" "$plain")
counting_key=$(create_key "$port_now" "$plain")
limited_body='{"label":"Bench limited","methods":["employees.read"],"rate_limit":{"limit":1000000000,"window_seconds":86400},"quota":{"limit":1000000000,"period":"month"}}'
limited_key=$(create_key "$port_now" "$limited_body")
# A BASE_REV that has limits too gets the same limited key: the limited path before and now.
before_limited_key=$(create_key "$port_before" "$limited_body" 2>/dev/null || true)
allowlist=$(python3 -c 'import json; print(json.dumps([f"10.{i}.0.0/16" for i in range(99)] + ["203.0.113.7"]))')
allowlist_key=$(create_key "$port_now" "{\"label\":\"Bench allowlist\",\"methods\":[\"employees.read\"],\"ip_allowlist\":$allowlist}")

write_lua() { # name key [ip]
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.path = "/api/v1/verify"'
        if [ -n "${3:-}" ]; then
            echo "wrk.body = [[{\"key\":\"$2\",\"method\":\"employees.read\",\"ip\":\"$3\"}]]"
        else
            echo "wrk.body = [[{\"key\":\"$2\",\"method\":\"employees.read\"}]]"
        fi
        echo 'wrk.headers["content-type"] = "application/json"'
        cat <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %d %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
    + summary.errors.status))
end
LUA
    } > "$work/$1.lua"
}
write_lua before "$before_key"
write_lua counting "$counting_key"
write_lua limited "$limited_key"
if [ -n "$before_limited_key" ]; then write_lua before-limited "$before_limited_key"; fi
write_lua allowlist "$allowlist_key" 203.0.113.7

# One wrk run: "rps p50 p99 requests errors" (errors: socket errors and non-2xx answers).
run_wrk() { # scenario port
    wrk -t2 -c16 -d"${secs}s" -s "$work/$1.lua" "http://127.0.0.1:$2" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# Every scenario's request must be answered VALID, or the comparison is meaningless.
for s in counting limited allowlist; do
    body=$(sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$work/$s.lua")
    curl -sf -X POST "http://127.0.0.1:$port_now/api/v1/verify" -H 'content-type: application/json' \
        -d "$body" | grep -q '"code":"VALID"' || { echo "$s: the benchmark key does not verify" >&2; exit 1; }
done

ours=(counting limited allowlist)
theirs=()
if [ -n "$before_limited_key" ]; then theirs=(before-limited); fi
scenarios=(before "${theirs[@]}" "${ours[@]}")
port_of() { case "$1" in before*) echo "$port_before" ;; *) echo "$port_now" ;; esac; }
echo "==> machine: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $("$spin" --version)"
echo "==> store: $([ "$redis" = 1 ] && echo "Redis (Spin key-value API)" || echo "Spin's default SQLite key-value store"); $rounds rounds of ${secs}s; wrk -t2 -c16"
for s in "${scenarios[@]}"; do secs=1 run_wrk "$s" "$(port_of "$s")" >/dev/null; done
declare -A rps=() ratio=() p50=() p99=() errs=()
for r in $(seq 1 "$rounds"); do
    read -r b_rps b_p50 b_p99 _ b_err <<<"$(run_wrk before "$port_before")"
    rps[before]+="$b_rps "; p50[before]+="$b_p50 "; p99[before]+="$b_p99 "; errs[before]+="$b_err "
    for s in "${theirs[@]}" "${ours[@]}"; do
        read -r s_rps s_p50 s_p99 _ s_err <<<"$(run_wrk "$s" "$(port_of "$s")")"
        rps[$s]+="$s_rps "; p50[$s]+="$s_p50 "; p99[$s]+="$s_p99 "; errs[$s]+="$s_err "
        ratio[$s]+="$(awk -v a="$s_rps" -v b="$b_rps" 'BEGIN{printf "%.3f", a/b}') "
    done
done
m() { tr ' ' '\n' <<<"$1" | grep . | median; }
printf '%-14s %10s %12s %9s %9s %7s\n' scenario "req/s" "vs before" "p50" "p99" errors
for s in "${scenarios[@]}"; do
    printf '%-14s %10s %12s %9s %9s %7s\n' "$s" "$(m "${rps[$s]}")" "$( [ "$s" = before ] && echo 1 || m "${ratio[$s]}")" \
        "$(m "${p50[$s]}")us" "$(m "${p99[$s]}")us" "$(tr ' ' '\n' <<<"${errs[$s]}" | grep . | awk '{s+=$1} END {print s+0}')"
done
echo "(ratios: median over rounds of the scenario's req/s over 'before' of the same round)"
